import { BvError, diagnostics, type Envelope, EventSchemaRegistry } from '@bitvelocity/core';
import { retryOnConflict } from '../conflicts.js';
import type { DuckDb } from '../duckdb.js';
import { epochMillis, type LakeRow, StagingTables } from '../staging.js';
import { ensureTable, type LakeTable, qualifiedName } from '../tables.js';
import type {
  LakeTransform,
  PublishVerdict,
  TransformContext,
  TransformLag,
  TransformReport,
} from '../transform/contract.js';
import { BRONZE_ENVELOPES } from './bronze.js';
import { type SilverTables, silverRowsOf, silverTables } from './silver-tables.js';

export interface SilverOptions {
  /** The transform's name (registry, lineage, metrics); `silver` unless a test runs its own. */
  name?: string;
  bronze?: LakeTable;
  tables?: SilverTables;
  /** An event more than this far behind the latest event time seen before it on its topic is flagged late. */
  allowedOutOfOrderness?: number;
  /**
   * How far (ms) an event's occurredAt may be ahead of when Bronze ingested it; later ones are quarantined
   * (EVENT_TIME_OUT_OF_RANGE) and never move the lateness reference. Default one hour (clock skew, not the future).
   */
  maxEventTimeAhead?: number;
  /** Most Bronze rows one increment reads (and commits). */
  maxBatchRows?: number;
  registry?: EventSchemaRegistry;
}

/** One Silver increment: the contract's report plus Silver's own counters. */
export interface SilverBatchReport extends TransformReport {
  /** Rows landed per Silver event table (table name -> rows); quarantined rows are counted apart. */
  landed: Record<string, number>;
  quarantined: number;
  /** Valid events whose eventId Silver already had (or had earlier in the batch). */
  duplicates: number;
  late: number;
  /** The Bronze rowid Silver has read up to after this increment. */
  lastRowid: bigint;
  /** In the first report of a rebuild: the Silver rows it removed before deriving them again. */
  removed?: number;
}

type BronzeRow = {
  _rowid: bigint;
  envelope: string;
  event_id: string | null;
  event_type: string | null;
  _source_topic: string;
  _source_partition: number;
  _source_offset: bigint;
  _ingested_ms: bigint;
};

type Position = { lastRowid: bigint; maxOccurredAt: Map<string, number> };

const READ_POSITION = '';

/** Event times before this are out of range: no platform event is that old (a zero or seconds-as-ms timestamp). */
export const EARLIEST_EVENT_TIME = Date.parse('2000-01-01T00:00:00Z');

/** An eventId names one event on its topic: identity is (topic, eventId), whatever the key or partition. */
const identityOf = (topic: string, eventId: string) => `${topic}\u0000${eventId}`;

/** The envelope as canonical JSON (keys sorted), to tell a re-delivery (same content) from a conflicting duplicate. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value !== null && typeof value === 'object')
    return `{${Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  return JSON.stringify(value);
}

/** Staging for a batch's eventIds, to ask the Silver tables which of them they already hold. */
const CANDIDATE_IDS: LakeTable = { schema: 'temp', name: 'ids', columns: [{ name: 'event_id', type: 'VARCHAR' }] };

/** Thrown inside the lake transaction to roll a held increment back. */
class Held extends Error {
  constructor(readonly verdict: Extract<PublishVerdict, { action: 'hold' }>) {
    super(`held: ${verdict.reason}`);
  }
}

/**
 * Silver from Bronze, incrementally (a LakeTransform): each increment reads the Bronze rows after the last one it read
 * (in Bronze rowid order, which is commit order), validates each against its event schema, lands the first copy of
 * each eventId in its typed table and every invalid row in quarantine, and commits those rows with its new read
 * position in one DuckLake transaction. Every decision depends only on the Bronze rows before a row, in rowid order
 * (the eventIds already in Silver, the latest event time per topic), so the result does not depend on batch
 * boundaries: rebuilding from any point gives the same rows as the incremental path did.
 */
