import { BvError } from '@bitvelocity/core';
import {
  type DuckDb,
  describeTable,
  ensureTable,
  GOLD_TABLES,
  type LakeTable,
  type LakeTransform,
  type PendingIncrement,
  qualifiedName,
  retryOnConflict,
  type SilverTables,
  silverTables,
  sqlLiteral,
  type TransformContext,
  type TransformLag,
  type TransformReport,
} from '@bitvelocity/lakehouse';
import {
  CORRECTION_EVENT_TYPE,
  type CorrectionPublisher,
  correctionEnvelope,
  type OrderFactCorrected,
  type PeriodCorrection,
  uuidFrom,
} from './corrections.js';
import { type ModelContext, type ModelName, memberKeySql, modelSql } from './models.js';
import {
  INFERRED_VALID_FROM,
  OPEN_VALID_TO,
  UNKNOWN_KEY,
  type WarehouseTables,
  warehouseInputs,
  warehouseTables,
} from './tables.js';

export interface WarehouseOptions {
  lake: DuckDb;
  /** The Silver tables it builds from (`silver.*` by default). */
  silver?: SilverTables;
  /** The schema of the warehouse's Gold tables (`gold` by default). */
  schema?: string;
  /** The z-score anomaly table the dashboard mart reads (gold.anomalies); skipped while it does not exist. */
  anomalies?: LakeTable;
  /** Where correction events for late facts go; without one they stay unsent in fact_corrections. */
  corrections?: CorrectionPublisher;
}

export interface WarehouseReport extends TransformReport {
  mode: 'incremental' | 'full';
  buildSeq?: number;
  lateFacts: number;
  correctionsSent: number;
  /** Milliseconds per step of the build (insert:<table>, temp:<set>, delete), for benchmarks. */
  steps: Record<string, number>;
  /** CPU milliseconds of this process (every DuckDB thread) per step, less distorted by other load than `steps`. */
  stepsCpu: Record<string, number>;
}

export type BuildRecord = {
  build_seq: bigint;
  mode: string;
  started_at: Date;
  finished_at: Date;
  silver_position: bigint;
  silver_snapshot_id: bigint;
  silver_rows_read: bigint;
  published_up_to: Date | null;
  late_facts: number;
  rows_written: string;
};

export interface WarehouseStatus {
  lastBuild?: {
    buildSeq: number;
    mode: string;
    finishedAt: string;
    silverPosition: string;
    silverSnapshotId: string;
    publishedUpTo: string | null;
    lateFacts: number;
  };
  lag: { pendingRows: number; consumedUpTo?: string; inputUpTo?: string };
  rows: Record<string, number>;
  unsentCorrections: number;
}

const ROWID_MIN = -1n;

/**
 * The warehouse as a lake transform: SCD2 dimensions, facts and marts in Gold from the Silver tables. A build reads
 * what Silver committed after the position the previous build recorded, finds the natural keys and orders it touches,
 * and recomputes exactly those from all their Silver rows (dimension chains re-cut set-wise with window functions,
 * facts re-resolved against the re-cut chains, marts recomputed for the periods, customers and products touched).
 * Because a build recomputes whole chains and whole periods, an incremental build gives the rows a full build gives.
 * One build is one lake transaction: its rows, its corrections and its new Silver position commit together.
 */
export class Warehouse implements LakeTransform<WarehouseReport> {
  readonly name = 'warehouse';
  readonly inputs: readonly LakeTable[];
  readonly outputs: readonly LakeTable[];
  readonly tables: WarehouseTables;
  private readonly lake: DuckDb;
  private readonly silver: SilverTables;
  private readonly anomalies: LakeTable;
  private readonly publisher: CorrectionPublisher | undefined;

  private constructor(options: WarehouseOptions) {
    this.lake = options.lake;
    this.silver = options.silver ?? silverTables();
    this.tables = warehouseTables(options.schema ?? 'gold');
    this.anomalies = options.anomalies ?? GOLD_TABLES.anomalies;
    this.publisher = options.corrections;
    this.inputs = warehouseInputs(this.silver);
    this.outputs = Object.values(this.tables);
  }

  /** Creates the Gold tables (and the Silver ones it reads, if missing) with their descriptions. */
  static async create(options: WarehouseOptions): Promise<Warehouse> {
    const warehouse = new Warehouse(options);
    for (const table of warehouse.inputs) await ensureTable(options.lake, table);
    for (const table of warehouse.outputs) {
      await ensureTable(options.lake, table);
      await describeTable(options.lake, table);
    }
    return warehouse;
  }

  private get context(): Omit<ModelContext, 'position' | 'full'> {
    return { gold: this.tables.dimProduct.schema, silver: this.silver.orders.schema };
  }

  runOnce(context: TransformContext = {}): Promise<WarehouseReport> {
    return this.build('incremental', context);
  }

  /**
   * A full build: every Gold row recomputed from all of Silver, in one transaction. `from` is deliberately not used:
   * the warehouse has no event-time cut below which its rows are independent of older data. An SCD2 version's key,
   * attributes and number depend on every earlier event of its chain (a price change carries only the price); a fact
   * at any time resolves to the version started before it, possibly years earlier; fact_order folds every event of an
   * order whatever its time; the lifetime-value and price-history marts span all time. A rebuild "from T" would have
   * to re-read all of history anyway to be right, so it is the full build. (An incremental build already recomputes
   * only the orders at or after the instant a changed chain can differ.)
   */
  async rebuild(_from?: Date, context: TransformContext = {}): Promise<WarehouseReport[]> {
    return [await this.build('full', context)];
  }

  async lastBuild(): Promise<BuildRecord | undefined> {
    const [row] = await this.lake.rows<BuildRecord>(
      `SELECT * FROM ${qualifiedName(this.tables.builds)} ORDER BY build_seq DESC LIMIT 1`,
    );
    return row;
  }

  private maxRowidSql(): string {
    return `SELECT coalesce(max(m), ${ROWID_MIN}) AS position FROM (${this.inputs
      .map((t) => `SELECT max(_bronze_rowid) AS m FROM ${qualifiedName(t)}`)
      .join(' UNION ALL ')})`;
  }

