import { defineConfig } from 'vitest/config';

// The platform targets Node 20; the AWS SDK's notice about its 2027 releases is tracked in docs, not printed per run.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
// The processes specs start (services, deployed workers) export no spans into the shared BV_HOME; the tracing specs
// give their tracer an exporter of their own.
process.env.BV_TRACING ??= 'off';

/**
 * The specs that kill processes (workers, brokers, Connect, the bridge) or run the whole platform: each is CPU-bound
 * for minutes and times its recovery, so they run one at a time (the `serial` project) beside the rest, which run
 * two at a time (`parallel`). scripts/test.sh starts both projects at once.
 */
export const SERIAL_SPECS = [
  '*/test/*crash*.test.ts',
  '*/test/*exactly-once*.test.ts',
  'streams/test/scale-out.test.ts',
  'streams/test/reset.test.ts',
  'cli/test/platform.test.ts',
  'cli/test/demo.test.ts',
];

const shared = {
  // Every integration test runs against the real local stack; the global setup brings it up (idempotent).
  globalSetup: ['./scripts/vitest-global-setup.ts'],
  testTimeout: 120_000,
  hookTimeout: 300_000,
  pool: 'forks' as const,
};

export default defineConfig({
  test: {
    reporters: ['default'],
    projects: [
      { test: { ...shared, name: 'parallel', include: ['*/test/**/*.test.ts'], exclude: SERIAL_SPECS } },
      { test: { ...shared, name: 'serial', include: SERIAL_SPECS } },
    ],
  },
});