export class SilverRefresher implements LakeTransform<SilverBatchReport> {
  readonly name: string;
  readonly inputs: readonly LakeTable[];
  readonly outputs: readonly LakeTable[];
  private readonly registry: EventSchemaRegistry;
  private readonly allowedOutOfOrderness: number;
  private readonly maxEventTimeAhead: number;
  private readonly maxBatchRows: number;
  private readonly eventTables: LakeTable[];

  private constructor(
    private readonly lake: DuckDb,
    private readonly bronze: LakeTable,
    private readonly tables: SilverTables,
    private readonly staging: StagingTables,
    options: SilverOptions,
  ) {
    this.name = options.name ?? 'silver';
    this.registry = options.registry ?? EventSchemaRegistry.load();
    this.allowedOutOfOrderness = options.allowedOutOfOrderness ?? 5_000;
    this.maxEventTimeAhead = options.maxEventTimeAhead ?? 3_600_000;
    this.maxBatchRows = options.maxBatchRows ?? 100_000;
    this.eventTables = [
      tables.orders,
      tables.orderLines,
      tables.products,
      tables.customers,
      tables.devices,
      tables.deviceReadings,
    ];
    this.inputs = [bronze];
    this.outputs = [...this.eventTables, tables.quarantine];
  }

  static async create(lake: DuckDb, options: SilverOptions = {}): Promise<SilverRefresher> {
    const bronze = options.bronze ?? BRONZE_ENVELOPES;
    const tables = options.tables ?? silverTables();
    await ensureTable(lake, bronze);
    const all = [
      tables.orders,
      tables.orderLines,
      tables.products,
      tables.customers,
      tables.devices,
      tables.deviceReadings,
      tables.quarantine,
    ];
    for (const table of [...all, tables.progress]) await ensureTable(lake, table);
    const staging = await StagingTables.create(lake, [...all, CANDIDATE_IDS]);
    return new SilverRefresher(lake, bronze, tables, staging, options);
  }

  /** Reads and lands at most one batch of Bronze rows (see LakeTransform.runOnce). */
  async runOnce(context: TransformContext = {}): Promise<SilverBatchReport> {
    return retryOnConflict(() => this.increment(context));
  }