  async lag(): Promise<TransformLag> {
    const last = await this.lastBuild();
    const position = last?.silver_position ?? ROWID_MIN;
    const [pending] = await this.lake.rows<{ pending: bigint; input_up_to: Date | null; consumed_up_to: Date | null }>(
      `SELECT sum(n) AS pending, max(newest) AS input_up_to, max(consumed) AS consumed_up_to FROM (${this.inputs
        .map(
          (t) =>
            `SELECT count(*) FILTER (WHERE _bronze_rowid > ${position}) AS n, max(occurred_at) AS newest,
                    max(occurred_at) FILTER (WHERE _bronze_rowid <= ${position}) AS consumed FROM ${qualifiedName(t)}`,
        )
        .join(' UNION ALL ')})`,
    );
    return {
      position: position.toString(),
      pendingRows: Number(pending?.pending ?? 0),
      ...(pending?.consumed_up_to ? { consumedUpTo: new Date(pending.consumed_up_to) } : {}),
      ...(pending?.input_up_to ? { inputUpTo: new Date(pending.input_up_to) } : {}),
    };
  }

  async status(): Promise<WarehouseStatus> {
    const last = await this.lastBuild();
    const lag = await this.lag();
    const rows: Record<string, number> = {};
    for (const table of this.outputs) {
      const [r] = await this.lake.rows<{ n: bigint }>(`SELECT count(*) AS n FROM ${qualifiedName(table)}`);
      rows[qualifiedName(table)] = Number(r?.n ?? 0);
    }
    const [unsent] = await this.lake.rows<{ n: bigint }>(
      `SELECT count(*) AS n FROM ${qualifiedName(this.tables.corrections)} WHERE NOT sent`,
    );
    return {
      ...(last
        ? {
            lastBuild: {
              buildSeq: Number(last.build_seq),
              mode: last.mode,
              finishedAt: new Date(last.finished_at).toISOString(),
              silverPosition: last.silver_position.toString(),
              silverSnapshotId: last.silver_snapshot_id.toString(),
              publishedUpTo: last.published_up_to ? new Date(last.published_up_to).toISOString() : null,
              lateFacts: last.late_facts,
            },
          }
        : {}),
      lag: {
        pendingRows: lag.pendingRows,
        ...(lag.consumedUpTo ? { consumedUpTo: lag.consumedUpTo.toISOString() } : {}),
        ...(lag.inputUpTo ? { inputUpTo: lag.inputUpTo.toISOString() } : {}),
      },
      rows,
      unsentCorrections: Number(unsent?.n ?? 0),
    };
  }

  private async build(mode: 'incremental' | 'full', context: TransformContext): Promise<WarehouseReport> {
    const startedAt = new Date();
    // Gold tables have no row order, so a build's inserts may write in parallel without keeping it (DuckDB's
    // preserve_insertion_order); the connection's own setting is put back afterwards.
    const [setting] = await this.lake.rows<{ v: string }>(
      `SELECT CAST(current_setting('preserve_insertion_order') AS VARCHAR) AS v`,
    );
    await this.lake.run('SET preserve_insertion_order = false');
    const report = await retryOnConflict(() => this.buildOnce(mode, context, startedAt)).finally(() =>
      this.lake.run(`SET preserve_insertion_order = ${setting?.v === 'false' ? 'false' : 'true'}`),
    );
    report.correctionsSent = await this.sendCorrections();
    report.durationMs = Date.now() - startedAt.getTime();
    return report;
  }

