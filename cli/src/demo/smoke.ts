import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type PlatformConfig, postgresUrl } from '@bitvelocity/core';
import { openLake, sqlLiteral } from '@bitvelocity/lakehouse';
import { type GxValidationResult, runGreatExpectations } from '@bitvelocity/quality';
import { Admin, Consumer, Producer, stringDeserializers, stringSerializers } from '@platformatic/kafka';
import pg from 'pg';

export interface SmokeStep {
  name: string;
  seconds: number;
  outcome: string;
}

export interface SmokeReport {
  runId: string;
  orders: number;
  steps: SmokeStep[];
  ok: boolean;
}

interface OrderRow {
  order_id: string;
  customer_id: string;
  amount: string;
  created_at: Date;
}

interface LandedRecord {
  envelope: string;
  partition: number;
  offset: bigint;
}

const EVENT_TYPE = 'ecommerce.order.created.v1';

/**
 * The smoke run of `bv demo`: one batch of orders through every real component — Postgres rows, envelopes on a
 * Kafka topic, a consumer group reading them back, one DuckLake commit with their source coordinates, a DuckDB
 * consistency check against Postgres, and a Great Expectations suite on the Parquet. The CDC, stream and mart
 * issues replace its hand-written hops with the platform's connectors and jobs.
 */
