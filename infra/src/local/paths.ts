import { join } from 'node:path';
import { bvHome, type Env } from '@bitvelocity/core';

/** The layout of BV_HOME: everything the stack downloads, builds, stores and logs lives below it. */
export interface StackPaths {
  home: string;
  /** Installed artifacts (jars, plugins, extension files), keyed by version so upgrades sit side by side. */
  dist: string;
  /** Maven's local repository, Go's GOPATH and pip's cache: download caches that make a second install fast. */
  mavenRepo: string;
  goPath: string;
  pipCache: string;
  venvs: string;
  data: string;
  logs: string;
  run: string;
  config: string;
}

export function stackPaths(env: Env = process.env): StackPaths {
  const home = bvHome(env);
  return {
    home,
    dist: join(home, 'dist'),
    mavenRepo: join(home, 'cache', 'm2'),
    goPath: join(home, 'cache', 'go'),
    pipCache: join(home, 'cache', 'pip'),
    venvs: join(home, 'venv'),
    data: join(home, 'data'),
    logs: join(home, 'logs'),
    run: join(home, 'run'),
    config: join(home, 'config'),
  };
}