  private async buildOnce(
    mode: 'incremental' | 'full',
    context: TransformContext,
    startedAt: Date,
  ): Promise<WarehouseReport> {
    const lake = this.lake;
    const T = this.tables;
    const q = (t: LakeTable) => qualifiedName(t);
    const report: WarehouseReport = {
      transform: this.name,
      mode,
      read: 0,
      written: {},
      position: '',
      published: false,
      durationMs: 0,
      lateFacts: 0,
      correctionsSent: 0,
      steps: {},
      stepsCpu: {},
    };
    const timeStep = async <R>(name: string, work: () => Promise<R>): Promise<R> => {
      if (process.env.BV_WAREHOUSE_PROFILE_DIR) {
        await lake.run(`SET enable_profiling = 'json'`);
        await lake.run(
          `SET profiling_output = '${process.env.BV_WAREHOUSE_PROFILE_DIR}/${name.replace(':', '_')}.json'`,
        );
      }
      const started = performance.now();
      const cpu = process.cpuUsage();
      try {
        return await work();
      } finally {
        report.steps[name] = (report.steps[name] ?? 0) + Math.round(performance.now() - started);
        const used = process.cpuUsage(cpu);
        report.stepsCpu[name] = (report.stepsCpu[name] ?? 0) + Math.round((used.user + used.system) / 1000);
      }
    };
    await lake.run(`SET TimeZone = 'UTC'`);
    await lake.run('BEGIN TRANSACTION');
    let committed = false;
    try {
      const last = await this.lastBuild();
      const previous = mode === 'full' ? ROWID_MIN : (last?.silver_position ?? ROWID_MIN);
      const [{ position } = { position: ROWID_MIN }] = await lake.rows<{ position: bigint }>(this.maxRowidSql());
      report.position = position.toString();
      const [snapshot] = await lake.rows<{ id: bigint }>(
        `SELECT id FROM ducklake_current_snapshot(current_database())`,
      );
      const isNew = `_bronze_rowid > ${previous} AND _bronze_rowid <= ${position}`;
      const [read] = await lake.rows<{ n: bigint }>(
        `SELECT sum(n) AS n FROM (${this.inputs.map((t) => `SELECT count(*) AS n FROM ${q(t)} WHERE ${isNew}`).join(' UNION ALL ')})`,
      );
      report.read = Number(read?.n ?? 0);
      if (mode === 'incremental' && report.read === 0) {
        await lake.run('ROLLBACK');
        committed = true;
        report.published = true;
        return report;
      }
      const model = (name: ModelName, extra: Partial<ModelContext> = {}) =>
        modelSql(name, { ...this.context, position, full: mode === 'full', ...extra });
      const written = report.written;
      const insert = async (table: LakeTable, sql: string) => {
        const columns = table.columns.map((c) => `"${c.name}"`).join(', ');
        const [r] = await timeStep(`insert:${table.name}`, () =>
          lake.rows<{ Count: bigint }>(`INSERT INTO ${q(table)} (${columns}) SELECT ${columns} FROM (${sql}) model`),
        );
        written[q(table)] = (written[q(table)] ?? 0) + Number(r?.Count ?? 0);
      };
      const temp = (name: string, sql: string) =>
        timeStep(`temp:${name}`, () => lake.run(`CREATE OR REPLACE TEMP TABLE ${name} AS ${sql}`));
      const del = (sql: string) => timeStep('delete', () => lake.run(sql));
      const S = this.silver;

      if (mode === 'full') {
        for (const table of [
          T.dimProduct,
          T.dimCustomer,
          T.dimDevice,
          T.dimDate,
          T.dimHour,
          T.factOrder,
          T.factOrderLine,
          T.martDailySales,
          T.martCustomerLifetimeValue,
          T.martProductPriceHistory,
          T.martHourlyOrdersByStatus,
          T.martOrdersPerMinute,
        ])
          await del(`DELETE FROM ${q(table)}`);
      }
      await this.ensureStaticMembers(insert);

      // The natural keys whose chains change in this build (new Silver events of theirs), and the keys new facts name
      // (each gets an inferred member while it has no version).
      await temp(
        'wh_products',
        `SELECT DISTINCT product_id FROM ${q(S.products)} WHERE ${isNew} AND product_id IS NOT NULL`,
      );
      await temp(
        'wh_customers',
        `SELECT DISTINCT customer_id FROM ${q(S.customers)} WHERE ${isNew} AND customer_id IS NOT NULL`,
      );
      await temp(
        'wh_devices',
        `SELECT DISTINCT device_ref FROM ${q(S.devices)} WHERE ${isNew} AND device_id IS NOT NULL`,
      );
      await temp(
        'wh_named_products',
        `SELECT DISTINCT product_id FROM ${q(S.orderLines)} WHERE ${isNew} AND product_id IS NOT NULL`,
      );
      await temp(
        'wh_named_customers',
        `SELECT DISTINCT customer_id FROM ${q(S.orders)} WHERE ${isNew} AND customer_id IS NOT NULL`,
      );

      // From which instant each changed key's chain can differ: its earliest new event (a chain is causal: a version,
      // its key and attributes depend only on the events up to its start). A key changes from the very start when it
      // had only an inferred member, or when the new event comes at or before its first version: facts before the
      // first version point at the member key, which then names another version (the new first one).
      await temp(
        'wh_customer_since',
        `SELECT e.customer_id,
                CASE WHEN bool_or(d.is_inferred)
                       OR min(e.occurred_at) <= coalesce(min(d.valid_from), TIMESTAMPTZ 'infinity')
                     THEN TIMESTAMPTZ '-infinity' ELSE min(e.occurred_at) END AS since
           FROM ${q(S.customers)} e LEFT JOIN ${q(T.dimCustomer)} d ON d.customer_id = e.customer_id
          WHERE ${isNew.replaceAll('_bronze_rowid', 'e._bronze_rowid')} AND e.customer_id IS NOT NULL GROUP BY e.customer_id`,
      );
      await temp(
        'wh_product_since',
        `SELECT e.product_id,
                CASE WHEN bool_or(d.is_inferred)
                       OR min(e.occurred_at) <= coalesce(min(d.valid_from), TIMESTAMPTZ 'infinity')
                     THEN TIMESTAMPTZ '-infinity' ELSE min(e.occurred_at) END AS since
           FROM ${q(S.products)} e LEFT JOIN ${q(T.dimProduct)} d ON d.product_id = e.product_id
          WHERE ${isNew.replaceAll('_bronze_rowid', 'e._bronze_rowid')} AND e.product_id IS NOT NULL GROUP BY e.product_id`,
      );

      // Facts: new orders, and every order at or after the instant its customer's or a product's chain can differ.
      await temp(
        'wh_orders',
        mode === 'full'
          ? `SELECT DISTINCT order_id FROM (SELECT order_id FROM ${q(S.orders)} UNION ALL SELECT order_id FROM ${q(S.orderLines)})
              WHERE order_id IS NOT NULL`
          : `SELECT DISTINCT order_id FROM (
           SELECT order_id FROM ${q(S.orders)} WHERE ${isNew}
           UNION ALL SELECT order_id FROM ${q(S.orderLines)} WHERE ${isNew}
           UNION ALL SELECT f.order_id FROM ${q(T.factOrder)} f JOIN temp.main.wh_customer_since c USING (customer_id)
            WHERE f.order_at >= c.since
           UNION ALL SELECT f.order_id FROM ${q(T.factOrderLine)} f JOIN temp.main.wh_product_since p USING (product_id)
            WHERE f.order_at >= p.since
         ) WHERE order_id IS NOT NULL`,
      );
      await temp(
        'wh_before',
        `SELECT * FROM ${q(T.factOrder)} WHERE order_id IN (SELECT order_id FROM temp.main.wh_orders)`,
      );
      // the touched lines as they stand, read from the lake once
      await temp(
        'wh_before_lines',
        `SELECT * FROM ${q(T.factOrderLine)} WHERE order_id IN (SELECT order_id FROM temp.main.wh_orders)`,
      );
      await temp('wh_before_products', `SELECT DISTINCT product_id FROM temp.main.wh_before_lines`);
      // The daily-sales contributions of those orders as they stand, with the dimension versions they point at now
      // (before the re-cut): an incremental build subtracts them from the mart and adds the new ones.
      if (mode === 'incremental')
        await temp(
          'wh_sales_before',
          model('mart_daily_sales_contributions').replaceAll('{{lines}}', 'temp.main.wh_before_lines'),
        );

      // Dimensions: every version of a changed key is re-cut from all its Silver events.
      await del(`DELETE FROM ${q(T.dimProduct)} WHERE product_id IN (SELECT product_id FROM temp.main.wh_products)`);
      await insert(T.dimProduct, model('dim_product'));
      await insert(T.dimProduct, this.inferredSql(T.dimProduct, 'product_key', 'product_id', S.orderLines, position));
      await del(
        `DELETE FROM ${q(T.dimCustomer)} WHERE customer_id IN (SELECT customer_id FROM temp.main.wh_customers)`,
      );
      await insert(T.dimCustomer, model('dim_customer'));
      await insert(T.dimCustomer, this.inferredSql(T.dimCustomer, 'customer_key', 'customer_id', S.orders, position));
      // No fact names a device yet: dim_device has versions and the unknown member, no inferred members.
      await del(`DELETE FROM ${q(T.dimDevice)} WHERE device_ref IN (SELECT device_ref FROM temp.main.wh_devices)`);
      await insert(T.dimDevice, model('dim_device'));

      await del(`DELETE FROM ${q(T.factOrderLine)} WHERE order_id IN (SELECT order_id FROM temp.main.wh_orders)`);
      await del(`DELETE FROM ${q(T.factOrder)} WHERE order_id IN (SELECT order_id FROM temp.main.wh_orders)`);
      // fact_order is computed once into a temp table: it is written from there and fact_order_line joins it there.
      await temp('wh_fact_order', model('fact_order'));
      await insert(T.factOrder, 'SELECT * FROM temp.main.wh_fact_order');
      // The new lines go into a temp table too: they are written from there, and the marts below read them there
      // (exact row counts for the planner, no read back from the object store).
      const newLines = 'temp.main.wh_fact_order_line';
      await temp('wh_fact_order_line', model('fact_order_line'));
      await insert(T.factOrderLine, `SELECT * FROM ${newLines}`);

      // The calendar grows to cover the facts.
      await insert(
        T.dimDate,
        `WITH span AS (SELECT min(order_at)::DATE AS first_day, max(order_at)::DATE AS last_day FROM ${q(T.factOrder)})
         SELECT CAST(strftime(d, '%Y%m%d') AS INTEGER) AS date_key, d::DATE AS date, CAST(isodow(d) AS INTEGER) AS day_of_week,
                dayname(d) AS day_name, CAST(week(d) AS INTEGER) AS week, CAST(month(d) AS INTEGER) AS month,
                monthname(d) AS month_name, CAST(quarter(d) AS INTEGER) AS quarter, CAST(year(d) AS INTEGER) AS year,
                isodow(d) >= 6 AS is_weekend
           FROM span, range(span.first_day::TIMESTAMP, span.last_day::TIMESTAMP + INTERVAL 1 DAY, INTERVAL 1 DAY) r(d)
          WHERE span.first_day IS NOT NULL
            AND CAST(strftime(d, '%Y%m%d') AS INTEGER) NOT IN (SELECT date_key FROM ${q(T.dimDate)})`,
      );

      // Late facts: orders new to the facts whose event time is behind what the marts had published.
      const publishedBefore = mode === 'incremental' ? last?.published_up_to : null;
      await temp(
        'wh_late',
        publishedBefore
          ? `SELECT order_id, order_at, date_key, date_trunc('hour', order_at) AS hour_start, currency, tenant_id
               FROM ${q(T.factOrder)}
              WHERE order_id IN (SELECT order_id FROM temp.main.wh_orders)
                AND order_id NOT IN (SELECT order_id FROM temp.main.wh_before)
                AND order_at < TIMESTAMPTZ '${new Date(publishedBefore).toISOString()}'`
          : `SELECT NULL::VARCHAR AS order_id, NULL::TIMESTAMPTZ AS order_at, NULL::INTEGER AS date_key,
                    NULL::TIMESTAMPTZ AS hour_start, NULL::VARCHAR AS currency, NULL::VARCHAR AS tenant_id WHERE false`,
      );
      const lateTotals = () =>
        lake.rows<{ order_id: string; mart: string; period: string; orders: bigint; revenue: string }>(
          `SELECT l.order_id, '${q(T.martDailySales)}' AS mart, strftime(l.order_at, '%Y-%m-%d') AS period,
                  coalesce(sum(m.orders), 0) AS orders, CAST(CAST(coalesce(sum(m.revenue), 0) AS DECIMAL(18,2)) AS VARCHAR) AS revenue
             FROM temp.main.wh_late l LEFT JOIN ${q(T.martDailySales)} m ON m.date_key = l.date_key AND m.currency IS NOT DISTINCT FROM l.currency
            GROUP BY ALL
           UNION ALL
           SELECT l.order_id, '${q(T.martHourlyOrdersByStatus)}', strftime(l.hour_start, '%Y-%m-%dT%H:00:00Z'),
                  coalesce(sum(m.orders), 0), CAST(CAST(coalesce(sum(m.amount), 0) AS DECIMAL(18,2)) AS VARCHAR)
             FROM temp.main.wh_late l LEFT JOIN ${q(T.martHourlyOrdersByStatus)} m ON m.hour_start = l.hour_start AND m.currency IS NOT DISTINCT FROM l.currency
            GROUP BY ALL`,
        );
      const before = await timeStep('late', lateTotals);

      // Marts: the periods, customers and products the touched facts were in before and are in now.
      await temp(
        'wh_dates',
        `SELECT date_key FROM temp.main.wh_before UNION
         SELECT date_key FROM temp.main.wh_fact_order`,
      );
      await temp(
        'wh_ltv_customers',
        `SELECT customer_id FROM temp.main.wh_before WHERE customer_id IS NOT NULL UNION
         SELECT customer_id FROM temp.main.wh_fact_order WHERE customer_id IS NOT NULL UNION
         SELECT customer_id FROM temp.main.wh_customers`,
      );
      await temp(
        'wh_price_products',
        `SELECT product_id FROM temp.main.wh_products UNION
         SELECT product_id FROM temp.main.wh_before_products WHERE product_id IS NOT NULL UNION
         SELECT product_id FROM ${newLines} WHERE order_id IN (SELECT order_id FROM temp.main.wh_orders) AND product_id IS NOT NULL`,
      );
      if (mode === 'full') await insert(T.martDailySales, model('mart_daily_sales'));
      else
        await this.dailySalesDelta(
          temp,
          del,
          insert,
          model('mart_daily_sales_contributions').replaceAll('{{lines}}', newLines),
        );
      // The hourly and per-minute marts: from the build's fact_order rows in a full build; by difference in an
      // incremental one (the touched orders' rows before the build subtracted, their rows now added).
      for (const [table, name, keys] of [
        [
          T.martHourlyOrdersByStatus,
          'mart_hourly_orders_by_status',
          ['date_key', 'hour_key', 'hour_start', 'status', 'currency'],
        ],
        [T.martOrdersPerMinute, 'mart_orders_per_minute', ['date_key', 'minute_start', 'currency']],
      ] as const) {
        if (mode === 'full') await insert(table, model(name, { orders: 'temp.main.wh_fact_order' }));
        else
          await this.martByDifference(temp, del, insert, {
            table,
            keys,
            before: model(name, { orders: 'temp.main.wh_before' }),
            after: model(name, { orders: 'temp.main.wh_fact_order' }),
          });
      }
      await del(
        `DELETE FROM ${q(T.martCustomerLifetimeValue)} WHERE customer_id IN (SELECT customer_id FROM temp.main.wh_ltv_customers)`,
      );
      await insert(T.martCustomerLifetimeValue, model('mart_customer_ltv'));
      // Price history: products whose chain was re-cut are recomputed (their periods may differ); every other touched
      // product keeps its periods and gets the difference of what the touched orders sold at each.
      await temp(
        'wh_price_recut',
        mode === 'full'
          ? 'SELECT product_id FROM temp.main.wh_price_products'
          : 'SELECT product_id FROM temp.main.wh_products',
      );
      await del(
        `DELETE FROM ${q(T.martProductPriceHistory)} WHERE product_id IN (SELECT product_id FROM temp.main.wh_price_recut)`,
      );
      await insert(
        T.martProductPriceHistory,
        model('mart_product_price_history', mode === 'full' ? { lineFacts: newLines } : {}),
      );
      if (mode === 'incremental') await this.priceHistoryDelta(temp, del, insert, newLines);
      await this.dashboardMarts(insert);

      // Corrections, written with the rows; sent to Kafka after COMMIT.
      const after = await lateTotals();
      const buildSeq = Number(last?.build_seq ?? 0n) + 1;
      report.buildSeq = buildSeq;
      const [published] = await lake.rows<{ up_to: Date | null }>(
        `SELECT max(order_at) AS up_to FROM ${q(T.factOrder)}`,
      );
      const lates = await lake.rows<{
        order_id: string;
        order_at: Date;
        currency: string | null;
        tenant_id: string | null;
      }>(`SELECT order_id, order_at, currency, tenant_id FROM temp.main.wh_late ORDER BY order_at, order_id`);
      report.lateFacts = lates.length;
      if (lates.length > 0 && publishedBefore) {
        // index the totals by order (a late build has thousands of late orders: no scan of every total per order)
        const byOrder = <R extends { order_id: string }>(rows: R[]) => {
          const index = new Map<string, R[]>();
          for (const row of rows) index.set(row.order_id, [...(index.get(row.order_id) ?? []), row]);
          return index;
        };
        const beforeByOrder = byOrder(before);
        const afterByOrder = byOrder(after);
        const periodsOf = (orderId: string): PeriodCorrection[] =>
          (beforeByOrder.get(orderId) ?? []).map((b) => {
            const a = afterByOrder.get(orderId)?.find((x) => x.mart === b.mart);
            return {
              mart: b.mart,
              period: b.period,
              before: { orders: Number(b.orders), revenue: b.revenue },
              after: { orders: Number(a?.orders ?? 0), revenue: a?.revenue ?? '0.00' },
            };
          });
        const rows = lates.map((late) => {
          const payload: OrderFactCorrected = {
            fact: q(T.factOrder),
            orderId: late.order_id,
            orderAt: new Date(late.order_at).toISOString(),
            currency: late.currency,
            publishedUpTo: new Date(publishedBefore).toISOString(),
            buildSeq,
            periods: periodsOf(late.order_id),
          };
          return {
            correction_id: uuidFrom(`${q(T.factOrder)}|${late.order_id}|${buildSeq}`),
            tenant_id: late.tenant_id ?? 'unknown',
            payload,
          };
        });
        // One INSERT per chunk of corrections, not one per late order: each statement costs a round of catalog work,
        // and thousands of one-row inserts (each inlined into the catalog) were most of a late-heavy build's time.
        const CHUNK = 1000;
        for (let i = 0; i < rows.length; i += CHUNK) {
          const values = rows
            .slice(i, i + CHUNK)
            .map(
              (row) =>
                `(${[
                  sqlLiteral(row.correction_id),
                  `${BigInt(buildSeq)}`,
                  sqlLiteral(row.payload.orderId),
                  `${sqlLiteral(row.payload.orderAt)}::TIMESTAMPTZ`,
                  `${sqlLiteral(row.payload.publishedUpTo)}::TIMESTAMPTZ`,
                  sqlLiteral(row.tenant_id),
                  `${sqlLiteral(JSON.stringify(row.payload.periods))}::JSON`,
                  'false',
                ].join(', ')})`,
            )
            .join(',\n');
          await timeStep('insert:fact_corrections', () => lake.run(`INSERT INTO ${q(T.corrections)} VALUES ${values}`));
        }
        written[q(T.corrections)] = rows.length;
      }

      await lake.run(
        `INSERT INTO ${q(T.builds)} VALUES ($1, $2, $3::TIMESTAMPTZ, now(), $4, $5, $6, $7::TIMESTAMPTZ, $8, $9::JSON)`,
        [
          BigInt(buildSeq),
          mode,
          startedAt.toISOString(),
          position,
          snapshot?.id ?? 0n,
          BigInt(report.read),
          published?.up_to ? new Date(published.up_to).toISOString() : null,
          report.lateFacts,
          JSON.stringify(written),
        ],
      );

      if (context.beforePublish) {
        const increment: PendingIncrement = {
          transform: this.name,
          lake,
          outputs: this.increments(written),
        };
        const verdict = await context.beforePublish(increment);
        if (verdict.action === 'hold') {
          await lake.run('ROLLBACK');
          committed = true;
          await verdict.afterRollback?.();
          return { ...report, published: false, heldReason: verdict.reason, position: previous.toString() };
        }
      }
      await timeStep('commit', () => lake.run('COMMIT'));
      committed = true;
      const [after_] = await lake.rows<{ id: bigint }>(`SELECT id FROM ducklake_current_snapshot(current_database())`);
      report.published = true;
      if (after_) report.snapshotId = after_.id;
      return report;
    } finally {
      if (!committed) await lake.run('ROLLBACK').catch(() => {});
    }
  }

