import { randomBytes } from 'node:crypto';

/** W3C Trace Context (traceparent, version 00). */
export interface TraceContext {
  traceId: string;
  /** This service's span id for the request, the parent of whatever the request causes downstream. */
  spanId: string;
  flags: string;
  /** The header value to propagate: the same trace, this span as parent. */
  traceparent: string;
}

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;
const ZEROS = /^0+$/;

/** Continues the caller's trace when its traceparent is valid; otherwise starts a new one (as the spec says). */
export function traceContextFrom(header: string | string[] | undefined): TraceContext {
  const value = Array.isArray(header) ? header[0] : header;
  const match = value ? TRACEPARENT.exec(value.trim()) : null;
  const valid = match && !ZEROS.test(match[1] ?? '') && !ZEROS.test(match[2] ?? '');
  const traceId = valid && match[1] ? match[1] : randomBytes(16).toString('hex');
  const flags = valid && match[3] ? match[3] : '01';
  const spanId = randomBytes(8).toString('hex');
  return { traceId, spanId, flags, traceparent: `00-${traceId}-${spanId}-${flags}` };
}
