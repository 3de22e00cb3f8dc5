import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { BvError, bvHome, type Env } from '@bitvelocity/core';
import { createVerifier, parseVerifier, type ScramVerifier } from './scram.js';

/**
 * The analysts allowed on the Postgres endpoint, kept with the platform's generated config under BV_HOME (never in
 * the repository), readable by its owner only. Each has a SCRAM-SHA-256 verifier, not a password.
 */
export interface AnalystUsersFile {
  users: Record<string, { verifier: string; createdAt: string }>;
}

export function analystUsersFile(env: Env = process.env): string {
  return env.BV_PG_USERS_FILE ?? join(bvHome(env), 'config', 'pg-users.json');
}

export function readAnalystUsers(file = analystUsersFile()): AnalystUsersFile {
  if (!existsSync(file)) return { users: {} };
  try {
    const parsed = JSON.parse(readFileSync(file, 'utf8')) as AnalystUsersFile;
    return { users: parsed.users ?? {} };
  } catch (cause) {
    throw new BvError('CONFIG_INVALID', `${file} is not valid JSON; fix it or remove it and add the users again`, {
      cause,
    });
  }
}

function writeAnalystUsers(content: AnalystUsersFile, file: string): void {
  mkdirSync(dirname(file), { recursive: true });
  const draft = `${file}.${process.pid}.tmp`;
  writeFileSync(draft, `${JSON.stringify(content, null, 2)}\n`, { mode: 0o600 });
  chmodSync(draft, 0o600);
  renameSync(draft, file);
}

const USER_NAME = /^[a-z_][a-z0-9_.-]{0,62}$/;

export function addAnalystUser(name: string, password: string, file = analystUsersFile()): void {
  if (!USER_NAME.test(name)) {
    throw new BvError('WIRE_BAD_OPTION', `user names are lower-case letters, digits, _ . - (max 63), got "${name}"`);
  }
  if (password.length < 8) throw new BvError('WIRE_BAD_OPTION', 'an analyst password has at least 8 characters');
  const content = readAnalystUsers(file);
  content.users[name] = { verifier: createVerifier(password), createdAt: new Date().toISOString() };
  writeAnalystUsers(content, file);
}

export function removeAnalystUser(name: string, file = analystUsersFile()): boolean {
  const content = readAnalystUsers(file);
  if (!content.users[name]) return false;
  delete content.users[name];
  writeAnalystUsers(content, file);
  return true;
}

/** Looks users up on every connection, so users added while the server runs can log in without a restart. */
export type VerifierLookup = (user: string) => ScramVerifier | undefined;

export function verifiersFromFile(file = analystUsersFile()): VerifierLookup {
  return (user) => {
    const entry = readAnalystUsers(file).users[user];
    return entry ? parseVerifier(entry.verifier) : undefined;
  };
}