  /**
   * mart_daily_sales by difference: each of its rows is a sum over orders (an order's non-cancelled lines of one day,
   * category, segment and currency count it once), so the rows the touched orders are in become the row as it stands,
   * minus those orders' contributions before the build, plus their contributions now. Untouched orders keep theirs: they
   * point at versions that start before every changed chain can differ, which the re-cut leaves as they were. A late
   * order therefore costs its own lines, not the whole day it lands in.
   */
  private async dailySalesDelta(
    temp: (name: string, sql: string) => Promise<void>,
    del: (sql: string) => Promise<void>,
    insert: (table: LakeTable, sql: string) => Promise<void>,
    contributionsSql: string,
  ): Promise<void> {
    const mart = qualifiedName(this.tables.martDailySales);
    await temp('wh_sales_after', contributionsSql);
    await temp(
      'wh_sales_delta',
      `SELECT date_key, category, segment, currency, sum(orders) AS orders, sum(lines) AS lines, sum(units) AS units,
              sum(revenue) AS revenue
         FROM (SELECT date_key, category, segment, currency, -orders AS orders, -lines AS lines, -units AS units,
                      -revenue AS revenue FROM temp.main.wh_sales_before
               UNION ALL SELECT * FROM temp.main.wh_sales_after)
        GROUP BY ALL
       HAVING sum(orders) <> 0 OR sum(lines) <> 0 OR sum(units) <> 0 OR sum(revenue) <> 0`,
    );
    const sameRow = `m.date_key = d.date_key AND m.category = d.category AND m.segment = d.segment
                     AND m.currency IS NOT DISTINCT FROM d.currency`;
    await temp(
      'wh_sales_rows',
      `SELECT d.date_key, dd.date AS sale_date, d.category, d.segment, d.currency,
              coalesce(m.orders, 0) + d.orders AS orders, coalesce(m.lines, 0) + d.lines AS lines,
              coalesce(m.units, 0) + d.units AS units, CAST(coalesce(m.revenue, 0) + d.revenue AS DECIMAL(18,2)) AS revenue
         FROM temp.main.wh_sales_delta d
         LEFT JOIN ${mart} m ON ${sameRow}
         LEFT JOIN ${qualifiedName(this.tables.dimDate)} dd ON dd.date_key = d.date_key`,
    );
    await del(`DELETE FROM ${mart} m WHERE EXISTS (SELECT 1 FROM temp.main.wh_sales_delta d WHERE ${sameRow})`);
    await insert(this.tables.martDailySales, 'SELECT * FROM temp.main.wh_sales_rows WHERE lines > 0');
  }

