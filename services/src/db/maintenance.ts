import pg from 'pg';

export interface MaintenanceOptions {
  /** The logical replication slot Debezium reads the outbox through. */
  slotName: string;
  /** Only rows this much older than the confirmed mark are removed (covers transactions in flight at the mark). */
  safetyMarginSeconds?: number;
  /** Months of orders/outbox partitions kept created ahead of now. */
  monthsAhead?: number;
  /** Idempotency keys older than this are forgotten. */
  idempotencyTtlHours?: number;
}

export interface MaintenanceReport {
  /** Outbox rows older than this are known to be published; null while the slot has confirmed no mark yet. */
  publishedHorizon: Date | null;
  slotFound: boolean;
  outboxRowsDeleted: number;
  outboxPartitionsDropped: string[];
  partitionsCreated: number;
  idempotencyKeysExpired: number;
}

/**
 * Housekeeping for the services' database, run by `bv services maintain` (e.g. every few minutes):
 * - Outbox retention. Debezium does not write back what it published; the replication slot's confirmed LSN is the
 *   proof. Each run records a mark (WAL position, time) for the slot. Once the slot has confirmed a mark, every outbox row that
 *   committed before that mark was taken has been published: rows older than the mark minus a safety margin are
 *   deleted, and monthly partitions that lie wholly before it and are empty are dropped. Without the slot nothing is
 *   deleted: an outbox never loses an unpublished event.
 * - Monthly partitions of orders and outbox are created ahead of time.
 * - Idempotency keys past their TTL are forgotten.
 */
export async function runMaintenance(ownerUrl: string, options: MaintenanceOptions): Promise<MaintenanceReport> {
  const margin = options.safetyMarginSeconds ?? 300;
  const client = new pg.Client(ownerUrl);
  await client.connect();
  try {
    const report: MaintenanceReport = {
      publishedHorizon: null,
      slotFound: false,
      outboxRowsDeleted: 0,
      outboxPartitionsDropped: [],
      partitionsCreated: 0,
      idempotencyKeysExpired: 0,
    };
    const slot = await client.query<{ confirmed: string | null }>(
      'SELECT confirmed_flush_lsn::text AS confirmed FROM pg_replication_slots WHERE slot_name = $1',
      [options.slotName],
    );
    const confirmed = slot.rows[0]?.confirmed ?? null;
    report.slotFound = slot.rowCount === 1;
    if (confirmed) {
      const horizon = await client.query<{ taken_at: Date | null }>(
        'SELECT max(taken_at) AS taken_at FROM outbox_retention_marks WHERE slot_name = $1 AND wal_lsn <= $2::pg_lsn',
        [options.slotName, confirmed],
      );
      report.publishedHorizon = horizon.rows[0]?.taken_at ?? null;
    }
    if (report.publishedHorizon) {
      const cutoff = new Date(report.publishedHorizon.getTime() - margin * 1000);
      const deleted = await client.query(
        "DELETE FROM outbox WHERE occurred_at < ($1::timestamptz AT TIME ZONE 'UTC')",
        [cutoff],
      );
      report.outboxRowsDeleted = deleted.rowCount ?? 0;
      report.outboxPartitionsDropped = await dropEmptyPartitionsBefore(client, 'outbox', cutoff);
      await client.query('DELETE FROM outbox_retention_marks WHERE slot_name = $1 AND taken_at < $2', [
        options.slotName,
        report.publishedHorizon,
      ]);
    }
    if (report.slotFound) {
      await client.query(
        'INSERT INTO outbox_retention_marks (slot_name, taken_at, wal_lsn) VALUES ($1, clock_timestamp(), pg_current_wal_lsn())',
        [options.slotName],
      );
    }
    const months = options.monthsAhead ?? 3;
    for (const table of ['orders', 'outbox']) {
      const created = await client.query<{ n: number }>(
        "SELECT bv_ensure_month_partitions($1::regclass, date_trunc('month', now())::date, $2) AS n",
        [table, months + 1],
      );
      report.partitionsCreated += created.rows[0]?.n ?? 0;
    }
    const expired = await client.query(
      'DELETE FROM idempotency_keys WHERE created_at < now() - make_interval(hours => $1)',
      [options.idempotencyTtlHours ?? 24],
    );
    report.idempotencyKeysExpired = expired.rowCount ?? 0;
    return report;
  } finally {
    await client.end();
  }
}

/** Monthly partitions (<table>_pYYYYMM) whose whole range ends before `cutoff` and that hold no rows. */
async function dropEmptyPartitionsBefore(client: pg.Client, table: string, cutoff: Date): Promise<string[]> {
  const { rows } = await client.query<{ name: string }>(
    `SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
     WHERE i.inhparent = $1::regclass AND c.relname ~ ('^' || $1 || '_p[0-9]{6}$')
       AND (to_date(right(c.relname, 6), 'YYYYMM') + interval '1 month') <= ($2::timestamptz AT TIME ZONE 'UTC')
     ORDER BY 1`,
    [table, cutoff],
  );
  const dropped: string[] = [];
  for (const { name } of rows) {
    const { rowCount } = await client.query(`SELECT 1 FROM ${pg.escapeIdentifier(name)} LIMIT 1`);
    if (rowCount) continue;
    await client.query(`DROP TABLE ${pg.escapeIdentifier(name)}`);
    dropped.push(name);
  }
  return dropped;
}
