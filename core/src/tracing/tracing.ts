import { join } from 'node:path';
import type { Tracer } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  BasicTracerProvider,
  BatchSpanProcessor,
  type SpanExporter,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { ATTR_SERVICE_NAME } from '@opentelemetry/semantic-conventions';
import { bvHome, type Env } from '../config.js';
import { JsonLinesSpanExporter } from './file-exporter.js';

export interface TracingOptions {
  /** The process's service.name (e.g. `bv-services`, `bv-stream-<job>`). */
  service: string;
  env?: Env;
  /** An exporter of the caller's (tests); by default chosen from the environment (see Tracing.create). */
  exporter?: SpanExporter;
}

/** Where spans go: an OTLP/HTTP collector, a JSON-lines file, or nowhere (ids are still made and propagated). */
export type TraceDestination = { kind: 'otlp'; url: string } | { kind: 'file'; file: string } | { kind: 'off' };

/**
 * One process's tracer provider. It is not registered globally: the tracer is passed to whoever makes spans, and
 * contexts are passed explicitly, so two providers (two services in one test process) never mix.
 */
export class Tracing {
  private constructor(
    readonly tracer: Tracer,
    readonly destination: TraceDestination,
    private readonly provider: BasicTracerProvider,
  ) {}

  /**
   * Export over OTLP/HTTP when `BV_OTLP_ENDPOINT` or `OTEL_EXPORTER_OTLP_ENDPOINT` is set, else to
   * `$BV_HOME/traces/<service>.jsonl`; `BV_TRACING=off` keeps ids and propagation but exports nothing.
   */
  static create(options: TracingOptions): Tracing {
    const env = options.env ?? process.env;
    const destination: TraceDestination = options.exporter ? { kind: 'off' } : destinationOf(options.service, env);
    const exporter = options.exporter ?? exporterOf(destination);
    const spanProcessors: SpanProcessor[] = exporter
      ? [new BatchSpanProcessor(exporter, { scheduledDelayMillis: 1_000, maxQueueSize: 8_192 })]
      : [];
    const provider = new BasicTracerProvider({
      resource: resourceFromAttributes({ [ATTR_SERVICE_NAME]: options.service }),
      spanProcessors,
    });
    return new Tracing(provider.getTracer('@bitvelocity/core'), destination, provider);
  }

  /** A provider that exports nothing: real ids, real propagation (the default where no process set one up). */
  static silent(service: string): Tracing {
    return Tracing.create({ service, env: { BV_TRACING: 'off' } });
  }

  /** Exports every finished span now (tests read the file after this). */
  forceFlush(): Promise<void> {
    return this.provider.forceFlush();
  }

  shutdown(): Promise<void> {
    return this.provider.shutdown();
  }
}

function destinationOf(service: string, env: Env): TraceDestination {
  if (env.BV_TRACING === 'off') return { kind: 'off' };
  const bvEndpoint = env.BV_OTLP_ENDPOINT;
  if (bvEndpoint) return { kind: 'otlp', url: tracesUrl(bvEndpoint) };
  const otelEndpoint = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ?? env.OTEL_EXPORTER_OTLP_ENDPOINT;
  if (otelEndpoint)
    return { kind: 'otlp', url: env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ? otelEndpoint : tracesUrl(otelEndpoint) };
  return { kind: 'file', file: traceFileOf(service, env) };
}

/** The JSON-lines file a service's spans go to when no collector is configured. */
export function traceFileOf(service: string, env: Env = process.env): string {
  return join(env.BV_TRACES_DIR ?? join(bvHome(env), 'traces'), `${service}.jsonl`);
}

/** A collector's base URL gets the OTLP/HTTP traces path, as the OTel spec says for the generic endpoint. */
function tracesUrl(endpoint: string): string {
  const base = endpoint.replace(/\/+$/, '');
  return base.endsWith('/v1/traces') ? base : `${base}/v1/traces`;
}

function exporterOf(destination: TraceDestination): SpanExporter | undefined {
  switch (destination.kind) {
    case 'otlp':
      return new OTLPTraceExporter({ url: destination.url });
    case 'file':
      return new JsonLinesSpanExporter(destination.file);
    case 'off':
      return undefined;
  }
}
