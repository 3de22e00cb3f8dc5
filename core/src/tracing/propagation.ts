import { type Context, isSpanContextValid, type Link, ROOT_CONTEXT, type SpanContext, trace } from '@opentelemetry/api';

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/** The span context a W3C `traceparent` (version 00) names, or undefined when it is absent or invalid. */
export function spanContextFromTraceparent(header: string | string[] | undefined): SpanContext | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  const match = value ? TRACEPARENT.exec(value.trim()) : null;
  if (!match) return undefined;
  const spanContext: SpanContext = {
    traceId: match[1] as string,
    spanId: match[2] as string,
    traceFlags: Number.parseInt(match[3] as string, 16),
    isRemote: true,
  };
  return isSpanContextValid(spanContext) ? spanContext : undefined;
}

/** A parent context continuing the caller's trace when its traceparent is valid, else the root (a new trace). */
export function contextFromTraceparent(header: string | string[] | undefined): Context {
  const remote = spanContextFromTraceparent(header);
  return remote ? trace.setSpanContext(ROOT_CONTEXT, remote) : ROOT_CONTEXT;
}

/** The `traceparent` header value naming `spanContext` as the parent of what it causes. */
export function traceparentOf(spanContext: SpanContext): string {
  const flags = (spanContext.traceFlags & 0xff).toString(16).padStart(2, '0');
  return `00-${spanContext.traceId}-${spanContext.spanId}-${flags}`;
}

/** At most this many links on a batch span (and traceparents on a diagnostics event). */
export const MAX_TRACE_LINKS = 64;

/**
 * Links to the distinct traces among `traceparents` (at most `max`): a batch span links the requests whose records
 * it carries instead of making one span per record.
 */
export function linksFromTraceparents(traceparents: Iterable<string | undefined>, max = MAX_TRACE_LINKS): Link[] {
  const links: Link[] = [];
  const seen = new Set<string>();
  for (const header of traceparents) {
    if (links.length >= max) break;
    if (!header || seen.has(header)) continue;
    seen.add(header);
    const spanContext = spanContextFromTraceparent(header);
    if (spanContext) links.push({ context: spanContext });
  }
  return links;
}
