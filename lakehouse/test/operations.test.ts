import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { ConfigError, loadPlatformConfig } from '@bitvelocity/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  applyRetention,
  compact,
  DuckDb,
  expireSnapshots,
  listSnapshots,
  listTables,
  openLake,
  sqlLiteral,
} from '../src/index.js';
import type { LakeTableInfo } from '../src/maintenance/inspect.js';

const config = loadPlatformConfig();
const BV = fileURLToPath(new URL('../../cli/bin/bv.js', import.meta.url));
const DAY_MS = 24 * 60 * 60 * 1000;
const unique = () => randomUUID().replaceAll('-', '').slice(0, 16);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const ascending = (ids: number[]) => [...ids].sort((a, b) => a - b);

async function currentSnapshot(lake: DuckDb): Promise<number> {
  const [row] = await lake.rows<{ id: bigint }>(`SELECT id FROM ducklake_current_snapshot('lake')`);
  return Number(row?.id);
}

/** The table's rows as sorted JSON lines: equal when the two row sets are equal. */
async function rowSet(lake: DuckDb, sql: string): Promise<string[]> {
  const rows = await lake.rows(sql);
  return rows.map((row) => JSON.stringify(row, (_k, v) => (typeof v === 'bigint' ? String(v) : v))).sort();
}