  private async increment(context: TransformContext): Promise<SilverBatchReport> {
    const started = performance.now();
    const position = await this.position();
    const bronze = await this.lake.rows<BronzeRow>(
      `SELECT rowid AS _rowid, envelope, event_id, event_type, _source_topic, _source_partition, _source_offset,
              epoch_ms(_ingested_at) AS _ingested_ms
         FROM ${qualifiedName(this.bronze)} WHERE rowid > $1 ORDER BY rowid LIMIT ${this.maxBatchRows}`,
      [position.lastRowid],
    );
    const lastRowid = bronze.at(-1)?._rowid ?? position.lastRowid;
    const report: SilverBatchReport = {
      transform: this.name,
      read: bronze.length,
      written: {},
      position: String(lastRowid),
      published: true,
      durationMs: 0,
      landed: {},
      quarantined: 0,
      duplicates: 0,
      late: 0,
      lastRowid,
    };
    if (bronze.length === 0) return { ...report, durationMs: performance.now() - started };

    const quarantine: LakeRow[] = [];
    const valid: { row: BronzeRow; envelope: Envelope }[] = [];
    for (const row of bronze) {
      const outcome = this.classify(row);
      if ('reason' in outcome) quarantine.push({ ...lineageOf(row), ...outcome });
      else valid.push({ row, envelope: outcome.envelope });
    }
    // The first copy of each (topic, eventId) is the event; a later copy is a re-delivery when its content is the
    // same (dropped, counted) and a conflicting duplicate when it is not (quarantined: never dropped silently).
    const known = await this.existingEvents(valid.map((v) => v.row));
    const byTable = new Map<LakeTable, LakeRow[]>();
    const maxOccurredAt = new Map(position.maxOccurredAt);
    for (const { row, envelope } of valid) {
      const identity = identityOf(row._source_topic, envelope.eventId);
      const first = known.get(identity);
      if (first) {
        if (first.content === canonical(envelope)) {
          report.duplicates++;
        } else {
          quarantine.push({
            ...lineageOf(row),
            event_id: envelope.eventId,
            event_type: envelope.eventType,
            reason_code: 'CONFLICTING_DUPLICATE',
            reason: `eventId ${envelope.eventId} was first seen at ${first.at} with different content; an eventId names one event on its topic`,
            envelope: row.envelope,
          });
        }
        continue;
      }
      const routed = silverRowsOf(envelope, this.tables);
      if (routed.length === 0) {
        quarantine.push({
          ...lineageOf(row),
          event_id: envelope.eventId,
          event_type: envelope.eventType,
          reason_code: 'UNROUTED',
          reason: `Silver has no table for ${envelope.eventType}`,
          envelope: row.envelope,
        });
        continue;
      }
      known.set(identity, {
        content: canonical(envelope),
        at: `${row._source_topic}[${row._source_partition}]@${row._source_offset} (Bronze row ${row._rowid})`,
      });
      const occurredAt = epochMillis(envelope.occurredAt) ?? 0;
      const latest = maxOccurredAt.get(row._source_topic) ?? Number.NEGATIVE_INFINITY;
      const lateness = Math.max(0, latest - occurredAt);
      const isLate = lateness > this.allowedOutOfOrderness;
      if (isLate) report.late++;
      if (occurredAt > latest) maxOccurredAt.set(row._source_topic, occurredAt);
      for (const [table, values] of routed) {
        const list = byTable.get(table) ?? [];
        list.push({ ...values, ...lineageOf(row), _lateness_ms: lateness, _is_late: isLate });
        byTable.set(table, list);
      }
    }
    report.quarantined = quarantine.length;
    if (quarantine.length > 0) byTable.set(this.tables.quarantine, quarantine);
    for (const [table, rows] of byTable) {
      report.written[qualifiedName(table)] = rows.length;
      if (table !== this.tables.quarantine) report.landed[table.name] = rows.length;
    }

    try {
      for (const [table, rows] of byTable) await this.staging.stage(table, rows);
      await this.lake.transaction(async () => {
        // One refresher at a time: a position that moved since it was read means another one landed this batch.
        const now = await this.position();
        if (now.lastRowid !== position.lastRowid)
          throw new BvError('LAKE_COMMIT_CONFLICT', `${this.name} moved on meanwhile (another refresher landed)`, {
            retriable: true,
          });
        for (const table of byTable.keys()) await this.staging.insertInto(table);
        await this.savePosition(lastRowid, maxOccurredAt);
        if (context.beforePublish) {
          const verdict = await context.beforePublish({
            transform: this.name,
            lake: this.lake,
            outputs: [...byTable].map(([table, rows]) => ({
              table,
              increment: `(SELECT * FROM ${qualifiedName(table)} WHERE _bronze_rowid > ${position.lastRowid} AND _bronze_rowid <= ${lastRowid})`,
              rows: rows.length,
            })),
          });
          if (verdict.action === 'hold') throw new Held(verdict);
        }
      });
    } catch (error) {
      if (!(error instanceof Held)) throw error;
      await error.verdict.afterRollback?.();
      return {
        ...report,
        position: String(position.lastRowid),
        lastRowid: position.lastRowid,
        published: false,
        heldReason: error.verdict.reason,
        durationMs: performance.now() - started,
      };
    } finally {
      await this.staging.clear();
    }
    const durationMs = performance.now() - started;
    diagnostics.lakeCommit.publish({
      writer: this.name,
      written: report.written,
      position: report.position,
      durationMs,
    });
    return { ...report, durationMs };
  }

