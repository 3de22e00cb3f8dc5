import { BvError, type ErrorCode } from '@bitvelocity/core';

/** Command output: one line to stdout (logs go to stderr). */
export function print(line: string): void {
  process.stdout.write(`${line}\n`);
}

export const printJson = (value: unknown): void => print(JSON.stringify(value, null, 2));

/** A commander parser for a positive whole-number flag; a bad value is a BvError with the command group's code. */
export function positiveInt(code: ErrorCode, flag: string): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!/^\d+$/.test(value.trim()) || n < 1)
      throw new BvError(code, `${flag} must be a positive whole number, got "${value}"`);
    return n;
  };
}

/** A commander parser for a TCP port flag (1-65535, or 0 for "any free port" when `allowZero`). */
export function tcpPort(code: ErrorCode, flag: string, allowZero = false): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!/^\d+$/.test(value.trim()) || n < (allowZero ? 0 : 1) || n > 65535)
      throw new BvError(code, `${flag} must be a TCP port (${allowZero ? 0 : 1}-65535), got "${value}"`);
    return n;
  };
}

/** A secret piped to the command (`--password-stdin`), without its trailing newline: never a flag in the process list. */
export async function readPasswordFromStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
}
