import { appendFile } from 'node:fs/promises';
import { BvError } from '../errors.js';
import type { LineageEvent } from './types.js';

/** Delivers events; rejects when they were not delivered, so the client keeps them and retries. */
export interface LineageTransport {
  readonly name: string;
  send(events: readonly LineageEvent[]): Promise<void>;
}

/** An event batch the transport could not deliver; `retriable` says whether sending it again may succeed. */
export class LineageDeliveryError extends BvError {
  constructor(message: string, retriable: boolean, options: { cause?: unknown } = {}) {
    super('LINEAGE_DELIVERY_FAILED', message, { ...options, retriable });
  }
}

/**
 * POSTs each event to `{url}/api/v1/lineage` (the OpenLineage HTTP transport; Marquez and the BitVelocity lineage
 * service both accept it). A 4xx other than 408/429 is the event's fault: it is not retried.
 */
export class HttpTransport implements LineageTransport {
  readonly name = 'http';
  private readonly endpoint: string;

  constructor(
    private readonly options: { url: string; token?: string | undefined; timeoutMs?: number; endpoint?: string },
  ) {
    this.endpoint = `${options.url.replace(/\/+$/, '')}${options.endpoint ?? '/api/v1/lineage'}`;
  }

  async send(events: readonly LineageEvent[]): Promise<void> {
    for (const event of events) {
      let response: Response;
      try {
        response = await fetch(this.endpoint, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            ...(this.options.token ? { authorization: `Bearer ${this.options.token}` } : {}),
          },
          body: JSON.stringify(event),
          signal: AbortSignal.timeout(this.options.timeoutMs ?? 5_000),
        });
      } catch (cause) {
        throw new LineageDeliveryError(`lineage service at ${this.endpoint} unreachable`, true, { cause });
      }
      if (response.ok) {
        await response.arrayBuffer();
        continue;
      }
      const body = await response.text().catch(() => '');
      const retriable = response.status >= 500 || response.status === 408 || response.status === 429;
      throw new LineageDeliveryError(
        `lineage service answered ${response.status} ${body.slice(0, 500)}`,
        retriable && response.status !== 401 && response.status !== 403,
      );
    }
  }
}

/** Appends one JSON line per event to a file (NDJSON), e.g. for an offline review or a later replay. */
export class FileTransport implements LineageTransport {
  readonly name = 'file';
  constructor(private readonly path: string) {}

  async send(events: readonly LineageEvent[]): Promise<void> {
    await appendFile(this.path, events.map((e) => `${JSON.stringify(e)}\n`).join(''));
  }
}

/** Writes one JSON line per event to a stream (stderr by default, so stdout stays the command's output). */
export class ConsoleTransport implements LineageTransport {
  readonly name = 'console';
  constructor(private readonly write: (line: string) => void = (line) => process.stderr.write(line)) {}

  async send(events: readonly LineageEvent[]): Promise<void> {
    for (const e of events) this.write(`${JSON.stringify(e)}\n`);
  }
}

/** Lineage switched off: accepts and forgets. */
export class NoopTransport implements LineageTransport {
  readonly name = 'noop';
  async send(): Promise<void> {}
}
