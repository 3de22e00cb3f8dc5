import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Env, loadPlatformConfig, type PlatformConfig } from '@bitvelocity/core';
import type { ComponentName } from './local/component.js';
import { stackPaths } from './local/paths.js';
import { PORT_VARIABLES, type StackPorts } from './local/settings.js';
import { componentByName, settingsFor, stackDown, stackKill, stackUp } from './local/stack.js';

/** A throwaway stack for tests that kill or restart servers: its own home and ports, the shared download cache. */
export interface IsolatedStack {
  env: Env;
  config: PlatformConfig;
  home: string;
  /** The pid of a running component of this stack. */
  pidOf(component: ComponentName): number | undefined;
  /** Starts components again (after a kill), waiting until healthy. */
  start(components: ComponentName[]): Promise<void>;
  stop(component: ComponentName): Promise<void>;
  /** kill -9 of a server of this stack (no shutdown hook runs); resolves once it is gone. */
  kill(component: ComponentName): Promise<number>;
  destroy(): Promise<void>;
}

const BASE_PORTS: StackPorts = {
  postgres: 0,
  kafka: 1,
  kafkaController: 2,
  connect: 3,
  minio: 4,
  minioConsole: 5,
  redis: 6,
  mosquitto: 7,
};

/** `portBase` must leave 10 free ports: each test file that isolates a stack picks its own range. */
export async function startIsolatedStack(components: ComponentName[], portBase: number): Promise<IsolatedStack> {
  const home = mkdtempSync(join(tmpdir(), 'bv-isolated-'));
  chmodSync(home, 0o755); // PostgreSQL runs as its own OS user and must reach its data dir
  const env: Env = { ...process.env, BV_HOME: home, BV_CACHE_DIR: stackPaths().cache };
  for (const [key, offset] of Object.entries(BASE_PORTS))
    env[PORT_VARIABLES[key as keyof StackPorts]] = String(portBase + offset);
  for (const variable of Object.keys(env).filter((k) =>
    /^BV_(PG|KAFKA|CONNECT|S3|REDIS|MQTT|LAKE|DUCKDB|GX)_/.test(k),
  )) {
    if (!Object.values(PORT_VARIABLES).includes(variable)) delete env[variable];
  }
  await stackUp({ env, components });
  return {
    env,
    home,
    config: loadPlatformConfig(env),
    pidOf: (name) => componentByName(name).runningPid(settingsFor(env)),
    start: async (names) => {
      await stackUp({ env, components: names });
    },
    stop: async (name) => {
      await componentByName(name).stop(settingsFor(env));
    },
    kill: (name) => stackKill(name, { env }),
    destroy: async () => {
      await stackDown({ env });
      rmSync(home, { recursive: true, force: true });
    },
  };
}
export * from './test-kit.js';
