import { SpanKind, type Tracer } from '@opentelemetry/api';
import { diagnostics } from '../diagnostics.js';
import { linksFromTraceparents } from './propagation.js';

/**
 * Spans for what the runtime and the lake publish on the diagnostics channels: one span per checkpoint and one per
 * lake commit, linked to the traces of the records they made durable (never a span per record). Returns the
 * function that unsubscribes. `workerId` keeps a process to its own worker's checkpoints.
 */
export function traceDiagnostics(tracer: Tracer, options: { workerId?: string } = {}): () => void {
  const unsubscribeCheckpoint = diagnostics.checkpointCommitted.subscribe((checkpoint) => {
    if (options.workerId && checkpoint.workerId !== options.workerId) return;
    const end = Date.now();
    const span = tracer.startSpan(`checkpoint ${checkpoint.job}`, {
      kind: SpanKind.CONSUMER,
      startTime: end - checkpoint.durationMs,
      links: linksFromTraceparents(checkpoint.traceparents ?? []),
      attributes: {
        'messaging.system': 'kafka',
        'messaging.operation.type': 'process',
        'bv.job': checkpoint.job,
        'bv.worker': checkpoint.workerId,
        'bv.checkpoint.strategy': checkpoint.strategy,
        'bv.checkpoint.offsets': checkpoint.offsets.map((o) => `${o.topic}[${o.partition}]@${o.nextOffset}`),
        'bv.checkpoint.records': (checkpoint.produced ?? []).reduce((sum, p) => sum + p.records, 0),
      },
    });
    span.end(end);
  });
  const unsubscribeLake = diagnostics.lakeCommit.subscribe((commit) => {
    const end = Date.now();
    const span = tracer.startSpan(`lake commit ${commit.writer}`, {
      kind: SpanKind.INTERNAL,
      startTime: end - commit.durationMs,
      links: linksFromTraceparents(commit.traceparents ?? []),
      attributes: {
        'db.system.name': 'duckdb',
        'db.operation.name': 'COMMIT',
        'bv.writer': commit.writer,
        'bv.lake.tables': Object.keys(commit.written),
        'bv.lake.rows': Object.values(commit.written).reduce((sum, rows) => sum + rows, 0),
        ...(commit.offsets
          ? { 'bv.lake.offsets': commit.offsets.map((o) => `${o.topic}[${o.partition}]@${o.nextOffset}`) }
          : {}),
      },
    });
    span.end(end);
  });
  return () => {
    unsubscribeCheckpoint();
    unsubscribeLake();
  };
}
