import { appendFile, mkdir } from 'node:fs/promises';
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

/**
 * Writes finished spans as JSON lines to one file: the exporter when no OTLP collector is configured. One append per
 * batch (the batch processor calls it), so a process's spans cost one write every few seconds.
 */
export class JsonLinesSpanExporter implements SpanExporter {
  private ready: Promise<unknown> | undefined;
  private pending: Promise<void> = Promise.resolve();

  constructor(readonly file: string) {}

  export(spans: ReadableSpan[], resultCallback: (result: ExportResult) => void): void {
    const text = spans.map((span) => `${JSON.stringify(spanLineOf(span))}\n`).join('');
    this.ready ??= mkdir(dirname(this.file), { recursive: true });
    this.pending = this.pending
      .then(() => this.ready)
      .then(() => appendFile(this.file, text))
      .then(
        () => resultCallback({ code: ExportResultCode.SUCCESS }),
        (error: unknown) =>
          resultCallback({
            code: ExportResultCode.FAILED,
            error: error instanceof Error ? error : new Error(String(error)),
          }),
      );
  }

  forceFlush(): Promise<void> {
    return this.pending;
  }

  shutdown(): Promise<void> {
    return this.pending;
  }
}

function spanLineOf(span: ReadableSpan): SpanLine {
  const context = span.spanContext();
  return {
    traceId: context.traceId,
    spanId: context.spanId,
    ...(span.parentSpanContext ? { parentSpanId: span.parentSpanContext.spanId } : {}),
    name: span.name,
    kind: span.kind,
    startTimeUs: hrTimeToMicroseconds(span.startTime),
    endTimeUs: hrTimeToMicroseconds(span.endTime),
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