export async function runSmoke(
  config: PlatformConfig,
  options: { orders: number; onStep?: (step: SmokeStep) => void },
): Promise<SmokeReport> {
  const runId = `${new Date()
    .toISOString()
    .replaceAll(/[-:.TZ]/g, '')
    .slice(0, 14)}-${randomUUID().slice(0, 8)}`;
  const topic = `bv.demo.orders.${runId}`;
  const steps: SmokeStep[] = [];
  let ok = true;
  const step = async (name: string, work: () => Promise<string>): Promise<void> => {
    const started = performance.now();
    let outcome: string;
    try {
      outcome = await work();
    } catch (error) {
      ok = false;
      outcome = `FAILED: ${error instanceof Error ? error.message : String(error)}`;
    }
    const done = { name, seconds: Math.round(performance.now() - started) / 1000, outcome };
    steps.push(done);
    options.onStep?.(done);
  };

  const scratch = mkdtempSync(join(tmpdir(), 'bv-demo-'));
  const postgres = new pg.Client(postgresUrl(config.postgres));
  const kafka = { bootstrapBrokers: config.kafka.bootstrapServers, clientId: 'bv-demo' };
  const admin = new Admin(kafka);
  let orders: OrderRow[] = [];
  const landed: LandedRecord[] = [];
  let gx: GxValidationResult | undefined;

  try {
    await postgres.connect();
    await step('postgres: write orders in one transaction', async () => {
      await postgres.query('BEGIN');
      await postgres.query(`CREATE SCHEMA IF NOT EXISTS demo`);
      await postgres.query(`CREATE TABLE IF NOT EXISTS demo.orders (
        order_id uuid PRIMARY KEY, run_id text NOT NULL, customer_id text NOT NULL,
        amount numeric(12,2) NOT NULL CHECK (amount > 0), created_at timestamptz NOT NULL DEFAULT now())`);
      const { rows } = await postgres.query<OrderRow>(
        `INSERT INTO demo.orders (order_id, run_id, customer_id, amount)
         SELECT gen_random_uuid(), $1, 'customer-' || (i % 50), round((5 + random() * 495)::numeric, 2)
         FROM generate_series(1, $2) AS i
         RETURNING order_id, customer_id, amount::text AS amount, created_at`,
        [runId, options.orders],
      );
      await postgres.query('COMMIT');
      orders = rows;
      return `${rows.length} orders committed (run ${runId})`;
    });

    await step('kafka: publish envelopes keyed by customer', async () => {
      await admin.createTopics({ topics: [topic], partitions: 3, replicas: 1 });
      const producer = new Producer({ ...kafka, serializers: stringSerializers });
      try {
        await producer.send({
          messages: orders.map((order) => ({
            topic,
            key: order.customer_id,
            value: JSON.stringify({
              eventId: randomUUID(),
              eventType: EVENT_TYPE,
              occurredAt: order.created_at.toISOString(),
              producer: 'bv-demo',
              traceId: randomUUID().replaceAll('-', ''),
              correlationId: runId,
              schemaVersion: 1,
              tenantId: 'demo',
              partitionKey: order.customer_id,
              payload: { orderId: order.order_id, customerId: order.customer_id, amount: order.amount },
            }),
            headers: { eventType: EVENT_TYPE },
          })),
        });
      } finally {
        await producer.close();
      }
      return `${orders.length} records on ${topic} (3 partitions)`;
    });

    await step('kafka: consume them back in a consumer group', async () => {
      const consumer = new Consumer({ ...kafka, groupId: `bv-demo-${runId}`, deserializers: stringDeserializers });
      try {
        const stream = await consumer.consume({
          topics: [topic],
          mode: 'earliest',
          autocommit: false,
          maxWaitTime: 200,
        });
        const deadline = setTimeout(() => stream.close(), 30_000);
        for await (const message of stream) {
          landed.push({ envelope: message.value, partition: message.partition, offset: message.offset });
          if (landed.length === orders.length) break;
        }
        clearTimeout(deadline);
        await stream.close();
      } finally {
        await consumer.close(true);
      }
      if (landed.length !== orders.length) throw new Error(`read ${landed.length} of ${orders.length} records`);
      const partitions = new Set(landed.map((r) => r.partition)).size;
      return `${landed.length} records from ${partitions} partitions`;
    });

    const lake = await openLake(config);
    try {
      await step('lake: land Bronze rows and their offsets in one DuckLake commit', async () => {
        const file = join(scratch, 'records.ndjson');
        writeFileSync(
          file,
          landed.map((r) => `{"envelope":${r.envelope},"partition":${r.partition},"offset":"${r.offset}"}`).join('\n'),
        );
        await lake.run('CREATE SCHEMA IF NOT EXISTS demo');
        await lake.run(`CREATE TABLE IF NOT EXISTS demo.orders_bronze (
          run_id VARCHAR, event_id VARCHAR, event_type VARCHAR, occurred_at TIMESTAMPTZ, payload JSON,
          _source_topic VARCHAR, _source_partition INTEGER, _source_offset BIGINT, _ingested_at TIMESTAMPTZ)`);
        await lake.run(
          `INSERT INTO demo.orders_bronze
           SELECT ${sqlLiteral(runId)}, envelope->>'eventId', envelope->>'eventType', (envelope->>'occurredAt')::TIMESTAMPTZ,
                  envelope->'payload', ${sqlLiteral(topic)}, partition, "offset"::BIGINT, now()
           FROM read_json(${sqlLiteral(file)}, columns = {envelope: 'JSON', partition: 'INTEGER', "offset": 'VARCHAR'})`,
        );
        const [snapshot] = await lake.rows<{ id: bigint }>(
          `SELECT max(snapshot_id) AS id FROM ducklake_snapshots('lake')`,
        );
        return `${landed.length} rows in lake.demo.orders_bronze, snapshot ${snapshot?.id}`;
      });

      await step('duckdb: the lake agrees with Postgres', async () => {
        const [lakeTotals] = await lake.rows<{ n: bigint; total: string; coordinates: bigint }>(
          `SELECT count(*) AS n, sum((payload->>'amount')::DECIMAL(14,2))::VARCHAR AS total,
                  count(DISTINCT (_source_partition, _source_offset)) AS coordinates
           FROM demo.orders_bronze WHERE run_id = ${sqlLiteral(runId)}`,
        );
        const { rows } = await postgres.query<{ n: string; total: string }>(
          'SELECT count(*) AS n, sum(amount)::text AS total FROM demo.orders WHERE run_id = $1',
          [runId],
        );
        const expected = rows[0];
        if (!lakeTotals || !expected) throw new Error('no totals');
        if (String(lakeTotals.n) !== expected.n || lakeTotals.total !== expected.total) {
          throw new Error(
            `lake has ${lakeTotals.n} orders / ${lakeTotals.total}, Postgres ${expected.n} / ${expected.total}`,
          );
        }
        if (lakeTotals.coordinates !== lakeTotals.n)
          throw new Error('duplicate (partition, offset) coordinates in Bronze');
        const top = await lake.rows<{ customer: string; revenue: string }>(
          `SELECT payload->>'customerId' AS customer, sum((payload->>'amount')::DECIMAL(14,2))::VARCHAR AS revenue
           FROM demo.orders_bronze WHERE run_id = ${sqlLiteral(runId)} GROUP BY 1 ORDER BY sum((payload->>'amount')::DECIMAL(14,2)) DESC LIMIT 3`,
        );
        const leaders = top.map((t) => `${t.customer} ${t.revenue}`).join(', ');
        return `${lakeTotals.n} orders, revenue ${lakeTotals.total} in both; top customers: ${leaders}`;
      });

      await step('quality: Great Expectations suite on the batch', async () => {
        const parquet = join(scratch, 'orders.parquet');
        await lake.run(
          `COPY (SELECT event_id, event_type, (payload->>'amount')::DOUBLE AS amount, _source_partition, _source_offset
                 FROM demo.orders_bronze WHERE run_id = ${sqlLiteral(runId)}) TO ${sqlLiteral(parquet)} (FORMAT parquet)`,
        );
        gx = await runGreatExpectations({
          python: config.gx.python,
          dataPath: parquet,
          suite: {
            name: 'demo_orders_bronze',
            expectations: [
              { type: 'expect_table_row_count_to_equal', kwargs: { value: orders.length } },
              { type: 'expect_column_values_to_not_be_null', kwargs: { column: 'event_id' } },
              { type: 'expect_column_values_to_be_unique', kwargs: { column: 'event_id' } },
              { type: 'expect_column_values_to_be_in_set', kwargs: { column: 'event_type', value_set: [EVENT_TYPE] } },
              {
                type: 'expect_column_values_to_be_between',
                kwargs: { column: 'amount', min_value: 0.01, max_value: 10000 },
              },
            ],
          },
        });
        if (!gx.success) throw new Error(`suite failed: ${JSON.stringify(gx.results.filter((r) => !r.success))}`);
        return `${gx.statistics.successful_expectations ?? gx.results.length}/${gx.results.length} expectations met (GX ${gx.gxVersion})`;
      });
    } finally {
      lake.close();
    }
  } finally {
    await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
    await admin.close();
    await postgres.end().catch(() => undefined);
    rmSync(scratch, { recursive: true, force: true });
  }
  return { runId, orders: options.orders, steps, ok };
}
