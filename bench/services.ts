/**
 * The services as a separate process for the bench scripts: a private auth file with one admin user of a fresh
 * tenant, `bv services start` on a port, ready when /ready answers; `post` calls the API with the user's token.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { hashPassword, writeServicesAuth } from '@bitvelocity/services';

export interface BenchServices {
  base: string;
  tenant: string;
  token: string;
  post(path: string, body: object): Promise<Record<string, string>>;
  stop(): void;
}

export async function startServices(options: { port: number; nodeFlags?: string[] }): Promise<BenchServices> {
  const base = `http://127.0.0.1:${options.port}`;
  const dir = mkdtempSync(join(tmpdir(), 'bv-bench-services-'));
  const env = { ...process.env, BV_SERVICES_AUTH_FILE: join(dir, 'auth.json'), BV_LOG_LEVEL: 'error' };
  const password = randomUUID();
  const tenant = `bench-${randomUUID().slice(0, 8)}`;
  writeServicesAuth(
    {
      jwtSecret: randomUUID() + randomUUID(),
      users: [{ username: 'bench', passwordHash: await hashPassword(password), tenantId: tenant, roles: ['admin'] }],
    },
    env,
  );
  const nodeFlags = options.nodeFlags ?? [];
  const server: ChildProcess = spawn(
    'node',
    [...nodeFlags, 'cli/bin/bv.js', 'services', 'start', '--port', String(options.port)],
    { env, stdio: ['ignore', nodeFlags.length ? 'inherit' : 'ignore', 'inherit'] },
  );
  const stop = () => {
    server.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  };
  let token = '';
  const post = async (path: string, body: object): Promise<Record<string, string>> => {
    const response = await fetch(`${base}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify(body),
    });
    if (!response.ok) throw new Error(`${path}: ${response.status} ${await response.text()}`);
    return (await response.json()) as Record<string, string>;
  };
  try {
    for (
      let i = 0;
      !(await fetch(`${base}/ready`).then(
        (r) => r.ok,
        () => false,
      ));
      i++
    ) {
      if (i > 150) throw new Error('the service did not become ready');
      await sleep(200);
    }
    token = (await post('/auth/token', { username: 'bench', password })).accessToken ?? '';
  } catch (error) {
    stop();
    throw error;
  }
  return { base, tenant, token, post, stop };
}
