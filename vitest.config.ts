import { defineConfig } from 'vitest/config';

// The platform targets Node 20; the AWS SDK's notice about its 2027 releases is tracked in docs, not printed per run.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

export default defineConfig({
  test: {
    include: ['*/test/**/*.test.ts'],
    // Every integration test runs against the real local stack; the global setup brings it up (idempotent).
    globalSetup: ['./scripts/vitest-global-setup.ts'],
    testTimeout: 120_000,
    hookTimeout: 300_000,
    pool: 'forks',
    reporters: ['default'],
  },
});
