import type { StackPorts, StackSettings } from './settings.js';

export type ComponentName =
  | 'postgres'
  | 'redis'
  | 'kafka'
  | 'connect'
  | 'minio'
  | 'mosquitto'
  | 'duckdb'
  | 'great-expectations';

export interface Health {
  healthy: boolean;
  /** What the round trip returned, e.g. the server's version string or the plugin found. */
  detail: string;
  latencyMs: number;
}

/**
 * One part of the local stack. Servers are installed, started, health-checked by a real round trip and stopped;
 * toolchains (DuckDB extensions, the GX venv) are only installed and checked.
 */
export interface Component {
  readonly name: ComponentName;
  readonly kind: 'server' | 'toolchain';
  readonly version: string;
  /** Components that must be healthy before this one starts. */
  readonly dependsOn: readonly ComponentName[];
  /** The port a server listens on, checked free before it starts. */
  readonly portKey?: keyof StackPorts;
  address(settings: StackSettings): string | null;
  logFile(settings: StackSettings): string;
  isInstalled(settings: StackSettings): boolean;
  /** Idempotent; downloads go to BV_HOME's caches so a second install is fast. */
  install(settings: StackSettings): Promise<void>;
  /** The pid of the running server this stack started, if any. */
  runningPid(settings: StackSettings): number | undefined;
  start(settings: StackSettings): Promise<void>;
  stop(settings: StackSettings): Promise<boolean>;
  health(settings: StackSettings): Promise<Health>;
}

/** Times a probe and turns a thrown error into an unhealthy result with its message. */
export async function probe(check: () => Promise<string>): Promise<Health> {
  const started = performance.now();
  try {
    const detail = await check();
    return { healthy: true, detail, latencyMs: Math.round(performance.now() - started) };
  } catch (error) {
    const detail = error instanceof Error ? error.message : String(error);
    return { healthy: false, detail, latencyMs: Math.round(performance.now() - started) };
  }
}
