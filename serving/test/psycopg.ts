import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { bvHome } from '@bitvelocity/core';

/** Python's psycopg 3 (a real libpq-based client) in a venv cached under BV_HOME; made on first use. */
export function psycopgPython(): string {
  const venv = join(bvHome(), 'cache', 'venv', 'psycopg');
  const python = join(venv, 'bin', 'python');
  const probe = () => {
    try {
      execFileSync(python, ['-c', 'import psycopg'], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  };
  if (existsSync(python) && probe()) return python;
  execFileSync('python3', ['-m', 'venv', venv], { stdio: 'inherit' });
  execFileSync(python, ['-m', 'pip', 'install', '--quiet', 'psycopg[binary]>=3.2,<3.4'], {
    stdio: 'inherit',
    timeout: 300_000,
  });
  if (!probe()) throw new Error(`psycopg did not install into ${venv}`);
  return python;
}
