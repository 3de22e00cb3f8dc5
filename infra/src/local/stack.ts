import { createConnection } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { type Env, errorMessage, isAlive, StackError } from '@bitvelocity/core';
import type { Component, ComponentName, Health } from './component.js';
import { connect } from './components/connect.js';
import { duckdb } from './components/duckdb.js';
import { greatExpectations } from './components/great-expectations.js';
import { kafka } from './components/kafka.js';
import { minio } from './components/minio.js';
import { mosquitto } from './components/mosquitto.js';
import { postgres } from './components/postgres.js';
import { redis } from './components/redis.js';
import { withStackLock } from './lock.js';
import { stackPaths } from './paths.js';
import { tailFile } from './process.js';
import {
  loadStackSettings,
  PORT_VARIABLES,
  platformConfigOf,
  type StackSettings,
  writePrivateJson,
} from './settings.js';

/** Start order: a component comes after everything in its dependsOn. */
export const COMPONENTS: readonly Component[] = [
  postgres,
  redis,
  kafka,
  minio,
  connect,
  mosquitto,
  duckdb,
  greatExpectations,
];

/** What `up`/`down` report as they go: about one component, or about the stack as a whole (`stack`). */
export type StackEvent = { component: ComponentName | 'stack'; message: string };
export type StackListener = (event: StackEvent) => void;

export interface ComponentStatus {
  name: ComponentName;
  kind: Component['kind'];
  version: string;
  address: string | null;
  installed: boolean;
  running: boolean;
  pid: number | null;
  healthy: boolean;
  detail: string;
  latencyMs: number | null;
  logFile: string;
}

export interface UpResult {
  started: ComponentName[];
  alreadyRunning: ComponentName[];
  installSeconds: number;
  startSeconds: number;
}

export function componentByName(name: string): Component {
  const component = COMPONENTS.find((c) => c.name === name);
  if (!component) {
    throw new StackError(
      'STACK_COMPONENT_UNKNOWN',
      name,
      `unknown component; one of ${COMPONENTS.map((c) => c.name).join(', ')}`,
    );
  }
  return component;
}

/** The named components and everything they depend on, in start order. */
function withDependencies(names: string[]): Component[] {
  const wanted = new Set<ComponentName>();
  const add = (component: Component) => {
    if (wanted.has(component.name)) return;
    wanted.add(component.name);
    for (const dependency of component.dependsOn) add(componentByName(dependency));
  };
  for (const name of names) add(componentByName(name));
  return COMPONENTS.filter((c) => wanted.has(c.name));
}

export function settingsFor(env: Env = process.env): StackSettings {
  return loadStackSettings(stackPaths(env), env);
}

/** Whether something accepts TCP connections on the port (before we start a server there). */
function portAnswers(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host, port });
    const answer = (answered: boolean) => {
      socket.destroy();
      resolve(answered);
    };
    socket.setTimeout(1000);
    socket.once('connect', () => answer(true));
    socket.once('error', () => answer(false));
    socket.once('timeout', () => answer(false));
  });
}

/**
 * Installs (first time) and starts the whole local stack; idempotent. When any component fails, what this call
 * started is stopped again and a StackError names the component, the cause and its log file.
 */
export async function stackUp(
  options: { env?: Env; onEvent?: StackListener; components?: string[] } = {},
): Promise<UpResult> {
  const settings = settingsFor(options.env);
  return withStackLock(settings.paths, waitingFor(options.onEvent), () => up(settings, options));
}

/** Tells the caller that another process is bringing the stack up or down and this one waits for it. */
function waitingFor(onEvent: StackListener | undefined) {
  return (pid: number) =>
    onEvent?.({ component: 'stack', message: `waiting for pid ${pid}, which holds the stack lock` });
}

async function up(
  settings: StackSettings,
  options: { onEvent?: StackListener; components?: string[] },
): Promise<UpResult> {
  const selected = withDependencies(options.components ?? COMPONENTS.map((c) => c.name));
  const emit = options.onEvent ?? (() => {});
  writePrivateJson(join(settings.paths.config, 'platform.json'), platformConfigOf(settings));

  const installStarted = performance.now();
  const toInstall = selected.filter((c) => !c.isInstalled(settings));
  const installs = await Promise.allSettled(
    toInstall.map(async (component) => {
      emit({ component: component.name, message: `installing ${component.version}` });
      const started = performance.now();
      try {
        await component.install(settings);
      } catch (cause) {
        throw new StackError('STACK_INSTALL_FAILED', component.name, `could not be installed: ${errorMessage(cause)}`, {
          cause,
          logFile: component.logFile(settings),
        });
      }
      emit({ component: component.name, message: `installed in ${seconds(started)}s` });
    }),
  );
  const failedInstall = installs.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failedInstall) throw failedInstall.reason;
  const installSeconds = seconds(installStarted);

  const startStarted = performance.now();
  const started: Component[] = [];
  const alreadyRunning: ComponentName[] = [];
  try {
    for (const component of selected.filter((c) => c.kind === 'server')) {
      if (component.runningPid(settings) !== undefined) {
        const health = await component.health(settings);
        if (health.healthy) {
          alreadyRunning.push(component.name);
          emit({ component: component.name, message: `already running: ${health.detail}` });
          continue;
        }
        throw new StackError(
          'STACK_UNHEALTHY',
          component.name,
          `is running but unhealthy: ${health.detail}; try \`bv stack down\``,
          {
            logFile: component.logFile(settings),
          },
        );
      }
      const port = component.portKey && settings.ports[component.portKey];
      if (component.portKey && port && (await portAnswers(settings.host, port))) {
        const variable = PORT_VARIABLES[component.portKey];
        throw new StackError(
          'STACK_PORT_IN_USE',
          component.name,
          `port ${port} is already in use by another process; set ${variable} to a free port`,
          {
            logFile: component.logFile(settings),
          },
        );
      }
      emit({ component: component.name, message: `starting on ${component.address(settings)}` });
      const componentStarted = performance.now();
      try {
        started.push(component);
        await component.start(settings);
      } catch (cause) {
        const tail = tailFile(component.logFile(settings), 15);
        throw new StackError(
          'STACK_START_FAILED',
          component.name,
          `did not start: ${errorMessage(cause)}${tail ? `\n--- last lines of the log ---\n${tail}` : ''}`,
          {
            cause,
            logFile: component.logFile(settings),
          },
        );
      }
      emit({ component: component.name, message: `healthy after ${seconds(componentStarted)}s` });
    }
    for (const component of selected.filter((c) => c.kind === 'toolchain')) {
      const health = await component.health(settings);
      if (!health.healthy) {
        throw new StackError('STACK_UNHEALTHY', component.name, `is installed but does not work: ${health.detail}`, {
          logFile: component.logFile(settings),
        });
      }
      emit({ component: component.name, message: health.detail });
    }
  } catch (error) {
    for (const component of [...started].reverse()) {
      emit({ component: component.name, message: 'stopping (rollback of this start)' });
      await component.stop(settings).catch(() => undefined);
    }
    throw error;
  }
  return { started: started.map((c) => c.name), alreadyRunning, installSeconds, startSeconds: seconds(startStarted) };
}

