import {
  type ColumnLineageDatasetFacet,
  type DatasetId,
  datasetNames,
  facets,
  LineageClient,
  lakeCatalogOf,
  loadPlatformConfig,
  type PlatformConfig,
} from '@bitvelocity/core';
import {
  type DuckDb,
  installTransformLineage,
  type LakeTable,
  type LineageSubscription,
  qualifiedName,
  sqlLiteral,
} from '@bitvelocity/lakehouse';
import { type ModelName, modelSql } from './models.js';
import type { WarehouseTables } from './tables.js';
import type { Warehouse } from './warehouse.js';

/**
 * Column lineage of the warehouse, derived from the model SQL by DuckDB's own parser (`json_serialize_sql`, the
 * parsed statement as JSON), never by pattern matching: each output column's select-list expression is walked for its
 * column references, which are resolved through the query's scopes (FROM tables and their aliases, joins, derived
 * tables, CTEs, `*` expanded from the known table schemas, earlier select-list aliases, set operations position by
 * position). A Gold table that a model produces is then replaced by that model's own lineage, so a mart column names
 * the Silver columns it comes from (a column of a table no model produces, such as dim_date, names that table).
 *
 * Only what flows into the value counts (OpenLineage DIRECT): filters, join keys and ordering (INDIRECT) are left out.
 */

type Subtype = 'IDENTITY' | 'TRANSFORMATION' | 'AGGREGATION';
const RANK: Record<Subtype, number> = { IDENTITY: 0, TRANSFORMATION: 1, AGGREGATION: 2 };
/** Source column (`schema.table\u0000column`) -> the strongest transformation on the way. */
type Sources = Map<string, Subtype>;
interface Relation {
  alias: string;
  order: string[];
  columns: Map<string, Sources>;
}
type Json = Record<string, unknown>;

const AGGREGATES = new Set([
  'sum',
  'count',
  'count_star',
  'min',
  'max',
  'avg',
  'arg_min',
  'arg_max',
  'arg_min_null',
  'arg_max_null',
  'min_by',
  'max_by',
  'first',
  'last',
  'list',
  'string_agg',
  'median',
  'any_value',
]);

/** Aggregates whose second argument only orders the rows: the value comes from the first. */
const BY_ORDERING = new Set(['arg_min', 'arg_max', 'arg_min_null', 'arg_max_null', 'min_by', 'max_by']);

const key = (table: string, column: string) => `${table}\u0000${column}`;

function merge(into: Sources, from: Sources, at?: Subtype): void {
  for (const [source, subtype] of from) {
    const s = at && RANK[at] > RANK[subtype] ? at : subtype;
    const current = into.get(source);
    if (!current || RANK[s] > RANK[current]) into.set(source, s);
  }
}

export class SqlColumnLineage {
  /** `schema.table` -> its columns, for `*` and unqualified references. */
  private readonly known = new Map<string, string[]>();

  /**
   * `tables`: the lake tables the SQL may read; `standIns`: other relations the SQL reads in their place (a build's
   * temp table holding a Gold table's new rows), by `catalog.schema.table`, and the lake table each stands in for.
   */
  constructor(
    tables: readonly LakeTable[],
    private readonly standIns: ReadonlyMap<string, string> = new Map(),
  ) {
    for (const t of tables)
      this.known.set(
        qualifiedName(t),
        t.columns.map((c) => c.name),
      );
  }

  /** The parsed statement (DuckDB's `json_serialize_sql`), or a clear error when DuckDB cannot parse it. */
  static async parse(db: DuckDb, sql: string): Promise<Json> {
    const [row] = await db.rows<{ j: string }>(`SELECT json_serialize_sql(${sqlLiteral(sql)}) AS j`);
    const parsed = JSON.parse(String(row?.j)) as { error: boolean; error_message?: string; statements?: Json[] };
    if (parsed.error || !parsed.statements?.[0]) throw new Error(`cannot parse model SQL: ${parsed.error_message}`);
    return parsed.statements[0].node as Json;
  }

