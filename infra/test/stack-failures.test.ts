import { execFile } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { StackError } from '@bitvelocity/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { stackDown, stackPaths, stackUp } from '../src/index.js';
import { settingsFor } from '../src/local/stack.js';

const exec = promisify(execFile);

/** A throwaway stack: its own home and ports, sharing the download cache so nothing is fetched again. */
function isolatedEnv(home: string): NodeJS.ProcessEnv {
  return {
    ...process.env,
    BV_HOME: home,
    BV_CACHE_DIR: stackPaths().cache,
    BV_PG_PORT: '56432',
    BV_KAFKA_PORT: '29092',
    BV_KAFKA_CONTROLLER_PORT: '29093',
    BV_CONNECT_PORT: '28083',
    BV_MINIO_PORT: '29000',
    BV_MINIO_CONSOLE_PORT: '29001',
    BV_REDIS_PORT: '26379',
  };
}

function listen(port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer((socket) => socket.end());
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

describe('bv stack up when a component cannot start', () => {
  let home: string;
  let env: NodeJS.ProcessEnv;
  let blocker: Server | undefined;

  beforeEach(() => {
    home = mkdtempSync(join(tmpdir(), 'bv-stack-'));
    chmodSync(home, 0o755); // PostgreSQL runs as its own OS user and must reach its data dir
    env = isolatedEnv(home);
  });
  afterEach(async () => {
    await new Promise<void>((resolve) => (blocker ? blocker.close(() => resolve()) : resolve()));
    blocker = undefined;
    await stackDown({ env });
    rmSync(home, { recursive: true, force: true });
  });

  it('exits non-zero naming the component, the cause and the log file when its port is taken', async () => {
    blocker = await listen(56432);
    const failure = await exec('node', ['cli/bin/bv.js', 'stack', 'up', 'postgres'], { env }).catch((e: unknown) => e);
    expect(failure).toMatchObject({ code: 1 });
    const stderr = (failure as { stderr: string }).stderr;
    expect(stderr).toContain('bv: error [STACK_PORT_IN_USE]: postgres: port 56432 is already in use');
    expect(stderr).toContain('set BV_PG_PORT to a free port');
    expect(stderr).toContain(`(log: ${join(home, 'logs', 'postgres.log')})`);
    expect(settingsFor(env).paths.home).toBe(home);
  });

  it('stops what it had started when a later component fails, leaving nothing half-started', async () => {
    // MinIO starts after PostgreSQL; with its console port taken it exits at once.
    blocker = await listen(29001);
    const error = await stackUp({ env, components: ['postgres', 'minio'] }).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(StackError);
    const stackError = error as StackError;
    expect(stackError.code).toBe('STACK_START_FAILED');
    expect(stackError.component).toBe('minio');
    expect(stackError.logFile).toBe(join(home, 'logs', 'minio.log'));
    // Whichever is seen first, the exit or the refused health probe, the message says why from MinIO's own log.
    expect(stackError.message).toMatch(
      /did not start: (the process exited before it became healthy|connect ECONNREFUSED)/,
    );
    expect(stackError.message).toMatch(/port is already in use/);
    expect(stackError.message).toContain('--- last lines of the log ---');

    const postgresPid = join(home, 'data', 'postgres', 'postmaster.pid');
    expect(existsSync(postgresPid)).toBe(false);
    expect(readdirSync(join(home, 'run')).filter((f) => f.endsWith('.pid'))).toEqual([]);
  });
});