describe('lake operations on the platform lake', () => {
  let lake: DuckDb;
  const schemas: string[] = [];
  const createSchema = async (name = `test_ops_${unique()}`) => {
    await lake.run(`CREATE SCHEMA ${name}`);
    schemas.push(name);
    return name;
  };

  beforeAll(async () => {
    lake = await openLake(config);
  });
  afterAll(async () => {
    for (const schema of schemas) await lake.run(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => undefined);
    lake.close();
  });

  it('lists every table with its rows, data files, bytes, partitioning and inlined rows', async () => {
    const schema = await createSchema();
    await lake.run(`CREATE TABLE ${schema}.events (id BIGINT, region VARCHAR, occurred_at TIMESTAMPTZ)`);
    await lake.run(`ALTER TABLE ${schema}.events SET PARTITIONED BY (region, month(occurred_at))`);
    await lake.run(
      `INSERT INTO ${schema}.events SELECT range, 'r' || (range % 2), TIMESTAMPTZ '2026-01-01' FROM range(200)`,
    );
    await lake.run(`INSERT INTO ${schema}.events VALUES (900, 'r0', now()), (901, 'r1', now())`); // small: inlined
    await lake.run(`CREATE TABLE ${schema}.empty (id BIGINT)`);
    const files = await lake.rows<{ data_file_size_bytes: bigint }>(
      `SELECT data_file_size_bytes FROM ducklake_list_files('lake', 'events', schema => '${schema}')`,
    );

    const tables = await listTables(lake, { schema });

    expect(tables).toEqual<LakeTableInfo[]>([
      {
        schema,
        table: 'empty',
        rows: 0,
        dataFiles: 0,
        dataFileBytes: 0,
        deleteFiles: 0,
        deleteFileBytes: 0,
        partitionedBy: [],
        inlinedRows: 0,
      },
      {
        schema,
        table: 'events',
        rows: 202,
        dataFiles: 2, // one per region
        dataFileBytes: files.reduce((sum, f) => sum + Number(f.data_file_size_bytes), 0),
        deleteFiles: 0,
        deleteFileBytes: 0,
        partitionedBy: ['region', 'month(occurred_at)'],
        inlinedRows: 2,
      },
    ]);
    expect(files).toHaveLength(2);
    const everywhere = await listTables(lake);
    expect(everywhere.filter((t) => t.schema === schema)).toEqual(tables);
  });

  it('lists snapshots newest first, each commit adding one with what it changed', async () => {
    const schema = await createSchema();
    const [before] = await listSnapshots(lake, { limit: 1 });
    await lake.run(`CREATE TABLE ${schema}.ledger (id BIGINT)`);
    await lake.run(`INSERT INTO ${schema}.ledger SELECT range FROM range(50)`);
    await lake.run(`INSERT INTO ${schema}.ledger SELECT range FROM range(50, 100)`);

    const snapshots = await listSnapshots(lake, { limit: 50 });
    const newer = snapshots.filter((s) => s.id > (before?.id ?? -1));

    expect(snapshots.map((s) => s.id)).toEqual([...snapshots.map((s) => s.id)].sort((a, b) => b - a));
    // Other tests commit to the same lake meanwhile: at least our three commits are new.
    expect(newer.length).toBeGreaterThanOrEqual(3);
    const created = newer.find((s) => s.changes.tables_created?.includes(`${schema}.ledger`));
    expect(created).toBeDefined();
    expect(newer.filter((s) => s.id > (created?.id ?? 0) && s.changes.tables_inserted_into).length).toBeGreaterThan(1);
    expect(created?.time).toBeInstanceOf(Date);
    expect(created?.time.getTime()).toBeGreaterThanOrEqual(before?.time.getTime() ?? 0);
  });

  it('compacts many small inserts into fewer files with the same rows, and time travel still sees the past', async () => {
    const schema = await createSchema();
    const table = `${schema}.clicks`;
    await lake.run(`CREATE TABLE ${table} (id BIGINT, page VARCHAR, clicked_at TIMESTAMPTZ)`);
    for (let batch = 0; batch < 12; batch++) {
      await lake.run(
        `INSERT INTO ${table} SELECT ${batch * 100} + range, 'page-' || (range % 7), TIMESTAMPTZ '2026-11-01' + to_minutes(range)
           FROM range(40)`,
      );
    }
    await lake.run(`INSERT INTO ${table} VALUES (5000, 'page-x', now()), (5001, 'page-y', now())`); // inlined
    const rowsBefore = await rowSet(lake, `SELECT * FROM ${table}`);
    const versionBefore = await currentSnapshot(lake);

    const report = await compact(lake, { schema, table: 'clicks' });

    expect(report.tables).toEqual([
      {
        schema,
        table: 'clicks',
        dataFilesBefore: 12,
        dataFilesAfter: 1,
        deleteFilesBefore: 0,
        deleteFilesAfter: 0,
        rowsFlushed: 2,
        filesRewritten: 0,
        filesMerged: 13, // the twelve inserts and the flushed inlined rows
      },
    ]);
    expect(await rowSet(lake, `SELECT * FROM ${table}`)).toEqual(rowsBefore);
    expect(await rowSet(lake, `SELECT * FROM ${table} AT (VERSION => ${versionBefore})`)).toEqual(rowsBefore);
    const [clicks] = await listTables(lake, { schema });
    expect(clicks).toMatchObject({ rows: 12 * 40 + 2, dataFiles: 1, inlinedRows: 0 });
  });

  it('rewrites files most of whose rows are deleted; files with fewer deletes merge only below the delete threshold', async () => {
    const schema = await createSchema();
    await lake.run(`CREATE TABLE ${schema}.sessions AS SELECT range AS id FROM range(1000)`);
    await lake.run(`DELETE FROM ${schema}.sessions WHERE id >= 20`); // 98% of the file's rows
    await lake.run(`CREATE TABLE ${schema}.visits (id BIGINT)`);
    for (let batch = 0; batch < 4; batch++) {
      await lake.run(`INSERT INTO ${schema}.visits SELECT ${batch * 100} + range FROM range(40)`);
    }
    await lake.run(`DELETE FROM ${schema}.visits WHERE id % 100 < 15`); // 37.5% of each file's rows
    const visits = await rowSet(lake, `SELECT * FROM ${schema}.visits`);

    const byDefault = await compact(lake, { schema });

    expect(byDefault.tables).toEqual([
      expect.objectContaining({ table: 'sessions', deleteFilesBefore: 1, deleteFilesAfter: 0, filesRewritten: 1 }),
      // DuckLake merges no file that has deletes, and 37.5% is below the default rewrite threshold (0.95).
      expect.objectContaining({ table: 'visits', dataFilesAfter: 4, deleteFilesAfter: 4, filesMerged: 0 }),
    ]);
    expect(await lake.rows(`SELECT count(*) AS n, min(id) AS lo, max(id) AS hi FROM ${schema}.sessions`)).toEqual([
      { n: 20n, lo: 0n, hi: 19n },
    ]);

    const lowerThreshold = await compact(lake, { schema, table: 'visits', deleteThreshold: 0.3 });

    expect(lowerThreshold.tables).toEqual([
      expect.objectContaining({ dataFilesBefore: 4, dataFilesAfter: 1, deleteFilesAfter: 0, filesRewritten: 4 }),
    ]);
    expect(await rowSet(lake, `SELECT * FROM ${schema}.visits`)).toEqual(visits);
  });

  it('applies retention per layer: deletes exactly the rows older than each layer keeps, by each table’s clock', async () => {
    const run = unique();
    const schemas = {
      bronze: await createSchema(`test_${run}_bronze`),
      silver: await createSchema(`test_${run}_silver`),
      gold: await createSchema(`test_${run}_gold`),
    };
    const now = new Date();
    const ago = (days: number) => sqlLiteral(new Date(now.getTime() - days * DAY_MS).toISOString());
    const ages = [0, 1, 6, 8, 29, 31, 45, 400]; // whole days, far from any cutoff whatever the time zone
    const values = (cast: string, other = '') => ages.map((age) => `(${age}, ${ago(age)}::${cast}${other})`).join(', ');
    // Bronze ages by ingestion: events that occurred long ago but arrived recently stay.
    await lake.run(
      `CREATE TABLE ${schemas.bronze}.envelopes (age INT, _ingested_at TIMESTAMPTZ, occurred_at TIMESTAMPTZ)`,
    );
    await lake.run(`INSERT INTO ${schemas.bronze}.envelopes VALUES ${values('TIMESTAMPTZ', `, ${ago(1000)}`)}`);
    // Silver ages by event time, even when rows were ingested just now.
    await lake.run(`CREATE TABLE ${schemas.silver}.orders (age INT, occurred_at TIMESTAMP, _ingested_at TIMESTAMPTZ)`);
    await lake.run(`INSERT INTO ${schemas.silver}.orders VALUES ${values('TIMESTAMP', ', now()')}`);
    await lake.run(`CREATE TABLE ${schemas.silver}.quarantine (age INT, _ingested_at TIMESTAMPTZ)`);
    await lake.run(`INSERT INTO ${schemas.silver}.quarantine VALUES ${values('TIMESTAMPTZ')}`);
    await lake.run(`CREATE TABLE ${schemas.silver}.payments (age INT, paid_on DATE)`);
    await lake.run(`INSERT INTO ${schemas.silver}.payments VALUES ${values('DATE')}`);
    await lake.run(`CREATE TABLE ${schemas.silver}.currencies (code VARCHAR)`);
    await lake.run(`INSERT INTO ${schemas.silver}.currencies VALUES ('EUR'), ('USD')`);
    await lake.run(`CREATE TABLE ${schemas.gold}.revenue_hourly (age INT, window_start TIMESTAMPTZ)`);
    await lake.run(`INSERT INTO ${schemas.gold}.revenue_hourly VALUES ${values('TIMESTAMPTZ')}`);
    const options = { schemas, now, timeColumns: { 'silver.payments': 'paid_on' } };
    const policy = { bronze: 7, silver: 30 }; // gold: kept forever

    const dryRun = await applyRetention(lake, policy, { ...options, dryRun: true });
    const report = await applyRetention(lake, policy, options);

    const expected = [
      { layer: 'bronze', schema: schemas.bronze, table: 'envelopes', timeColumn: '_ingested_at', rowsDeleted: 5 },
      { layer: 'silver', schema: schemas.silver, table: 'orders', timeColumn: 'occurred_at', rowsDeleted: 3 },
      { layer: 'silver', schema: schemas.silver, table: 'payments', timeColumn: 'paid_on', rowsDeleted: 3 },
      { layer: 'silver', schema: schemas.silver, table: 'quarantine', timeColumn: '_ingested_at', rowsDeleted: 3 },
    ];
    expect(dryRun.tables.map(({ cutoff: _c, ...t }) => t)).toEqual(expected);
    expect(report.tables.map(({ cutoff: _c, ...t }) => t)).toEqual(expected);
    expect(report.tables[0]?.cutoff).toEqual(new Date(now.getTime() - 7 * DAY_MS));
    expect(report.skipped).toEqual([
      { layer: 'silver', schema: schemas.silver, table: 'currencies', reason: expect.stringMatching(/no time column/) },
    ]);
    expect(report.layers.map((l) => [l.layer, l.schema, l.days, l.tables])).toEqual([
      ['bronze', schemas.bronze, 7, 1],
      ['silver', schemas.silver, 30, 4],
    ]);
    const agesLeft = async (table: string) =>
      (await lake.rows<{ age: number }>(`SELECT age FROM ${table} ORDER BY age`)).map((r) => r.age);
    expect(await agesLeft(`${schemas.bronze}.envelopes`)).toEqual([0, 1, 6]);
    for (const table of ['orders', 'payments', 'quarantine']) {
      expect(await agesLeft(`${schemas.silver}.${table}`)).toEqual([0, 1, 6, 8, 29]);
    }
    expect(dryRun.tables.map((t) => t.cutoff)).toEqual(report.tables.map((t) => t.cutoff));
    expect(await agesLeft(`${schemas.gold}.revenue_hourly`)).toEqual(ages);
    expect(await lake.rows(`SELECT count(*) AS n FROM ${schemas.silver}.currencies`)).toEqual([{ n: 2n }]);
  });

  it('refuses a retention policy that is not whole days', async () => {
    await expect(applyRetention(lake, { bronze: 0 })).rejects.toMatchObject({ code: 'LAKE_BAD_OPTION' });
    await expect(applyRetention(lake, { gold: 1.5 })).rejects.toMatchObject({ code: 'LAKE_BAD_OPTION' });
  });

  it('`bv lake tables --json` prints JSON that includes a table just created; bad flags fail with a code', async () => {
    const schema = await createSchema();
    await lake.run(`CREATE TABLE ${schema}.shipments AS SELECT range AS id FROM range(30)`);

    const { stdout } = await promisify(execFile)(process.execPath, [BV, 'lake', 'tables', '--json'], {
      timeout: 60_000,
    });
    const tables = JSON.parse(stdout) as LakeTableInfo[];
    expect(tables).toContainEqual(expect.objectContaining({ schema, table: 'shipments', rows: 30, dataFiles: 1 }));

    const failure = await promisify(execFile)(process.execPath, [BV, 'lake', 'expire', '--older-than', 'soon'], {
      timeout: 60_000,
    }).catch((error: { code: number; stderr: string }) => error);
    expect(failure).toMatchObject({ code: 1, stderr: expect.stringContaining('[LAKE_BAD_OPTION]') });
  });
});

