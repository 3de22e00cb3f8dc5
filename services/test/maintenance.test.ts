import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate, runMaintenance } from '../src/index.js';
import { ownerUrl } from './harness.js';

const slotName = `bv_test_${randomUUID().slice(0, 8)}`;
const tenant = `t-${randomUUID().slice(0, 8)}`;
let owner: pg.Client;

async function insertOutboxRow(occurredAt: string): Promise<string> {
  const id = randomUUID();
  await owner.query(
    `INSERT INTO outbox (id, aggregate_type, aggregate_id, event_type, payload, occurred_at, trace_id, traceparent, partition_key, tenant_id)
     VALUES ($1::uuid, 'ecommerce.order', $1::text, 'ecommerce.order.created.v1', '{}', $2::timestamp, 't', 't', $1::text, $3)`,
    [id, occurredAt, tenant],
  );
  return id;
}

const remaining = async () =>
  (
    await owner.query<{ id: string }>('SELECT id FROM outbox WHERE tenant_id = $1 ORDER BY occurred_at', [tenant])
  ).rows.map((r) => r.id);

beforeAll(async () => {
  await migrate(ownerUrl);
  owner = new pg.Client(ownerUrl);
  await owner.connect();
  await owner.query("SELECT pg_create_logical_replication_slot($1, 'pgoutput')", [slotName]);
});
afterAll(async () => {
  await owner.query('SELECT pg_drop_replication_slot($1)', [slotName]).catch(() => undefined);
  await owner.query('DELETE FROM outbox WHERE tenant_id = $1', [tenant]);
  await owner.end();
});

describe('outbox retention', () => {
  it('deletes only rows the CDC slot has confirmed, and drops emptied old partitions', async () => {
    const oldMonth = await owner.query<{ month: string; name: string }>(
      "SELECT to_char(now() - interval '6 months', 'YYYY-MM-15') AS month, 'outbox_p' || to_char(now() - interval '6 months', 'YYYYMM') AS name",
    );
    const { month, name } = oldMonth.rows[0] ?? { month: '', name: '' };
    await owner.query("SELECT bv_ensure_month_partitions('outbox', $1::date, 1)", [month]);
    const old = await insertOutboxRow(`${month} 12:00:00`);
    const recent = await insertOutboxRow(
      new Date(Date.now() - 30 * 60_000).toISOString().replace('T', ' ').slice(0, 19),
    );
    const options = { slotName, safetyMarginSeconds: 3600 };

    const first = await runMaintenance(ownerUrl, options);
    expect(first).toMatchObject({ slotFound: true, publishedHorizon: null, outboxRowsDeleted: 0 });

    // The slot has not confirmed the mark yet: nothing may go.
    const unconfirmed = await runMaintenance(ownerUrl, options);
    expect(unconfirmed.publishedHorizon).toBeNull();
    expect(await remaining()).toEqual([old, recent]);

    // The consumer (Debezium) confirms everything written so far.
    await owner.query('SELECT pg_replication_slot_advance($1, pg_current_wal_lsn())', [slotName]);
    const confirmed = await runMaintenance(ownerUrl, options);
    expect(confirmed.publishedHorizon).toBeInstanceOf(Date);
    expect(await remaining()).toEqual([recent]); // younger than the safety margin before the horizon
    expect(confirmed.outboxPartitionsDropped).toContain(name);
    const exists = await owner.query('SELECT to_regclass($1) AS t', [name]);
    expect(exists.rows[0]?.t).toBeNull();
  });

  it('deletes nothing when there is no CDC slot', async () => {
    const id = await insertOutboxRow('2001-01-01 00:00:00');
    const report = await runMaintenance(ownerUrl, { slotName: 'no_such_slot', safetyMarginSeconds: 0 });
    expect(report).toMatchObject({ slotFound: false, publishedHorizon: null, outboxRowsDeleted: 0 });
    expect(await remaining()).toContain(id);
  });

  it('keeps monthly partitions created ahead', async () => {
    await runMaintenance(ownerUrl, { slotName: 'no_such_slot', monthsAhead: 3 });
    const { rows } = await owner.query<{ name: string }>(
      "SELECT 'orders_p' || to_char(now() + make_interval(months => m), 'YYYYMM') AS name FROM generate_series(0, 3) m",
    );
    for (const { name } of rows)
      expect((await owner.query('SELECT to_regclass($1) AS t', [name])).rows[0]?.t).toBe(name);
  });
});
