import { runCommand } from './process.js';

let updated = false;

/** Installs Debian packages (root only); the caller says what to tell a non-root user instead. */
export async function aptInstall(packages: string[], logFile: string, hint: string): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error(`${packages.join(', ')} missing: ${hint}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  if (!updated) {
    await runCommand('apt-get', ['update', '-qq'], { env, logFile, timeoutMs: 10 * 60_000 });
    updated = true;
  }
  await runCommand('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...packages], {
    env,
    logFile,
    timeoutMs: 20 * 60_000,
  });
}

export async function hasCommand(command: string, args: string[] = ['--version']): Promise<boolean> {
  try {
    await runCommand(command, args, { timeoutMs: 60_000 });
    return true;
  } catch {
    return false;
  }
}