  /** Output column -> its source columns, for one parsed SELECT. */
  columnsOf(node: Json, ctes: Map<string, Relation> = new Map()): Relation {
    const scope = new Map(ctes);
    for (const entry of ((node.cte_map as Json | undefined)?.map as Json[] | undefined) ?? []) {
      const query = ((entry.value as Json).query as Json).node as Json;
      scope.set(String(entry.key), { ...this.columnsOf(query, scope), alias: String(entry.key) });
    }
    if (node.type === 'SET_OPERATION_NODE') {
      const left = this.columnsOf(node.left as Json, scope);
      const right = this.columnsOf(node.right as Json, scope);
      right.order.forEach((name, i) => {
        const target = left.order[i];
        const sources = right.columns.get(name);
        if (target && sources) merge(left.columns.get(target) as Sources, sources);
      });
      return left;
    }
    if (node.type !== 'SELECT_NODE') return { alias: '', order: [], columns: new Map() };
    const relations = node.from_table ? this.relations(node.from_table as Json, scope) : [];
    const out: Relation = { alias: '', order: [], columns: new Map() };
    const add = (name: string, sources: Sources) => {
      if (!out.columns.has(name)) out.order.push(name);
      out.columns.set(name, sources);
    };
    for (const item of node.select_list as Json[]) {
      if (item.class === 'STAR') {
        const only = String(item.relation_name ?? '');
        const excluded = new Set(((item.exclude_list as unknown[]) ?? []).map((e) => String(e)));
        for (const relation of relations) {
          if (only && relation.alias !== only) continue;
          for (const name of relation.order)
            if (!excluded.has(name)) add(name, new Map(relation.columns.get(name) as Sources));
        }
        continue;
      }
      const names = item.column_names as string[] | undefined;
      const name = String(item.alias || (item.class === 'COLUMN_REF' && names ? names[names.length - 1] : ''));
      const sources: Sources = new Map();
      this.collect(item, relations, out, sources, item.class === 'COLUMN_REF' ? 'IDENTITY' : 'TRANSFORMATION');
      if (name) add(name, sources);
    }
    return out;
  }

  private relations(from: Json, scope: Map<string, Relation>): Relation[] {
    switch (from.type) {
      case 'JOIN':
        return [...this.relations(from.left as Json, scope), ...this.relations(from.right as Json, scope)];
      case 'SUBQUERY': {
        const inner = this.columnsOf((from.subquery as Json).node as Json, scope);
        return [renamed({ ...inner, alias: String(from.alias ?? '') }, from.column_name_alias as string[])];
      }
      case 'BASE_TABLE': {
        const table = String(from.table_name);
        const schema = String(from.schema_name ?? '');
        const alias = String(from.alias || table);
        const cte = !schema ? scope.get(table) : undefined;
        if (cte) return [renamed({ ...cte, alias }, from.column_name_alias as string[])];
        const catalog = String(from.catalog_name ?? '');
        const qualified = this.standIns.get(`${catalog}.${schema}.${table}`) ?? `${schema}.${table}`;
        const columns = this.known.get(qualified) ?? [];
        return [
          renamed(
            {
              alias,
              order: [...columns],
              columns: new Map(columns.map((c) => [c, new Map<string, Subtype>([[key(qualified, c), 'IDENTITY']])])),
            },
            from.column_name_alias as string[],
          ),
        ];
      }
      default:
        return [];
    }
  }

  /** Every column reference in `expr` (not in subqueries: those are filters), resolved against the scope. */
  private collect(expr: unknown, relations: Relation[], select: Relation, into: Sources, at: Subtype): void {
    if (Array.isArray(expr)) {
      for (const e of expr) this.collect(e, relations, select, into, at);
      return;
    }
    if (!expr || typeof expr !== 'object') return;
    const node = expr as Json;
    if (node.class === 'SUBQUERY') return;
    if (node.class === 'COLUMN_REF') {
      const names = node.column_names as string[];
      const column = names[names.length - 1] as string;
      const qualifier = names.length >= 2 ? names[names.length - 2] : undefined;
      let found = false;
      for (const relation of relations) {
        if (qualifier && relation.alias !== qualifier) continue;
        const sources = relation.columns.get(column);
        if (sources) {
          merge(into, sources, at);
          found = true;
        }
      }
      const lateral = !found && !qualifier ? select.columns.get(column) : undefined;
      if (lateral) merge(into, lateral, at);
      return;
    }
    const aggregate =
      (node.class === 'FUNCTION' || node.class === 'WINDOW' || node.class === 'AGGREGATE') &&
      AGGREGATES.has(String(node.function_name ?? '').toLowerCase());
    const next: Subtype = aggregate ? 'AGGREGATION' : at;
    if (node.class === 'WINDOW' || node.class === 'FUNCTION' || node.class === 'AGGREGATE') {
      // Only the arguments flow into the value: partitions, ordering, frames and filters are INDIRECT, and so is
      // the ordering argument of arg_min/arg_max.
      const fn = String(node.function_name ?? '').toLowerCase();
      const children = (node.children as unknown[] | undefined) ?? [];
      this.collect(BY_ORDERING.has(fn) ? children.slice(0, 1) : children, relations, select, into, next);
      return;
    }
    for (const value of Object.values(node)) this.collect(value, relations, select, into, next);
  }
}

function renamed(relation: Relation, aliases: string[] | undefined): Relation {
  if (!aliases?.length) return relation;
  const order = relation.order.map((name, i) => aliases[i] ?? name);
  const columns = new Map(relation.order.map((name, i) => [order[i] as string, relation.columns.get(name) as Sources]));
  return { alias: relation.alias, order, columns };
}