describe('snapshot expiry, on a lake of its own (expiry is catalog-wide)', () => {
  const id = unique();
  const catalogDatabase = `bv_test_lake_${id}`;
  const dataPath = `s3://${config.s3.bucket}/tests/lake-ops-${id}/`;
  let admin: DuckDb;
  let lake: DuckDb;
  const objects = async () =>
    (await lake.rows<{ file: string }>(`SELECT file FROM glob(${sqlLiteral(`${dataPath}**`)})`)).map((r) => r.file);

  beforeAll(async () => {
    admin = await DuckDb.create(config, { extensions: ['postgres_scanner'] });
    const { host, port, user, password, database } = config.postgres;
    const libpq = (value: string | number) => `'${String(value).replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'`;
    const connection = `host=${libpq(host)} port=${port} user=${libpq(user)} password=${libpq(password)} dbname=${libpq(database)}`;
    await admin.run(`ATTACH ${sqlLiteral(connection)} AS pg (TYPE postgres)`);
    // CREATE DATABASE cannot run inside a transaction block.
    await admin.run(`CALL postgres_execute('pg', 'CREATE DATABASE ${catalogDatabase}', use_transaction => false)`);
    lake = await openLake({ ...config, lake: { catalogDatabase, dataPath } });
  });
  afterAll(async () => {
    lake?.close();
    await admin
      ?.run(
        `CALL postgres_execute('pg', 'DROP DATABASE IF EXISTS ${catalogDatabase} WITH (FORCE)', use_transaction => false)`,
      )
      .catch(() => undefined);
    admin?.close();
  });

  it('expires what is older than the cutoff: time travel to it fails, current rows stay, its files are deleted', async () => {
    await lake.run('CREATE TABLE orders (id BIGINT, amount DECIMAL(12,2))');
    await lake.run('INSERT INTO orders SELECT range, range * 1.5 FROM range(100)');
    const firstVersion = await currentSnapshot(lake);
    await lake.run('CREATE TABLE retired AS SELECT range AS id FROM range(100)');
    const retiredFiles = (
      await lake.rows<{ data_file: string }>(`SELECT data_file FROM ducklake_list_files('lake', 'retired')`)
    ).map((f) => f.data_file);
    await lake.run('DROP TABLE retired');
    await sleep(50);
    const cutoff = new Date();
    await sleep(50);
    await lake.run('INSERT INTO orders SELECT range, range * 1.5 FROM range(100, 150)');
    await lake.run('DELETE FROM orders WHERE id < 40');
    const current = await rowSet(lake, 'SELECT * FROM orders');
    const snapshots = await listSnapshots(lake, { limit: 100 });
    const old = ascending(snapshots.filter((s) => s.time < cutoff).map((s) => s.id));
    const kept = ascending(snapshots.filter((s) => s.time >= cutoff).map((s) => s.id));
    expect(old).toContain(firstVersion);
    expect(retiredFiles).toHaveLength(1);
    expect(await objects()).toEqual(expect.arrayContaining(retiredFiles));

    const nothing = await expireSnapshots(lake, { olderThan: new Date(0), fileGraceMs: 0 });
    expect(nothing.expired).toEqual([]);
    const dryRun = await expireSnapshots(lake, { olderThan: cutoff, dryRun: true });
    expect(dryRun.expired.map((s) => s.id)).toEqual(old);
    expect(await lake.rows(`SELECT count(*) AS n FROM orders AT (VERSION => ${firstVersion})`)).toEqual([{ n: 100n }]);

    const report = await expireSnapshots(lake, { olderThan: cutoff, fileGraceMs: 0 });

    expect(report.expired.map((s) => s.id)).toEqual(old);
    expect(report.newestKept).toMatchObject({ id: Math.max(...kept), olderThanCutoff: false });
    expect(ascending((await listSnapshots(lake, { limit: 100 })).map((s) => s.id))).toEqual(kept);
    await expect(lake.rows(`SELECT * FROM orders AT (VERSION => ${firstVersion})`)).rejects.toThrow(
      /No snapshot found/,
    );
    expect(await rowSet(lake, 'SELECT * FROM orders')).toEqual(current);
    expect(report.filesDeleted).toEqual(retiredFiles);
    const left = await objects();
    for (const file of retiredFiles) expect(left).not.toContain(file);
  });

  it('never expires the newest snapshot, and says so', async () => {
    const newest = await currentSnapshot(lake);

    const report = await expireSnapshots(lake, { olderThan: new Date(Date.now() + DAY_MS), fileGraceMs: 0 });

    expect(report.newestKept).toMatchObject({ id: newest, olderThanCutoff: true });
    expect(report.expired.map((s) => s.id)).not.toContain(newest);
    expect((await listSnapshots(lake)).map((s) => s.id)).toEqual([newest]);
    expect(await lake.rows('SELECT count(*) AS n FROM orders')).toEqual([{ n: 110n }]);
  });
});

describe('retention settings', () => {
  const base = { ...process.env };
  delete base.BV_LAKE_RETENTION_BRONZE_DAYS;
  delete base.BV_LAKE_RETENTION_SILVER_DAYS;
  delete base.BV_LAKE_RETENTION_GOLD_DAYS;

  it('reads days per layer from BV_LAKE_RETENTION_<LAYER>_DAYS, and none when unset', () => {
    expect(loadPlatformConfig(base).lake.retentionDays).toBeUndefined();
    const env = { ...base, BV_LAKE_RETENTION_BRONZE_DAYS: '14', BV_LAKE_RETENTION_GOLD_DAYS: '730' };
    expect(loadPlatformConfig(env).lake.retentionDays).toEqual({ bronze: 14, gold: 730 });
  });

  it.each(['0', '-3', '1.5', '7d', 'forever'])('rejects %j as a number of days with CONFIG_INVALID', (days) => {
    const load = () => loadPlatformConfig({ ...base, BV_LAKE_RETENTION_SILVER_DAYS: days });
    expect(load).toThrow(ConfigError);
    expect(load).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
  });
});
