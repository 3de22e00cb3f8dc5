import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { type AnalystTestLake, createAnalystTestLake } from '@bitvelocity/warehouse/testing';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addAnalystUser, startPgServer, verifiersFromFile } from '../src/index.js';
import type { PgServer } from '../src/wire/server.js';
import { psycopgPython } from './psycopg.js';

const run = promisify(execFile);
const PASSWORD = 'correct-horse-battery';

describe('the Postgres wire endpoint over the read-only lake', () => {
  let lake: AnalystTestLake;
  let dir: string;
  let server: PgServer;
  let tlsServer: PgServer;
  const client = (overrides: Partial<pg.ClientConfig> = {}) =>
    new pg.Client({
      host: '127.0.0.1',
      port: server.port,
      user: 'analyst',
      password: PASSWORD,
      database: 'lake',
      ...overrides,
    });
  const psql = (args: string[], env: Record<string, string> = {}) =>
    run('psql', [`host=127.0.0.1 port=${server.port} user=analyst dbname=lake sslmode=disable`, '-X', ...args], {
      env: { ...process.env, PGPASSWORD: PASSWORD, ...env },
      timeout: 60_000,
    }).catch((error: { code: number; stdout: string; stderr: string }) => error);

  beforeAll(async () => {
    lake = await createAnalystTestLake('wire');
    dir = mkdtempSync(join(tmpdir(), 'bv-wire-'));
    const usersFile = join(dir, 'pg-users.json');
    addAnalystUser('analyst', PASSWORD, usersFile);
    server = await startPgServer({
      config: lake.config,
      port: 0,
      verifiers: verifiersFromFile(usersFile),
      statementTimeoutMs: 20_000,
      rowLimit: 2000,
    });
    await run('openssl', [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=127.0.0.1',
      '-keyout',
      join(dir, 'key.pem'),
      '-out',
      join(dir, 'cert.pem'),
    ]);
    tlsServer = await startPgServer({
      config: lake.config,
      port: 0,
      verifiers: verifiersFromFile(usersFile),
      tls: { certFile: join(dir, 'cert.pem'), keyFile: join(dir, 'key.pem') },
    });
  });
  afterAll(async () => {
    await server?.close();
    await tlsServer?.close();
    rmSync(dir, { recursive: true, force: true });
    await lake?.destroy();
  });

  it('psql connects with SCRAM-SHA-256, lists the tables with \\dt and queries', async () => {
    const tables = await psql(['-c', '\\dt']);
    expect(tables.stdout).toMatch(/gold\s+\|\s+daily_sales\s+\|\s+table/);
    expect(tables.stdout).toMatch(/silver\s+\|\s+orders\s+\|\s+table/);
    expect(tables.stdout).not.toContain('bv_meta');
    const columns = await psql(['-c', '\\d+ gold.daily_sales']);
    expect(columns.stdout).toMatch(/revenue\s+\|\s+numeric\(18,2\).*Revenue of the day, exact decimal, in EUR/);
    const schemaTree = await psql([
      '-A',
      '-t',
      '-c',
      'SELECT table_schema, table_name FROM information_schema.tables ORDER BY 1, 2',
    ]);
    expect(schemaTree.stdout.trim().split('\n')).toEqual(['gold|daily_sales', 'silver|orders']);
    const version = await psql(['-A', '-t', '-c', 'SELECT version()']);
    expect(version.stdout).toMatch(/^PostgreSQL 15\.0 \(BitVelocity/);
    expect(columns.stdout).toMatch(/first_order_at\s+\|\s+timestamptz/);
    const query = await psql([
      '-A',
      '-t',
      '-c',
      'SELECT category, sum(revenue) FROM daily_sales GROUP BY 1 ORDER BY 1',
    ]);
    expect(query.stdout.trim().split('\n')).toEqual(['books|17437.50', 'games|16687.50', 'tools|17062.50']);
  });

  it('psql: a write is refused with SQLSTATE 25006 and a wrong password with 28P01', async () => {
    const write = await psql(['-v', 'VERBOSITY=verbose', '-c', 'DELETE FROM gold.daily_sales']);
    expect(write.stderr).toContain('ERROR:  25006');
    const wrong = await psql(['-c', 'SELECT 1'], { PGPASSWORD: 'not-the-password' });
    expect(wrong.stderr).toContain('password authentication failed for user "analyst"');
  });

  it('node pg: parameters through the extended protocol, and the types round-trip', async () => {
    const c = client();
    await c.connect();
    try {
      const result = await c.query(
        'SELECT day, category, orders, revenue, avg_order, first_order_at, is_weekend, top_products, attributes FROM daily_sales WHERE category = $1 AND orders > $2 ORDER BY day, orders LIMIT 1',
        ['books', 40],
      );
      expect(result.fields.map((f) => [f.name, f.dataTypeID])).toEqual([
        ['day', 1082],
        ['category', 25],
        ['orders', 20],
        ['revenue', 1700],
        ['avg_order', 701],
        ['first_order_at', 1184],
        ['is_weekend', 16],
        ['top_products', 1009],
        ['attributes', 114],
      ]);
      const row = result.rows[0];
      expect(row).toMatchObject({
        category: 'books',
        orders: '70',
        revenue: '750.00',
        avg_order: 15,
        is_weekend: false,
        top_products: ['p-60', 'p-61'],
        attributes: { rank: 60 },
      });
      expect((row.first_order_at as Date).toISOString()).toBe('2026-11-01T09:00:00.000Z');
      expect(row.day).toBeInstanceOf(Date);
      const types = await c.query(
        "SELECT 12345678901234::BIGINT AS big, 1.5::DECIMAL(10,3) AS dec, [1, NULL, 3] AS ints, ['a b', 'c\"d', NULL] AS words, NULL::INTEGER AS nothing, DATE '2026-01-02' AS d",
      );
      expect(types.rows[0]).toMatchObject({
        big: '12345678901234',
        dec: '1.500',
        ints: [1, null, 3],
        words: ['a b', 'c"d', null],
        nothing: null,
      });
    } finally {
      await c.end();
    }
  });

  it('node pg: a write is refused with 25006 and a wrong password with 28P01', async () => {
    const c = client();
    await c.connect();
    try {
      await expect(c.query('INSERT INTO silver.orders VALUES ($1, $2, 1, $3)', ['o', 'c', 'x'])).rejects.toMatchObject({
        code: '25006',
      });
      await expect(c.query("COPY (SELECT 1) TO '/tmp/bv-wire-evil.csv'")).rejects.toMatchObject({ code: '42501' });
      const after = await c.query('SELECT count(*)::INTEGER AS n FROM silver.orders');
      expect(after.rows).toEqual([{ n: 5000 }]);
    } finally {
      await c.end();
    }
    await expect(client({ password: 'wrong-password' }).connect()).rejects.toMatchObject({ code: '28P01' });
    await expect(client({ user: 'nobody' }).connect()).rejects.toMatchObject({ code: '28P01' });
  });

  it('node pg: statement timeout, cancellation and the row limit', async () => {
    const c = client();
    await c.connect();
    try {
      await c.query("SET statement_timeout = '300ms'");
      await expect(c.query('SELECT count(*) FROM range(5000000000) t(i) WHERE i % 7 = 3')).rejects.toMatchObject({
        code: '57014',
      });
      await c.query('RESET statement_timeout');
      const slow = c.query('SELECT count(*) FROM range(5000000000) t(i) WHERE i % 7 = 3');
      await new Promise((resolve) => setTimeout(resolve, 300));
      // A CancelRequest on a new connection, with the backend key the server gave this one (what libpq sends).
      const { processID, secretKey } = c as unknown as { processID: number; secretKey: number };
      await new Promise<void>((resolve, reject) => {
        const socket = connect(server.port, '127.0.0.1', () => {
          const packet = Buffer.alloc(16);
          packet.writeInt32BE(16, 0);
          packet.writeInt32BE(80877102, 4);
          packet.writeInt32BE(processID, 8);
          packet.writeInt32BE(secretKey, 12);
          socket.end(packet);
        });
        socket.on('close', () => resolve());
        socket.on('error', reject);
      });
      await expect(slow).rejects.toMatchObject({ code: '57014' });
      const limited = await c.query('SELECT * FROM silver.orders');
      expect(limited.rows).toHaveLength(2000);
    } finally {
      await c.end();
    }
  });

  it('serves 20 sessions at once, each its own connection', async () => {
    const clients = Array.from({ length: 20 }, () => client());
    await Promise.all(clients.map((c) => c.connect()));
    try {
      const counts = await Promise.all(
        clients.map((c, i) =>
          c.query('SELECT count(*)::INTEGER AS n FROM silver.orders WHERE amount >= $1', [i]).then((r) => r.rows[0].n),
        ),
      );
      expect(counts).toHaveLength(20);
      expect(counts[0]).toBe(5000);
      expect(new Set(counts).size).toBeGreaterThan(1);
    } finally {
      await Promise.all(clients.map((c) => c.end()));
    }
  });

  it('TLS: with a certificate configured, clients connect over TLS and plain connections are refused', async () => {
    const secure = new pg.Client({
      host: '127.0.0.1',
      port: tlsServer.port,
      user: 'analyst',
      password: PASSWORD,
      database: 'lake',
      ssl: { rejectUnauthorized: false },
    });
    await secure.connect();
    expect((await secure.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
    await secure.end();
    const plain = await run(
      'psql',
      [`host=127.0.0.1 port=${tlsServer.port} user=analyst dbname=lake sslmode=disable`, '-c', 'SELECT 1'],
      { env: { ...process.env, PGPASSWORD: PASSWORD } },
    ).catch((error: { stderr: string }) => error);
    expect(plain.stderr).toContain('requires TLS');
    const viaPsql = await run(
      'psql',
      [
        `host=127.0.0.1 port=${tlsServer.port} user=analyst dbname=lake sslmode=require`,
        '-A',
        '-t',
        '-c',
        'SELECT 41 + 1',
      ],
      { env: { ...process.env, PGPASSWORD: PASSWORD } },
    );
    expect(viaPsql.stdout.trim()).toBe('42');
  });

  it('Python psycopg: connect, list tables, parameters, types, 25006 and 28P01', async () => {
    const python = psycopgPython();
    const script = `
import json, sys, datetime, decimal, psycopg
dsn = sys.argv[1]
out = {}
with psycopg.connect(dsn) as conn:
    cur = conn.cursor()
    cur.execute("SELECT table_schema, table_name FROM information_schema.tables WHERE table_schema IN ('gold', 'silver') ORDER BY 1, 2")
    out["tables"] = [list(r) for r in cur.fetchall()]
    cur.execute("SELECT revenue, first_order_at, top_products, is_weekend FROM daily_sales WHERE category = %s AND orders = %s", ("books", 70))
    revenue, at, products, weekend = cur.fetchone()
    out["row"] = [str(revenue), type(revenue).__name__, at.isoformat(), products, weekend]
    try:
        cur.execute("UPDATE gold.daily_sales SET orders = 0")
    except psycopg.Error as e:
        out["write"] = e.sqlstate
try:
    psycopg.connect(dsn.replace("password=${PASSWORD}", "password=wrong-password")).close()
except psycopg.OperationalError as e:
    out["wrong_password"] = "password authentication failed" in str(e)
print(json.dumps(out))
`;
    const result = await run(
      python,
      [
        '-c',
        script,
        `host=127.0.0.1 port=${server.port} user=analyst password=${PASSWORD} dbname=lake sslmode=disable`,
      ],
      { timeout: 60_000 },
    );
    expect(JSON.parse(result.stdout)).toEqual({
      tables: [
        ['gold', 'daily_sales'],
        ['silver', 'orders'],
      ],
      row: ['750.00', 'Decimal', '2026-11-01T09:00:00+00:00', ['p-60', 'p-61'], false],
      write: '25006',
      wrong_password: true,
    });
  });
});
