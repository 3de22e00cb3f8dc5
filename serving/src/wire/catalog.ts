import type { AnalystSession } from '@bitvelocity/warehouse';

/**
 * What Postgres clients ask the catalog on connect and for `\dt` / `\d` / schema trees, answered from DuckDB's own
 * pg_catalog views. Each session gets TEMP views over them that show only the analyst schemas (so bv_meta and the
 * engine's internal schemas are not listed) and TEMP macros for the functions DuckDB lacks; client SQL is rewritten
 * only where DuckDB's dialect differs (schema-qualified pg_catalog names, OPERATOR(pg_catalog.~), regclass casts).
 */
export async function installCatalog(session: AnalystSession): Promise<void> {
  const schemas = [...session.database.schemas, 'pg_catalog', 'information_schema']
    .map((s) => `'${s.replaceAll("'", "''")}'`)
    .join(', ');
  await session.run(`
    CREATE TEMP VIEW pg_namespace AS
      SELECT * FROM system.pg_catalog.pg_namespace WHERE nspname IN (${schemas});
    CREATE TEMP VIEW pg_class AS
      SELECT c.* EXCLUDE (reloptions), []::VARCHAR[] AS reloptions, false AS relforcerowsecurity
      FROM system.pg_catalog.pg_class c
      WHERE c.relnamespace IN (SELECT oid FROM system.pg_catalog.pg_namespace WHERE nspname IN (${schemas}));
    CREATE TEMP TABLE pg_roles (oid BIGINT, rolname VARCHAR);
    CREATE TEMP TABLE pg_policy (polname VARCHAR, polpermissive BOOLEAN, polroles BIGINT[], polqual VARCHAR,
      polwithcheck VARCHAR, polcmd VARCHAR, polrelid BIGINT);
    CREATE TEMP TABLE pg_statistic_ext (oid BIGINT, stxrelid BIGINT, stxname VARCHAR, stxnamespace BIGINT,
      stxkind VARCHAR[], stxstattarget INTEGER, stxkeys INTEGER[]);
    CREATE TEMP TABLE pg_publication (oid BIGINT, pubname VARCHAR, puballtables BOOLEAN, pubinsert BOOLEAN,
      pubupdate BOOLEAN, pubdelete BOOLEAN, pubtruncate BOOLEAN, pubviaroot BOOLEAN);
    CREATE TEMP TABLE pg_publication_rel (oid BIGINT, prpubid BIGINT, prrelid BIGINT, prqual VARCHAR, prattrs INTEGER[]);
    CREATE TEMP TABLE pg_publication_namespace (oid BIGINT, pnpubid BIGINT, pnnspid BIGINT);
    CREATE TEMP TABLE pg_inherits (inhrelid BIGINT, inhparent BIGINT, inhseqno INTEGER, inhdetachpending BOOLEAN);
    CREATE TEMP TABLE pg_trigger (oid BIGINT, tgrelid BIGINT, tgparentid BIGINT, tgname VARCHAR, tgfoid BIGINT,
      tgtype INTEGER, tgenabled VARCHAR, tgisinternal BOOLEAN);
    CREATE TEMP TABLE pg_foreign_table (ftrelid BIGINT, ftserver BIGINT, ftoptions VARCHAR[]);
    CREATE TEMP VIEW bv_information_schema_tables AS
      SELECT * FROM information_schema.tables WHERE table_catalog = 'lake' AND table_schema IN (${schemas});
    CREATE TEMP VIEW bv_information_schema_columns AS
      SELECT * FROM information_schema.columns WHERE table_catalog = 'lake' AND table_schema IN (${schemas});
    CREATE TEMP VIEW bv_information_schema_schemata AS
      SELECT * FROM information_schema.schemata WHERE catalog_name = 'lake' AND schema_name IN (${schemas});
    CREATE TEMP VIEW bv_information_schema_views AS
      SELECT * FROM information_schema.views WHERE table_catalog = 'lake' AND table_schema IN (${schemas});
    CREATE TEMP MACRO pg_get_userbyid(id) AS 'bitvelocity';
    CREATE TEMP MACRO pg_encoding_to_char(id) AS 'UTF8';
    CREATE TEMP MACRO pg_relation_is_publishable(id) AS false;
    CREATE TEMP MACRO array_upper(list, dimension) AS len(list);
    CREATE TEMP MACRO pg_get_statisticsobjdef_columns(id) AS NULL;
    CREATE TEMP MACRO obj_description(id, catalog) AS
      (SELECT description FROM system.pg_catalog.pg_description d WHERE d.objoid = id AND d.objsubid = 0 LIMIT 1);
    CREATE TEMP MACRO col_description(id, col) AS
      (SELECT description FROM system.pg_catalog.pg_description d WHERE d.objoid = id AND d.objsubid = col LIMIT 1);
    CREATE TEMP MACRO has_schema_privilege(a, b) AS true;
    CREATE TEMP MACRO has_table_privilege(a, b) AS true;
  `);
}

export const SERVER_VERSION_TEXT = 'PostgreSQL 15.0 (BitVelocity analyst endpoint, DuckDB v1.5.5)';

/** Rewrites the parts of a catalog query DuckDB does not parse or resolve; other SQL passes through unchanged. */
export function translateCatalogQuery(sql: string): string {
  // The lake has no publications; psql's query for them uses array forms DuckDB lacks.
  if (/\bFROM\s+pg_catalog\.pg_publication\s+p\b/i.test(sql)) {
    return 'SELECT NULL::VARCHAR AS pubname, NULL::VARCHAR AS prqual, NULL::VARCHAR AS prattrs WHERE false';
  }
  // Clients read the server kind from version(): say Postgres-compatible, and what is behind it.
  const versioned = sql.replace(/\b(pg_catalog\.)?version\(\s*\)/gi, `'${SERVER_VERSION_TEXT}'`);
  if (versioned !== sql) return translateCatalogQuery(versioned);
  if (!/pg_catalog|pg_class|pg_namespace|pg_attribute|pg_type|regclass|information_schema/i.test(sql)) return sql;
  return sql
    .replace(/OPERATOR\(\s*pg_catalog\.([^)\s]+)\s*\)/gi, '$1')
    .replace(/pg_get_expr\(([^,()]+),([^,()]+),\s*(true|false)\s*\)/gi, 'pg_get_expr($1,$2)')
    .replace(/\s+COLLATE\s+pg_catalog\."?default"?/gi, '')
    .replace(/::\s*(pg_catalog\.)?regclass\b/gi, '::BIGINT')
    .replace(/::\s*(pg_catalog\.)?(regtype|regproc|regnamespace|regrole|oid|name)\b/gi, (_m, _p, type: string) =>
      type.toLowerCase() === 'name' ? '::VARCHAR' : '::BIGINT',
    )
    .replace(
      /\binformation_schema\.(tables|columns|schemata|views)\b/gi,
      (_m, view: string) => `bv_information_schema_${view.toLowerCase()}`,
    )
    .replace(/\bpg_catalog\.(?=[a-z_]+)/gi, '');
}
