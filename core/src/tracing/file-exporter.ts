import { appendFile, mkdir, readFile, rename, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { type ExportResult, ExportResultCode, hrTimeToMicroseconds } from '@opentelemetry/core';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace-base';

/** One finished span as a line of the traces file (ids in W3C hex, times in epoch microseconds). */
export interface SpanLine {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  /** The OTel SpanKind number: 0 internal, 1 server, 2 client, 3 producer, 4 consumer. */
  kind: number;
  startTimeUs: number;
  endTimeUs: number;
  service: string;
  attributes: Record<string, unknown>;
  links: { traceId: string; spanId: string; attributes?: Record<string, unknown> }[];
  status: { code: number; message?: string };
}

/** A traces file past this size is moved to `<file>.1` (replacing the one before), so a long-running process stays bounded. */
export const TRACE_FILE_MAX_BYTES = 64 * 1024 * 1024;

/**
 * Writes finished spans as JSON lines to one file: the exporter when no OTLP collector is configured. One append per
 * batch (the batch processor calls it), so a process's spans cost one write every few seconds.
 */
export class JsonLinesSpanExporter implements SpanExporter {
  private size: Promise<number> | undefined;
  private pending: Promise<void> = Promise.resolve();

  constructor(
    readonly file: string,
    private readonly maxBytes = TRACE_FILE_MAX_BYTES,
  ) {}

  export(spans: ReadableSpan[], resultCallback: (result: ExportResult) => void): void {
    const text = spans.map((span) => `${JSON.stringify(spanLineOf(span))}\n`).join('');
    this.size ??= mkdir(dirname(this.file), { recursive: true }).then(() =>
      stat(this.file).then(
        (s) => s.size,
        () => 0,
      ),
    );
    this.pending = this.pending
      .then(() => this.append(text))
      .then(
        () => resultCallback({ code: ExportResultCode.SUCCESS }),
        (error: unknown) =>
          resultCallback({
            code: ExportResultCode.FAILED,
            error: error instanceof Error ? error : new Error(String(error)),
          }),
      );
  }

  private async append(text: string): Promise<void> {
    let size = await (this.size as Promise<number>);
    if (size > 0 && size + text.length > this.maxBytes) {
      await rename(this.file, `${this.file}.1`);
      size = 0;
    }
    await appendFile(this.file, text);
    this.size = Promise.resolve(size + Buffer.byteLength(text));
  }

  forceFlush(): Promise<void> {
    return this.pending;
  }

  shutdown(): Promise<void> {
    return this.pending;
  }
}

/** The spans of a traces file, oldest first (none when it does not exist yet). */
export async function readTraceFile(file: string): Promise<SpanLine[]> {
  const text = await readFile(file, 'utf8').catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return '';
    throw error;
  });
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as SpanLine);
}

function spanLineOf(span: ReadableSpan): SpanLine {
  const context = span.spanContext();
  return {
    traceId: context.traceId,
    spanId: context.spanId,
    ...(span.parentSpanContext ? { parentSpanId: span.parentSpanContext.spanId } : {}),
    name: span.name,
    kind: span.kind,
    startTimeUs: Math.round(hrTimeToMicroseconds(span.startTime)),
    endTimeUs: Math.round(hrTimeToMicroseconds(span.endTime)),
    service: String(span.resource.attributes['service.name'] ?? 'unknown'),
    attributes: { ...span.attributes },
    links: span.links.map((link) => ({
      traceId: link.context.traceId,
      spanId: link.context.spanId,
      ...(link.attributes ? { attributes: { ...link.attributes } } : {}),
    })),
    status: { code: span.status.code, ...(span.status.message ? { message: span.status.message } : {}) },
  };
}