  /**
   * A mart whose rows are sums and counts over orders, kept by difference: `before` and `after` are the touched
   * orders' contributions (rows of the mart's shape) before the build and now; each mart row they touch becomes the
   * row as it stands minus the one plus the other, and a row left with no orders goes. Every other row stays as it is.
   */
  private async martByDifference(
    temp: (name: string, sql: string) => Promise<void>,
    del: (sql: string) => Promise<void>,
    insert: (table: LakeTable, sql: string) => Promise<void>,
    spec: { table: LakeTable; keys: readonly string[]; before: string; after: string },
  ): Promise<void> {
    const mart = qualifiedName(spec.table);
    const measures = spec.table.columns.map((c) => c.name).filter((c) => !spec.keys.includes(c));
    const typeOf = (name: string) => spec.table.columns.find((c) => c.name === name)?.type ?? 'BIGINT';
    const keys = spec.keys.join(', ');
    const name = `wh_delta_${spec.table.name}`;
    await temp(
      name,
      `SELECT ${keys}, ${measures.map((m) => `sum(${m}) AS ${m}`).join(', ')}
         FROM (SELECT ${keys}, ${measures.map((m) => `-${m} AS ${m}`).join(', ')} FROM (${spec.before})
               UNION ALL SELECT ${keys}, ${measures.join(', ')} FROM (${spec.after}))
        GROUP BY ${keys}
       HAVING ${measures.map((m) => `sum(${m}) <> 0`).join(' OR ')}`,
    );
    const sameRow = spec.keys.map((k) => `m.${k} IS NOT DISTINCT FROM d.${k}`).join(' AND ');
    await temp(
      `${name}_rows`,
      `SELECT ${spec.keys.map((k) => `d.${k}`).join(', ')},
              ${measures.map((m) => `CAST(coalesce(m.${m}, 0) + d.${m} AS ${typeOf(m)}) AS ${m}`).join(', ')}
         FROM temp.main.${name} d LEFT JOIN ${mart} m ON ${sameRow}`,
    );
    await del(`DELETE FROM ${mart} m WHERE EXISTS (SELECT 1 FROM temp.main.${name} d WHERE ${sameRow})`);
    await insert(spec.table, `SELECT * FROM temp.main.${name}_rows WHERE orders > 0`);
  }

