import { type SpawnOptions, spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { CommandError, isAlive, waitFor } from '@bitvelocity/core';

export interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Appends the command line and its output to this file, so a failure can point the user at it. */
  logFile?: string;
  /** Runs as this OS user (root only), e.g. PostgreSQL's server binaries refuse root. */
  asUser?: string;
  timeoutMs?: number;
  input?: string;
}

export interface RunResult {
  stdout: string;
  stderr: string;
}

const TAIL_CHARS = 2000;

/** Runs a command to completion; rejects with CommandError (exit code and output tail) when it fails. */
export function runCommand(command: string, args: string[], options: RunOptions = {}): Promise<RunResult> {
  const [file, argv] = options.asUser ? ['runuser', ['-u', options.asUser, '--', command, ...args]] : [command, args];
  const printable = [command, ...args].join(' ');
  const log = options.logFile ? openLog(options.logFile) : undefined;
  if (log !== undefined) writeFileSync(log, `\n$ ${printable}\n`);
  return new Promise((resolve, reject) => {
    const child = spawn(file, argv, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: ['pipe', 'pipe', 'pipe'],
      timeout: options.timeoutMs,
      killSignal: 'SIGKILL',
    });
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      if (log !== undefined) writeFileSync(log, chunk);
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      if (log !== undefined) writeFileSync(log, chunk);
    });
    child.stdin?.end(options.input ?? '');
    child.on('error', (cause) => {
      if (log !== undefined) closeSync(log);
      reject(new CommandError(printable, null, cause.message, { cause }));
    });
    child.on('close', (code) => {
      if (log !== undefined) closeSync(log);
      if (code === 0) resolve({ stdout, stderr });
      else reject(new CommandError(printable, code, (stderr || stdout).slice(-TAIL_CHARS)));
    });
  });
}

function openLog(file: string): number {
  mkdirSync(dirname(file), { recursive: true });
  return openSync(file, 'a');
}

export interface DaemonOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  logFile: string;
  pidFile: string;
}

/**
 * Starts a long-running server detached from this process (it outlives `bv stack up`), with stdout and stderr
 * appended to its log file, and records its pid so `down` stops exactly what `up` started.
 */
export function startDaemon(command: string, args: string[], options: DaemonOptions): number {
  const log = openLog(options.logFile);
  writeFileSync(log, `\n$ ${[command, ...args].join(' ')}\n`);
  const spawnOptions: SpawnOptions = {
    cwd: options.cwd,
    env: options.env ?? process.env,
    detached: true,
    stdio: ['ignore', log, log],
  };
  const child = spawn(command, args, spawnOptions);
  closeSync(log);
  if (child.pid === undefined) throw new Error(`could not spawn ${command}`);
  child.unref();
  mkdirSync(dirname(options.pidFile), { recursive: true });
  writeFileSync(options.pidFile, `${child.pid}\n`);
  return child.pid;
}

export function readPid(pidFile: string): number | undefined {
  if (!existsSync(pidFile)) return undefined;
  const pid = Number.parseInt(readFileSync(pidFile, 'utf8').split('\n')[0] ?? '', 10);
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

/** The pid recorded in the file, if that process is still alive. */
export function livePid(pidFile: string): number | undefined {
  const pid = readPid(pidFile);
  return pid !== undefined && isAlive(pid) ? pid : undefined;
}

/** SIGTERM, then SIGKILL after the grace period; removes the pid file. */
export async function stopProcess(pidFile: string, graceMs = 15_000): Promise<boolean> {
  const pid = readPid(pidFile);
  if (pid === undefined) return false;
  let stopped = false;
  if (isAlive(pid)) {
    signal(pid, 'SIGTERM');
    const deadline = Date.now() + graceMs;
    while (isAlive(pid) && Date.now() < deadline) await sleep(100);
    if (isAlive(pid)) signal(pid, 'SIGKILL');
    while (isAlive(pid)) await sleep(50);
    stopped = true;
  }
  rmSync(pidFile, { force: true });
  return stopped;
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    // A detached daemon leads its own process group: signal the group so wrapper scripts' children stop too.
    process.kill(-pid, name);
  } catch {
    try {
      process.kill(pid, name);
    } catch {
      // already gone
    }
  }
}

/** Polls `probe` until it resolves, or rejects with the last error once `timeoutMs` has passed. */
export async function waitUntil<T>(
  probe: () => Promise<T>,
  options: { timeoutMs: number; intervalMs?: number; stillAlive?: () => boolean },
): Promise<T> {
  let lastError: unknown;
  const outcome = await waitFor(
    'healthy',
    async () => {
      try {
        return { value: await probe() };
      } catch (error) {
        lastError = error;
      }
      if (options.stillAlive && !options.stillAlive()) {
        throw new Error(`the process exited before it became healthy (last probe: ${describe(lastError)})`, {
          cause: lastError,
        });
      }
      return undefined;
    },
    {
      timeoutMs: options.timeoutMs,
      intervalMs: options.intervalMs ?? 250,
      timeoutError: () =>
        new Error(`not healthy after ${options.timeoutMs / 1000}s (last probe: ${describe(lastError)})`, {
          cause: lastError,
        }),
    },
  );
  return outcome.value;
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Reads the last lines of a log file, for `bv stack logs` and error messages. */
export function tailFile(file: string, lines: number): string {
  if (!existsSync(file)) return '';
  const all = readFileSync(file, 'utf8').split('\n');
  return all.slice(-lines - 1).join('\n');
}
