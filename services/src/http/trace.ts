import { contextFromTraceparent, traceparentOf } from '@bitvelocity/core';
import { type Context, type Span, SpanKind, SpanStatusCode, type Tracer, trace } from '@opentelemetry/api';
import type { FastifyInstance, FastifyRequest } from 'fastify';

/** W3C Trace Context of one request: its OTel server span, continuing the caller's trace when it sent one. */
export interface TraceContext {
  /** The OTel trace id (32 hex): the outbox row's trace_id and the envelope's traceId. */
  traceId: string;
  /** The request's server span id, the parent of whatever the request causes downstream. */
  spanId: string;
  flags: string;
  /** The header value to propagate: the same trace, this span as parent. */
  traceparent: string;
  /** The context whose span is the request's server span, for the child spans the request makes. */
  context: Context;
  span: Span;
}

/** Starts the server span for a request (its parent from `traceparent` when valid, as the W3C spec says). */
export function startRequestTrace(tracer: Tracer, request: FastifyRequest): TraceContext {
  const parent = contextFromTraceparent(request.headers.traceparent);
  const span = tracer.startSpan(
    request.method,
    {
      kind: SpanKind.SERVER,
      attributes: {
        'http.request.method': request.method,
        'url.path': request.url.split('?')[0] ?? request.url,
        'url.scheme': request.protocol,
        ...(request.headers['user-agent'] ? { 'user_agent.original': request.headers['user-agent'] } : {}),
      },
    },
    parent,
  );
  const spanContext = span.spanContext();
  return {
    traceId: spanContext.traceId,
    spanId: spanContext.spanId,
    flags: (spanContext.traceFlags & 0xff).toString(16).padStart(2, '0'),
    traceparent: traceparentOf(spanContext),
    context: trace.setSpan(parent, span),
    span,
  };
}

/** A server span per request, named by its route; the response carries the span as `traceparent`. */
export function registerTracing(app: FastifyInstance, tracer: Tracer): void {
  app.decorateRequest('trace', null as never);
  app.addHook('onRequest', async (request, reply) => {
    request.trace = startRequestTrace(tracer, request);
    reply.header('traceparent', request.trace.traceparent);
  });
  app.addHook('onError', async (request, _reply, error) => {
    request.trace?.span.recordException(error);
  });
  app.addHook('onResponse', async (request, reply) => {
    const span = request.trace?.span;
    if (!span) return;
    const route = request.routeOptions.url;
    if (route) {
      span.updateName(`${request.method} ${route}`);
      span.setAttribute('http.route', route);
    }
    span.setAttribute('http.response.status_code', reply.statusCode);
    if (reply.statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
    span.end();
  });
  app.addHook('onRequestAbort', async (request) => {
    request.trace?.span.setStatus({ code: SpanStatusCode.ERROR, message: 'request aborted' });
    request.trace?.span.end();
  });
}
