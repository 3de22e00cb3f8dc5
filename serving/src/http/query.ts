import type { DuckDBValue } from '@duckdb/node-api';
import type { LakeSchemas } from './aggregates.js';
import { ServingApiError } from './errors.js';

/**
 * POST /v1/query runs an analyst's SELECT over tenant-scoped relations only. DuckDB has no row-level security, so the
 * statement is parsed by DuckDB itself (json_serialize_sql) and refused unless every table it reads is one of the
 * relations below (or a CTE of its own) and it calls no table function beyond a few generators. The relations are
 * CTEs around the statement that filter the lake by the token's tenant; the connection is read-only and cannot reach
 * files or the network by DuckDB's own settings (lake-reader.ts), so the parse check is the only thing that decides
 * which rows a tenant sees, and the engine decides that nothing is written.
 */
export function tenantRelations(s: LakeSchemas): Record<string, string> {
  const products = `SELECT product_id FROM lake.${s.silver}.order_lines WHERE tenant_id = $bv_tenant
                    UNION SELECT product_id FROM lake.${s.silver}.products WHERE tenant_id = $bv_tenant`;
  const customers = `SELECT customer_id FROM lake.${s.silver}.orders WHERE tenant_id = $bv_tenant
                     UNION SELECT customer_id FROM lake.${s.silver}.customers WHERE tenant_id = $bv_tenant`;
  const silver = (table: string) =>
    `SELECT * EXCLUDE (_bronze_topic, _bronze_partition, _bronze_offset, _bronze_rowid)
       FROM lake.${s.silver}.${table} WHERE tenant_id = $bv_tenant`;
  return {
    orders: silver('orders'),
    order_lines: silver('order_lines'),
    products: silver('products'),
    customers: silver('customers'),
    orders_per_product_1m: `SELECT * FROM lake.${s.gold}.orders_per_product_1m WHERE product_id IN (${products})`,
    customer_sessions: `SELECT * FROM lake.${s.gold}.customer_sessions WHERE customer_id IN (${customers})`,
    anomalies: `SELECT * EXCLUDE (_source_topic, _source_partition, _source_offset) FROM lake.${s.gold}.anomalies
                 WHERE (metric = 'product_orders_per_minute' AND key IN (${products}))
                    OR (metric = 'order_amount_cents' AND event_id IN
                          (SELECT event_id FROM lake.${s.silver}.orders WHERE tenant_id = $bv_tenant))`,
  };
}

const GENERATORS = new Set(['range', 'generate_series', 'unnest']);

interface AstNode {
  type?: string;
  [key: string]: unknown;
}

/** Walks DuckDB's parse tree of the statement; the first reason to refuse it, or undefined. */
function refusal(tree: unknown, allowed: ReadonlySet<string>): string | undefined {
  const ctes = new Set<string>();
  const tables: AstNode[] = [];
  const functions: string[] = [];
  const visit = (node: unknown): void => {
    if (Array.isArray(node)) {
      for (const child of node) visit(child);
      return;
    }
    if (!node || typeof node !== 'object') return;
    const n = node as AstNode;
    if (n.type === 'BASE_TABLE') tables.push(n);
    if (n.type === 'TABLE_FUNCTION') {
      const fn = n.function as { function_name?: string } | undefined;
      functions.push(String(fn?.function_name ?? ''));
    }
    const cteMap = n.cte_map as { map?: { key: string }[] } | undefined;
    for (const entry of cteMap?.map ?? []) ctes.add(entry.key.toLowerCase());
    for (const value of Object.values(n)) visit(value);
  };
  visit(tree);
  const fn = functions.find((f) => !GENERATORS.has(f.toLowerCase()));
  if (fn !== undefined) return `table function ${fn}() is not available here`;
  for (const table of tables) {
    const name = String(table.table_name).toLowerCase();
    if (table.schema_name || table.catalog_name)
      return `${[table.catalog_name, table.schema_name, table.table_name].filter(Boolean).join('.')}: name a relation without a schema (${[...allowed].join(', ')})`;
    if (table.at_clause) return 'time travel (AT) is not available here';
    if (!allowed.has(name) && !ctes.has(name))
      return `unknown relation ${table.table_name}; the relations are ${[...allowed].join(', ')}`;
  }
  return undefined;
}

export interface PreparedQuery {
  sql: string;
  params: Record<string, DuckDBValue>;
}

/**
 * The analyst's statement checked and wrapped in the tenant's relations; 400 QUERY_REFUSED with the reason when it
 * is not one SELECT over those relations.
 */
export async function prepareTenantQuery(
  parse: (sql: string) => Promise<string>,
  schemas: LakeSchemas,
  statement: string,
  params: Record<string, string | number | boolean | null>,
  tenant: string,
): Promise<PreparedQuery> {
  const sql = statement.trim().replace(/;\s*$/, '');
  const reserved = Object.keys(params).find((name) => name.toLowerCase().startsWith('bv_'));
  if (reserved) throw new ServingApiError('QUERY_REFUSED', `parameter names starting bv_ are reserved`, `body/params`);
  const parsed = JSON.parse(await parse(sql)) as {
    error: boolean;
    error_message?: string;
    statements?: unknown[];
  };
  if (parsed.error)
    throw new ServingApiError('QUERY_REFUSED', `only a SELECT can run here: ${parsed.error_message}`, 'body/sql');
  if (parsed.statements?.length !== 1)
    throw new ServingApiError('QUERY_REFUSED', 'send exactly one SELECT statement', 'body/sql');
  const relations = tenantRelations(schemas);
  const reason = refusal(parsed.statements, new Set(Object.keys(relations)));
  if (reason) throw new ServingApiError('QUERY_REFUSED', reason, 'body/sql');
  const ctes = Object.entries(relations)
    .map(([name, body]) => `${name} AS (${body})`)
    .join(',\n');
  return { sql: `WITH ${ctes}\nSELECT * FROM (\n${sql}\n) AS analyst_query`, params: { ...params, bv_tenant: tenant } };
}