/** The model that fills each Gold table (the table's columns are the model's output columns, by name). */
export const MODEL_OF: Partial<Record<keyof WarehouseTables, ModelName>> = {
  dimProduct: 'dim_product',
  dimCustomer: 'dim_customer',
  dimDevice: 'dim_device',
  factOrder: 'fact_order',
  factOrderLine: 'fact_order_line',
  martDailySales: 'mart_daily_sales',
  martHourlyOrdersByStatus: 'mart_hourly_orders_by_status',
  martOrdersPerMinute: 'mart_orders_per_minute',
  martCustomerLifetimeValue: 'mart_customer_ltv',
  martProductPriceHistory: 'mart_product_price_history',
};

/**
 * The columnLineage facet of every Gold table a model fills, keyed by `schema.table`, its input fields named as
 * lineage datasets by `datasetOf` (the lake's naming). Silver columns for everything derived from Silver.
 */
export async function warehouseColumnLineage(
  db: DuckDb,
  options: { tables: WarehouseTables; inputs: readonly LakeTable[]; datasetOf: (qualified: string) => DatasetId },
): Promise<Record<string, ColumnLineageDatasetFacet>> {
  const { tables } = options;
  // The build computes fact_order into a temp table once and the line facts read it there (warehouse.ts).
  const standIns = new Map([
    ['temp.main.wh_fact_order', qualifiedName(tables.factOrder)],
    ['temp.main.wh_fact_order_line', qualifiedName(tables.factOrderLine)],
  ]);
  const resolver = new SqlColumnLineage([...options.inputs, ...Object.values(tables)], standIns);
  const context = {
    gold: tables.dimProduct.schema,
    silver: options.inputs[0]?.schema ?? 'silver',
    position: 0n,
    full: true,
  };
  const direct = new Map<string, Relation>();
  for (const [field, model] of Object.entries(MODEL_OF) as [keyof WarehouseTables, ModelName][]) {
    const node = await SqlColumnLineage.parse(db, modelSql(model, context));
    direct.set(qualifiedName(tables[field]), resolver.columnsOf(node));
  }
  // Gold tables a model fills are replaced by the model's lineage, transitively.
  const resolved = new Map<string, Sources>();
  const resolve = (table: string, column: string, seen: Set<string>): Sources => {
    const id = key(table, column);
    const cached = resolved.get(id);
    if (cached) return cached;
    const sources: Sources = new Map();
    const model = direct.get(table);
    if (!model || seen.has(id)) {
      sources.set(id, 'IDENTITY');
      return sources;
    }
    seen.add(id);
    for (const [source, subtype] of model.columns.get(column) ?? []) {
      const [t, c] = source.split('\u0000') as [string, string];
      merge(sources, resolve(t, c, seen), subtype);
    }
    seen.delete(id);
    resolved.set(id, sources);
    return sources;
  };
  const out: Record<string, ColumnLineageDatasetFacet> = {};
  for (const [field] of Object.entries(MODEL_OF) as [keyof WarehouseTables, ModelName][]) {
    const table = tables[field];
    const qualified = qualifiedName(table);
    const fields: Parameters<typeof facets.columnLineage>[0] = {};
    for (const column of table.columns) {
      const sources = resolve(qualified, column.name, new Set());
      if (sources.size === 0) continue;
      fields[column.name] = [...sources]
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([source, subtype]) => {
          const [t, c] = source.split('\u0000') as [string, string];
          return { ...options.datasetOf(t), field: c, transformations: [{ type: 'DIRECT' as const, subtype }] };
        });
    }
    out[qualified] = facets.columnLineage(fields);
  }
  return out;
}

/**
 * Reports the warehouse's builds driven through the lakehouse runner (`runIncrement`, `rebuildTransform`) as lineage
 * runs of `lake.warehouse`, each output carrying its columnLineage facet. The model SQL is parsed once here; without
 * lineage configured nothing is parsed or subscribed.
 */
export async function installWarehouseLineage(
  warehouse: Warehouse,
  lake: DuckDb,
  options: { client?: LineageClient; config?: PlatformConfig } = {},
): Promise<LineageSubscription> {
  const client = options.client ?? LineageClient.fromEnv();
  const owned = !options.client;
  const closeOwned = async () => {
    if (owned) await client.close(2_000);
  };
  if (client.transportName === 'noop') return { close: closeOwned };
  const config = options.config ?? loadPlatformConfig();
  const catalog = lakeCatalogOf(config);
  const lineage = await warehouseColumnLineage(lake, {
    tables: warehouse.tables,
    inputs: warehouse.inputs,
    datasetOf: (qualified) => {
      const [schema = '', table = ''] = qualified.split('.');
      return datasetNames.ducklake(catalog, schema, table);
    },
  });
  const subscription = installTransformLineage({
    client,
    config,
    outputFacets: {
      [warehouse.name]: Object.fromEntries(Object.entries(lineage).map(([t, columnLineage]) => [t, { columnLineage }])),
    },
  });
  return {
    async close(timeoutMs) {
      await subscription.close(timeoutMs);
      await closeOwned();
    },
  };
}