  /**
   * mart_product_price_history by difference for the touched products whose chain was not re-cut: their versions,
   * and so their price periods, are as they were, and the touched orders' lines point at versions of them before
   * and after the build; each period gets what those lines sold now minus what they sold before (orders are
   * distinct per version, as in the mart: a touched order's lines are all in one of the two sets).
   */
  private async priceHistoryDelta(
    temp: (name: string, sql: string) => Promise<void>,
    del: (sql: string) => Promise<void>,
    insert: (table: LakeTable, sql: string) => Promise<void>,
    newLines: string,
  ): Promise<void> {
    const mart = qualifiedName(this.tables.martProductPriceHistory);
    const dim = qualifiedName(this.tables.dimProduct);
    await temp(
      'wh_price_delta_products',
      `SELECT product_id FROM temp.main.wh_price_products WHERE product_id IS NOT NULL
       EXCEPT SELECT product_id FROM temp.main.wh_price_recut`,
    );
    // the versions of those products and their period (same gaps and islands as mart_product_price_history.sql)
    await temp(
      'wh_price_periods',
      `WITH versions AS (
         SELECT product_id, product_key, version_no, price, valid_from, valid_to,
                lag(price) OVER chain AS previous_price, lag(valid_to) OVER chain AS previous_to
           FROM ${dim}
          WHERE product_id IN (SELECT product_id FROM temp.main.wh_price_delta_products) AND NOT is_inferred
         WINDOW chain AS (PARTITION BY product_id ORDER BY version_no))
       SELECT *, sum(CASE WHEN previous_to IS NULL OR price IS DISTINCT FROM previous_price OR valid_from <> previous_to
                          THEN 1 ELSE 0 END) OVER (PARTITION BY product_id ORDER BY version_no) AS period_no
         FROM versions`,
    );
    const sold = (lines: string, sign: string) =>
      `SELECT product_key, ${sign} count(DISTINCT order_id) AS orders, ${sign} sum(quantity) AS units,
              ${sign} sum(line_amount) AS revenue
         FROM ${lines}
        WHERE order_id IN (SELECT order_id FROM temp.main.wh_orders) AND NOT is_cancelled
          AND product_id IN (SELECT product_id FROM temp.main.wh_price_delta_products)
        GROUP BY product_key`;
    await temp(
      'wh_price_delta',
      `SELECT p.product_id, p.period_no, sum(s.orders) AS orders, sum(s.units) AS units, sum(s.revenue) AS revenue
         FROM (${sold('temp.main.wh_before_lines', '-')} UNION ALL ${sold(newLines, '')}) s
         JOIN temp.main.wh_price_periods p USING (product_key)
        GROUP BY ALL
       HAVING sum(s.orders) <> 0 OR sum(s.units) <> 0 OR sum(s.revenue) <> 0`,
    );
    const samePeriod = `m.product_id = p.product_id AND m.price IS NOT DISTINCT FROM p.price
                        AND m.price_from = p.price_from AND m.price_to = p.price_to`;
    await temp(
      'wh_price_rows',
      `SELECT m.* REPLACE (CAST(m.orders + d.orders AS BIGINT) AS orders, CAST(m.units_sold + d.units AS BIGINT) AS units_sold,
                           CAST(m.revenue + d.revenue AS DECIMAL(18,2)) AS revenue)
         FROM (SELECT product_id, period_no, price, min(valid_from) AS price_from, max(valid_to) AS price_to
                 FROM temp.main.wh_price_periods GROUP BY ALL) p
         JOIN temp.main.wh_price_delta d USING (product_id, period_no)
         JOIN ${mart} m ON ${samePeriod}`,
    );
    await del(`DELETE FROM ${mart} m WHERE EXISTS (SELECT 1 FROM temp.main.wh_price_rows p WHERE ${samePeriod})`);
    await insert(this.tables.martProductPriceHistory, 'SELECT * FROM temp.main.wh_price_rows');
  }

