import { readFileSync } from 'node:fs';

/** Whether a process with this pid exists (one we may not signal, EPERM, exists too) and has not exited. */
export function isAlive(pid: number | null | undefined): boolean {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
  return !isZombie(pid);
}

/**
 * A killed server whose parent has not reaped it yet (e.g. the process that started it is still running) still
 * answers signal 0; it is dead all the same, and waiting for it to go would wait forever.
 */
function isZombie(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z';
  } catch {
    return false;
  }
}
