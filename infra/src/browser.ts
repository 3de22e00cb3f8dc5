import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { type Browser, chromium } from 'playwright-core';
import { aptInstall } from './local/apt.js';
import { stackPaths } from './local/paths.js';

const CANDIDATES = ['/usr/bin/chromium', '/usr/bin/chromium-browser'];

/**
 * The path of Debian's Chromium, installed from the distribution's packages when missing (root only). Pages are
 * tested in the real browser; Playwright's own browser downloads are not reachable here, and not needed.
 */
export async function ensureChromium(): Promise<string> {
  const found = CANDIDATES.find((path) => existsSync(path));
  if (found) return found;
  const logs = join(stackPaths().home, 'logs');
  mkdirSync(logs, { recursive: true });
  await aptInstall(
    ['chromium', 'fonts-dejavu-core'],
    join(logs, 'chromium-install.log'),
    'install Chromium (Debian package `chromium`) or run as root',
  );
  const installed = CANDIDATES.find((path) => existsSync(path));
  if (!installed) throw new Error('chromium was installed but no chromium binary was found');
  return installed;
}

/** Headless Chromium driven by playwright-core; close it when done. */
export async function launchChromium(): Promise<Browser> {
  const executablePath = await ensureChromium();
  return chromium.launch({ executablePath, headless: true, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
}