  /** The rows each output got in this build, as relations over the open transaction (for a publish hook). */
  private increments(written: Record<string, number>): PendingIncrement['outputs'] {
    const T = this.tables;
    const byKey: [LakeTable, string][] = [
      [T.dimProduct, `product_id IN (SELECT product_id FROM temp.main.wh_products)`],
      [T.dimCustomer, `customer_id IN (SELECT customer_id FROM temp.main.wh_customers)`],
      [T.dimDevice, `device_ref IN (SELECT device_ref FROM temp.main.wh_devices)`],
      [T.factOrder, `order_id IN (SELECT order_id FROM temp.main.wh_orders)`],
      [T.factOrderLine, `order_id IN (SELECT order_id FROM temp.main.wh_orders)`],
      [T.martDailySales, `date_key IN (SELECT date_key FROM temp.main.wh_dates)`],
      [T.martHourlyOrdersByStatus, `date_key IN (SELECT date_key FROM temp.main.wh_dates)`],
      [T.martOrdersPerMinute, `date_key IN (SELECT date_key FROM temp.main.wh_dates)`],
      [T.martCustomerLifetimeValue, `customer_id IN (SELECT customer_id FROM temp.main.wh_ltv_customers)`],
      [T.martProductPriceHistory, `product_id IN (SELECT product_id FROM temp.main.wh_price_products)`],
    ];
    return byKey.map(([table, where]) => ({
      table,
      increment: `(SELECT * FROM ${qualifiedName(table)} WHERE ${where})`,
      rows: written[qualifiedName(table)] ?? 0,
    }));
  }

  /** Inferred members: touched natural keys that facts name but that have no version yet. */
  private inferredSql(
    dim: LakeTable,
    keyColumn: string,
    naturalKey: string,
    factSource: LakeTable,
    position: bigint,
  ): string {
    // a changed key whose events are all deletes has no version either
    const touched =
      naturalKey === 'product_id'
        ? '(SELECT product_id FROM temp.main.wh_products UNION SELECT product_id FROM temp.main.wh_named_products)'
        : '(SELECT customer_id FROM temp.main.wh_customers UNION SELECT customer_id FROM temp.main.wh_named_customers)';
    const nulls = dim.columns
      .filter((c) => ![keyColumn, naturalKey].includes(c.name))
      .map((c) => {
        switch (c.name) {
          case 'valid_from':
            return `TIMESTAMPTZ '${INFERRED_VALID_FROM}' AS valid_from`;
          case 'valid_to':
            return `TIMESTAMPTZ '${OPEN_VALID_TO}' AS valid_to`;
          case 'is_current':
          case 'is_inferred':
            return `true AS ${c.name}`;
          case 'version_no':
            return `0 AS version_no`;
          default:
            return `CAST(NULL AS ${c.type}) AS "${c.name}"`;
        }
      });
    return `SELECT ${memberKeySql(`t.${naturalKey}`)} AS ${keyColumn}, t.${naturalKey}, ${nulls.join(', ')}
              FROM ${touched} t
             WHERE t.${naturalKey} NOT IN (SELECT ${naturalKey} FROM ${qualifiedName(dim)} WHERE ${naturalKey} IS NOT NULL)
               AND t.${naturalKey} IN (SELECT ${naturalKey} FROM ${qualifiedName(factSource)} WHERE _bronze_rowid <= ${position})`;
  }