  /**
   * Rebuilds Silver from the Bronze rows ingested at or after `from` (all of them when omitted): removes what Silver
   * derived from them, moves the read position back to just before the first of them, and runs increments until
   * caught up. Rows derived from earlier Bronze rows stay.
   */
  async rebuild(from: Date = new Date(0), context: TransformContext = {}): Promise<SilverBatchReport[]> {
    const [first] = await this.lake.rows<{ rowid: bigint | null }>(
      `SELECT min(rowid) AS rowid FROM ${qualifiedName(this.bronze)} WHERE _ingested_at >= $1::TIMESTAMPTZ`,
      [from.toISOString()],
    );
    let removed = 0;
    if (first?.rowid !== null && first?.rowid !== undefined) {
      const boundary = first.rowid;
      await retryOnConflict(async () => {
        removed = 0;
        await this.lake.transaction(async () => {
          for (const table of this.outputs) {
            const [counted] = await this.lake.rows<{ n: bigint }>(
              `SELECT count(*) AS n FROM ${qualifiedName(table)} WHERE _bronze_rowid >= $1`,
              [boundary],
            );
            removed += Number(counted?.n ?? 0n);
            await this.lake.run(`DELETE FROM ${qualifiedName(table)} WHERE _bronze_rowid >= $1`, [boundary]);
          }
          const latest = await this.lake.rows<{ topic: string; max_occurred_at: bigint }>(
            `SELECT _bronze_topic AS topic, epoch_ms(max(occurred_at)) AS max_occurred_at FROM (${this.eventTables
              .map((t) => `SELECT _bronze_topic, occurred_at FROM ${qualifiedName(t)}`)
              .join(' UNION ALL ')}) GROUP BY 1`,
          );
          const maxOccurredAt = new Map(latest.map((r) => [r.topic, Number(r.max_occurred_at)]));
          await this.lake.run(`DELETE FROM ${qualifiedName(this.tables.progress)}`);
          await this.savePosition(boundary - 1n, maxOccurredAt, true);
        });
      });
    }
    const reports: SilverBatchReport[] = [];
    for (;;) {
      const report = await this.runOnce(context);
      reports.push(report);
      if (report.read < this.maxBatchRows || !report.published || context.signal?.aborted) break;
    }
    const [firstReport] = reports;
    if (firstReport) firstReport.removed = removed;
    return reports;
  }

  /** Where Silver stands against Bronze: its read position, the Bronze rows after it, and their ingestion times. */
  async lag(): Promise<TransformLag> {
    const { lastRowid } = await this.position();
    const [row] = await this.lake.rows<{ pending: bigint; consumed: bigint | null; newest: bigint | null }>(
      `SELECT count(*) FILTER (WHERE rowid > $1) AS pending,
              epoch_ms(max(_ingested_at) FILTER (WHERE rowid <= $1)) AS consumed,
              epoch_ms(max(_ingested_at)) AS newest
         FROM ${qualifiedName(this.bronze)}`,
      [lastRowid],
    );
    return {
      position: String(lastRowid),
      pendingRows: Number(row?.pending ?? 0n),
      ...(row?.consumed != null ? { consumedUpTo: new Date(Number(row.consumed)) } : {}),
      ...(row?.newest != null ? { inputUpTo: new Date(Number(row.newest)) } : {}),
    };
  }

