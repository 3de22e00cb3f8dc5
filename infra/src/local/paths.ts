import { join } from 'node:path';
import { bvHome, type Env } from '@bitvelocity/core';

/**
 * The layout of the stack on disk. BV_HOME holds one stack's state (data, logs, pid files, generated config);
 * the cache (BV_CACHE_DIR, default BV_HOME/cache) holds what is downloaded or built once and can be shared by
 * several homes: installed artifacts, Maven's repository, Go's module and build caches, pip's cache, the GX venv.
 */
export interface StackPaths {
  home: string;
  cache: string;
  /** Installed artifacts (jars, plugins, extension files, binaries), keyed by version so upgrades sit side by side. */
  dist: string;
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
  const cache = env.BV_CACHE_DIR || join(home, 'cache');
  return {
    home,
    cache,
    dist: join(cache, 'dist'),
    mavenRepo: join(cache, 'm2'),
    goPath: join(cache, 'go'),
    pipCache: join(cache, 'pip'),
    venvs: join(cache, 'venv'),
    data: join(home, 'data'),
    logs: join(home, 'logs'),
    run: join(home, 'run'),
    config: join(home, 'config'),
  };
}