  /** The unknown member (-1) of each dimension, the unknown day and the 24 hours of dim_hour. */
  private async ensureStaticMembers(insert: (table: LakeTable, sql: string) => Promise<void>): Promise<void> {
    const T = this.tables;
    const unknown = (dim: LakeTable, keyColumn: string) => {
      const values = dim.columns
        .filter((c) => c.name !== keyColumn)
        .map((c) => {
          switch (c.name) {
            case 'valid_from':
              return `TIMESTAMPTZ '${INFERRED_VALID_FROM}' AS valid_from`;
            case 'valid_to':
              return `TIMESTAMPTZ '${OPEN_VALID_TO}' AS valid_to`;
            case 'is_current':
              return 'true AS is_current';
            case 'is_inferred':
              return 'false AS is_inferred';
            case 'version_no':
              return '0 AS version_no';
            case 'name':
              return `'unknown' AS name`;
            default:
              return `CAST(NULL AS ${c.type}) AS "${c.name}"`;
          }
        });
      return `SELECT ${UNKNOWN_KEY} AS ${keyColumn}, ${values.join(', ')}
               WHERE NOT EXISTS (SELECT 1 FROM ${qualifiedName(dim)} WHERE ${keyColumn} = ${UNKNOWN_KEY})`;
    };
    await insert(T.dimProduct, unknown(T.dimProduct, 'product_key'));
    await insert(T.dimCustomer, unknown(T.dimCustomer, 'customer_key'));
    await insert(T.dimDevice, unknown(T.dimDevice, 'device_key'));
    await insert(
      T.dimDate,
      `SELECT -1 AS date_key, NULL::DATE AS date, NULL::INTEGER AS day_of_week, 'unknown' AS day_name, NULL::INTEGER AS week,
              NULL::INTEGER AS month, 'unknown' AS month_name, NULL::INTEGER AS quarter, NULL::INTEGER AS year,
              NULL::BOOLEAN AS is_weekend
        WHERE NOT EXISTS (SELECT 1 FROM ${qualifiedName(T.dimDate)} WHERE date_key = -1)`,
    );
    await insert(
      T.dimHour,
      `SELECT h AS hour_key,
              CASE WHEN h < 0 THEN 'unknown' ELSE printf('%02d:00-%02d:00', h, (h + 1) % 24) END AS label,
              CASE WHEN h < 0 THEN 'unknown' WHEN h < 6 THEN 'night' WHEN h < 12 THEN 'morning'
                   WHEN h < 18 THEN 'afternoon' ELSE 'evening' END AS day_part
         FROM (SELECT CAST(range AS INTEGER) AS h FROM range(-1, 24))
        WHERE h NOT IN (SELECT hour_key FROM ${qualifiedName(T.dimHour)})`,
    );
  }

  /** The dashboard marts that summarise the whole platform; rewritten by every build. */
  private async dashboardMarts(insert: (table: LakeTable, sql: string) => Promise<void>): Promise<void> {
    const T = this.tables;
    const lake = this.lake;
    await lake.run(`DELETE FROM ${qualifiedName(T.martAnomalies)}`);
    const [exists] = await lake.rows<{ n: bigint }>(
      `SELECT count(*) AS n FROM duckdb_tables() WHERE database_name = current_database() AND schema_name = $1 AND table_name = $2`,
      [this.anomalies.schema, this.anomalies.name],
    );
    if (Number(exists?.n ?? 0) > 0) {
      await insert(
        T.martAnomalies,
        `SELECT date_trunc('hour', event_time) AS hour_start, metric, count(*) AS anomalies, max(abs(score)) AS max_score,
                max(event_time) AS last_event_time
           FROM ${qualifiedName(this.anomalies)} GROUP BY ALL`,
      );
    }
    await lake.run(`DELETE FROM ${qualifiedName(T.martPipelineFreshness)}`);
    const layer = (layerName: string, table: LakeTable, eventColumn: string, ingestColumn: string | null) =>
      `SELECT '${layerName}' AS layer, '${qualifiedName(table)}' AS table_name, count(*) AS rows,
              max(${eventColumn}) AS newest_event_at, ${ingestColumn ? `max(${ingestColumn})` : 'NULL::TIMESTAMPTZ'} AS newest_ingested_at,
              now() AS measured_at,
              epoch(now()) - epoch(${ingestColumn ? `coalesce(max(${ingestColumn}), max(${eventColumn}))` : `max(${eventColumn})`}) AS lag_seconds
         FROM ${qualifiedName(table)}`;
    await insert(
      T.martPipelineFreshness,
      [
        ...this.inputs.map((t) => layer('silver', t, 'occurred_at', '_ingested_at')),
        layer('gold', T.factOrder, 'order_at', null),
      ].join(' UNION ALL '),
    );
  }

  /** Sends the corrections not sent yet (this build's, and any a failed send left), then marks them sent. */
  private async sendCorrections(): Promise<number> {
    if (!this.publisher) return 0;
    const table = qualifiedName(this.tables.corrections);
    const pending = await this.lake.rows<{
      correction_id: string;
      build_seq: bigint;
      order_id: string;
      order_at: Date;
      published_up_to: Date;
      tenant_id: string;
      periods: string;
    }>(
      `SELECT * EXCLUDE (sent), CAST(periods AS VARCHAR) AS periods FROM ${table} WHERE NOT sent ORDER BY build_seq, order_at`,
    );
    if (pending.length === 0) return 0;
    const orders = await this.lake.rows<{ order_id: string; currency: string | null }>(
      `SELECT order_id, currency FROM ${qualifiedName(this.tables.factOrder)}
        WHERE order_id IN (SELECT order_id FROM ${table} WHERE NOT sent)`,
    );
    const currency = new Map(orders.map((o) => [o.order_id, o.currency]));
    const envelopes = pending.map((c) =>
      correctionEnvelope(
        c.correction_id,
        c.tenant_id,
        {
          fact: qualifiedName(this.tables.factOrder),
          orderId: c.order_id,
          orderAt: new Date(c.order_at).toISOString(),
          currency: currency.get(c.order_id) ?? null,
          publishedUpTo: new Date(c.published_up_to).toISOString(),
          buildSeq: Number(c.build_seq),
          periods: JSON.parse(c.periods) as PeriodCorrection[],
        },
        new Date(),
      ),
    );
    try {
      await this.publisher.send(envelopes);
    } catch (error) {
      throw new BvError(
        'WAREHOUSE_PUBLISH_FAILED',
        `the build committed but ${envelopes.length} ${CORRECTION_EVENT_TYPE} event(s) could not be sent to ${this.publisher.topic}; they stay unsent in ${table} and the next build sends them`,
        { cause: error, retriable: true },
      );
    }
    const ids = pending.map((c) => c.correction_id);
    await retryOnConflict(() =>
      this.lake.transaction(() =>
        this.lake.run(`UPDATE ${table} SET sent = true WHERE correction_id IN (${ids.map(sqlLiteral).join(', ')})`),
      ),
    );
    return envelopes.length;
  }
}
