import { type Logger, pino } from 'pino';

export type { Logger };

/** The one logger factory: JSON lines to stderr (stdout stays free for command output), level from BV_LOG_LEVEL. */
export function createLogger(name: string, level = process.env.BV_LOG_LEVEL ?? 'info'): Logger {
  return pino({ name, level, base: { name } }, pino.destination(2));
}