  private classify(row: BronzeRow): { envelope: Envelope } | (LakeRow & { reason: string }) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(row.envelope);
    } catch (error) {
      return {
        event_id: row.event_id,
        event_type: row.event_type,
        reason_code: 'UNDECODABLE',
        reason: `not JSON: ${(error as Error).message}`,
        envelope: row.envelope,
      };
    }
    const outcome = this.registry.validate(parsed);
    if (!outcome.valid) {
      const violations = outcome.violations.slice(0, 3).map((v) => `${v.path || '/'} ${v.message}`);
      return {
        event_id: row.event_id,
        event_type: row.event_type,
        reason_code: 'SCHEMA_VIOLATION',
        reason: `${outcome.violations.length} schema violation(s): ${violations.join('; ')}`,
        envelope: row.envelope,
      };
    }
    const envelope = parsed as Envelope;
    // Event-time tolerance: a far-future (or pre-2000) occurredAt would become every later event's lateness reference.
    // Measured against when Bronze ingested the row, not the clock of the refresh, so a rebuild decides the same.
    const occurredAt = Date.parse(envelope.occurredAt);
    const ingestedAt = Number(row._ingested_ms);
    if (!(occurredAt >= EARLIEST_EVENT_TIME) || occurredAt > ingestedAt + this.maxEventTimeAhead) {
      return {
        event_id: row.event_id,
        event_type: row.event_type,
        reason_code: 'EVENT_TIME_OUT_OF_RANGE',
        reason:
          occurredAt >= EARLIEST_EVENT_TIME
            ? `occurredAt ${envelope.occurredAt} is ${occurredAt - ingestedAt} ms after its ingestion at ${new Date(ingestedAt).toISOString()}; at most ${this.maxEventTimeAhead} ms are tolerated`
            : `occurredAt ${envelope.occurredAt} is before ${new Date(EARLIEST_EVENT_TIME).toISOString()}`,
        envelope: row.envelope,
      };
    }
    return { envelope };
  }

  /** The first copies Silver already holds of these rows' (topic, eventId), with their content and coordinates. */
  private async existingEvents(rows: BronzeRow[]): Promise<Map<string, { content: string; at: string }>> {
    const found = new Map<string, { content: string; at: string }>();
    const ids = [...new Set(rows.map((r) => r.event_id).filter((id): id is string => id !== null))];
    if (ids.length === 0) return found;
    try {
      await this.staging.stage(
        CANDIDATE_IDS,
        ids.map((event_id) => ({ event_id })),
      );
      const staged = this.staging.stagedName(CANDIDATE_IDS);
      const firsts = await this.lake.rows<{
        event_id: string;
        topic: string;
        partition: number;
        offset: bigint;
        rowid: bigint;
        envelope: string;
      }>(
        `SELECT f.event_id, f._bronze_topic AS topic, f._bronze_partition AS partition, f._bronze_offset AS offset,
                f._bronze_rowid AS rowid, b.envelope
           FROM (${this.eventTables
             .filter((t) => t !== this.tables.orderLines) // an order's lines share its eventId, which orders has
             .map(
               (t) =>
                 `SELECT event_id, _bronze_topic, _bronze_partition, _bronze_offset, _bronze_rowid FROM ${qualifiedName(t)} WHERE event_id IN (SELECT event_id FROM ${staged})`,
             )
             .join(' UNION ALL ')}) f
           JOIN ${qualifiedName(this.bronze)} b ON b.rowid = f._bronze_rowid`,
      );
      for (const first of firsts) {
        let content: string;
        try {
          content = canonical(JSON.parse(first.envelope));
        } catch {
          content = first.envelope;
        }
        found.set(identityOf(first.topic, first.event_id), {
          content,
          at: `${first.topic}[${first.partition}]@${first.offset} (Bronze row ${first.rowid})`,
        });
      }
      return found;
    } finally {
      await this.staging.clear();
    }
  }

  private async position(): Promise<Position> {
    const rows = await this.lake.rows<{ topic: string; last_rowid: bigint | null; max_occurred_at: bigint | null }>(
      `SELECT topic, last_rowid, epoch_ms(max_occurred_at) AS max_occurred_at FROM ${qualifiedName(this.tables.progress)}`,
    );
    const maxOccurredAt = new Map<string, number>();
    let lastRowid = -1n;
    for (const row of rows) {
      if (row.topic === READ_POSITION) lastRowid = row.last_rowid ?? -1n;
      else if (row.max_occurred_at !== null) maxOccurredAt.set(row.topic, Number(row.max_occurred_at));
    }
    return { lastRowid, maxOccurredAt };
  }

  /** Rewrites the progress table (a handful of rows; inlined in the catalog). */
  private async savePosition(lastRowid: bigint, maxOccurredAt: Map<string, number>, cleared = false): Promise<void> {
    const table = qualifiedName(this.tables.progress);
    if (!cleared) await this.lake.run(`DELETE FROM ${table}`);
    const values = [`('${READ_POSITION}', ${lastRowid}, NULL)`];
    for (const [topic, millis] of maxOccurredAt) {
      const at = new Date(millis).toISOString();
      values.push(`('${topic.replaceAll("'", "''")}', NULL, '${at}'::TIMESTAMPTZ)`);
    }
    await this.lake.run(`INSERT INTO ${table} VALUES ${values.join(', ')}`);
  }
}

function lineageOf(row: BronzeRow): LakeRow {
  return {
    _bronze_topic: row._source_topic,
    _bronze_partition: row._source_partition,
    _bronze_offset: row._source_offset,
    _bronze_rowid: row._rowid,
    _ingested_at: Number(row._ingested_ms),
  };
}
