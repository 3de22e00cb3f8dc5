export { traceDiagnostics } from './diagnostic-spans.js';
export { JsonLinesSpanExporter, readTraceFile, type SpanLine, TRACE_FILE_MAX_BYTES } from './file-exporter.js';
export {
  contextFromTraceparent,
  linksFromTraceparents,
  MAX_TRACE_LINKS,
  spanContextFromTraceparent,
  traceparentOf,
} from './propagation.js';
export { type TraceDestination, Tracing, type TracingOptions, traceFileOf } from './tracing.js';