/** Stops the servers this stack started (those with our pid files), dependents first. */
export async function stackDown(options: { env?: Env; onEvent?: StackListener } = {}): Promise<ComponentName[]> {
  const settings = settingsFor(options.env);
  return withStackLock(settings.paths, waitingFor(options.onEvent), () => down(settings, options.onEvent));
}

async function down(settings: StackSettings, onEvent: StackListener | undefined) {
  const emit = onEvent ?? (() => {});
  const stopped: ComponentName[] = [];
  for (const component of [...COMPONENTS].reverse()) {
    if (component.kind !== 'server' || component.runningPid(settings) === undefined) continue;
    emit({ component: component.name, message: 'stopping' });
    if (await component.stop(settings)) stopped.push(component.name);
  }
  return stopped;
}

export async function stackStatus(options: { env?: Env } = {}): Promise<ComponentStatus[]> {
  const settings = settingsFor(options.env);
  return Promise.all(
    COMPONENTS.map(async (component) => {
      const installed = component.isInstalled(settings);
      const pid = component.runningPid(settings);
      const running = component.kind === 'server' ? pid !== undefined : installed;
      const health: Health | undefined = running ? await component.health(settings) : undefined;
      return {
        name: component.name,
        kind: component.kind,
        version: component.version,
        address: component.address(settings),
        installed,
        running,
        pid: pid ?? null,
        healthy: health?.healthy ?? false,
        detail: health?.detail ?? (installed ? 'stopped' : 'not installed'),
        latencyMs: health?.latencyMs ?? null,
        logFile: component.logFile(settings),
      };
    }),
  );
}

export function stackLogs(name: string, lines: number, options: { env?: Env } = {}): { file: string; text: string } {
  const settings = settingsFor(options.env);
  const file = componentByName(name).logFile(settings);
  return { file, text: tailFile(file, lines) };
}

function seconds(since: number): number {
  return Math.round((performance.now() - since) / 100) / 10;
}

/** A server component by name; toolchains (DuckDB, GX) have no process to restart or kill. */
function serverByName(name: string): Component {
  const component = componentByName(name);
  if (component.kind !== 'server')
    throw new StackError(
      'STACK_COMPONENT_UNKNOWN',
      name,
      'is a toolchain, not a server: there is no process to restart or kill',
    );
  return component;
}

/**
 * Stops one server (SIGTERM, then SIGKILL after its grace period) and starts it again, waiting until it is healthy.
 * What depends on it keeps running and must reconnect by itself: that is what a fault drill checks.
 */
export async function stackRestart(
  name: string,
  options: { env?: Env; onEvent?: StackListener } = {},
): Promise<{ stoppedPid: number | undefined; startedPid: number | undefined; seconds: number }> {
  const component = serverByName(name);
  const settings = settingsFor(options.env);
  const emit = options.onEvent ?? (() => undefined);
  const started = performance.now();
  const stoppedPid = component.runningPid(settings);
  emit({ component: component.name, message: stoppedPid ? `stopping (pid ${stoppedPid})` : 'not running; starting' });
  await component.stop(settings);
  await stackUp({ components: [component.name], ...options });
  return {
    stoppedPid,
    startedPid: component.runningPid(settings),
    seconds: Math.round((performance.now() - started) / 100) / 10,
  };
}

/**
 * kill -9 of one server (its process group: wrapper scripts and children too), as a crash would: no shutdown hook
 * runs. Resolves once the process is gone; `bv stack up <component>` or `bv stack restart` brings it back.
 */
export async function stackKill(name: string, options: { env?: Env; onEvent?: StackListener } = {}): Promise<number> {
  const component = serverByName(name);
  const settings = settingsFor(options.env);
  const pid = component.runningPid(settings);
  if (pid === undefined)
    throw new StackError('STACK_UNHEALTHY', name, 'is not running (started by this stack); nothing to kill');
  options.onEvent?.({ component: component.name, message: `kill -9 ${pid}` });
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    process.kill(pid, 'SIGKILL');
  }
  const deadline = Date.now() + 10_000;
  while (isAlive(pid) && Date.now() < deadline) await sleep(20);
  return pid;
}
