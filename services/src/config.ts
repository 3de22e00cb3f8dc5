import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { bvHome, ConfigError, type Env } from '@bitvelocity/core';
import type { Role, ServiceUser } from './http/auth.js';

/** The services' own settings: the JWT signing secret and the users allowed to get tokens. */
export interface ServicesAuthFile {
  jwtSecret: string;
  users: ServiceUser[];
}

const ROLES: readonly Role[] = ['reader', 'writer', 'admin', 'dashboard', 'analyst'];

export function servicesAuthFile(env: Env = process.env): string {
  return env.BV_SERVICES_AUTH_FILE || join(bvHome(env), 'config', 'services-auth.json');
}

/**
 * Reads the auth settings: BV_JWT_SECRET overrides the file's secret. The file (0600, never committed) is created
 * with a random secret on first use, so a local stack needs no setup beyond `bv services user add`.
 */
export function loadServicesAuth(env: Env = process.env): ServicesAuthFile {
  const file = servicesAuthFile(env);
  let stored: ServicesAuthFile = { jwtSecret: randomBytes(48).toString('base64url'), users: [] };
  if (existsSync(file)) {
    try {
      stored = JSON.parse(readFileSync(file, 'utf8')) as ServicesAuthFile;
    } catch (cause) {
      throw new ConfigError('CONFIG_INVALID', `${file} is not valid JSON`, { cause });
    }
  } else {
    writeServicesAuth(stored, env);
  }
  const jwtSecret = env.BV_JWT_SECRET || stored.jwtSecret;
  if (jwtSecret.length < 32) throw new ConfigError('CONFIG_INVALID', 'the JWT secret must be at least 32 characters');
  for (const user of stored.users) {
    const bad = user.roles.find((r) => !ROLES.includes(r));
    if (bad) throw new ConfigError('CONFIG_INVALID', `${file}: user ${user.username} has unknown role ${bad}`);
  }
  return { jwtSecret, users: stored.users };
}

export function writeServicesAuth(auth: ServicesAuthFile, env: Env = process.env): void {
  const file = servicesAuthFile(env);
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  writeFileSync(file, `${JSON.stringify(auth, null, 2)}\n`, { mode: 0o600 });
  chmodSync(file, 0o600);
}

export function parseRoles(value: string): Role[] {
  const roles = value.split(',').map((r) => r.trim()) as Role[];
  const bad = roles.find((r) => !ROLES.includes(r));
  if (bad) throw new ConfigError('CONFIG_INVALID', `unknown role ${bad}; roles are ${ROLES.join(', ')}`);
  return roles;
}
