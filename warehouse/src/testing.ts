// The warehouse's test kit for every package's specs and benches (`@bitvelocity/warehouse/testing`).
import { randomUUID } from 'node:crypto';
import { loadPlatformConfig, type PlatformConfig } from '@bitvelocity/core';
import { DuckDb, openLake, sqlLiteral } from '@bitvelocity/lakehouse';

/**
 * A lake of the test's own (its own catalog database and data prefix) with Gold, Silver and bv_meta tables, so the
 * analyst path can be tested on real schemas named as in production without touching the shared lake.
 */
export interface AnalystTestLake {
  config: PlatformConfig;
  destroy(): Promise<void>;
}

const libpq = (value: string | number) => `'${String(value).replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'`;

async function adminDb(config: PlatformConfig): Promise<DuckDb> {
  const admin = await DuckDb.create(config, { extensions: ['postgres_scanner'] });
  const { host, port, user, password, database } = config.postgres;
  await admin.run(
    `ATTACH ${sqlLiteral(`host=${libpq(host)} port=${port} user=${libpq(user)} password=${libpq(password)} dbname=${libpq(database)}`)} AS pg (TYPE postgres)`,
  );
  return admin;
}

export async function createAnalystTestLake(name: string): Promise<AnalystTestLake> {
  const base = loadPlatformConfig();
  const id = `${name}_${randomUUID().replaceAll('-', '').slice(0, 10)}`;
  const catalogDatabase = `bv_test_${id}`;
  const config: PlatformConfig = {
    ...base,
    lake: { catalogDatabase, dataPath: `s3://${base.s3.bucket}/tests/${id}/` },
  };
  const admin = await adminDb(base);
  await admin.run(`CALL postgres_execute('pg', 'CREATE DATABASE ${catalogDatabase}', use_transaction => false)`);
  const lake = await openLake(config);
  try {
    await lake.run('CREATE SCHEMA gold; CREATE SCHEMA silver; CREATE SCHEMA bv_meta');
    await lake.run(`CREATE TABLE gold.daily_sales (
        day DATE, category VARCHAR, orders BIGINT, revenue DECIMAL(18,2), avg_order DOUBLE,
        first_order_at TIMESTAMPTZ, is_weekend BOOLEAN, top_products VARCHAR[], attributes JSON)`);
    await lake.run(`INSERT INTO gold.daily_sales
        SELECT DATE '2026-11-01' + (i % 30)::INT, ['books', 'games', 'tools'][1 + i % 3], 10 + i, (i * 12.5)::DECIMAL(18,2),
               i / 4.0, TIMESTAMPTZ '2026-11-01 08:00:00+00' + INTERVAL (i) MINUTE, i % 7 IN (5, 6),
               ['p-' || i, 'p-' || (i + 1)], ('{"rank": ' || i || '}')::JSON
          FROM range(1, 91) t(i)`);
    await lake.run(`COMMENT ON TABLE gold.daily_sales IS 'Sales per day and product category'`);
    await lake.run(`COMMENT ON COLUMN gold.daily_sales.revenue IS 'Revenue of the day, exact decimal, in EUR'`);
    await lake.run(`COMMENT ON COLUMN gold.daily_sales.category IS 'Product category'`);
    await lake.run(`CREATE TABLE silver.orders AS
        SELECT 'o-' || i AS order_id, 'c-' || (i % 10) AS customer_id, (i * 3.25)::DECIMAL(12,2) AS amount,
               ['created', 'paid', 'shipped'][1 + i % 3] AS status FROM range(1, 5001) t(i)`);
    await lake.run(`COMMENT ON TABLE silver.orders IS 'Orders, typed and deduplicated'`);
    await lake.run(`CREATE TABLE bv_meta.offsets AS SELECT 'orders' AS topic, 0 AS partition, 42 AS next_offset`);
  } finally {
    lake.close();
  }
  return {
    config,
    destroy: async () => {
      await admin
        .run(
          `CALL postgres_execute('pg', 'DROP DATABASE IF EXISTS ${catalogDatabase} WITH (FORCE)', use_transaction => false)`,
        )
        .catch(() => undefined);
      admin.close();
    },
  };
}
