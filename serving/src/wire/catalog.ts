import type { AnalystSession } from '@bitvelocity/warehouse';
import { ARRAY_OF, PG_OID } from './types.js';

/** Postgres's own OIDs of the catalog relations clients name as `'pg_class'::regclass` (pg_class.dat). */
const CATALOG_OIDS: Record<string, number> = {
  pg_type: 1247,
  pg_attribute: 1249,
  pg_proc: 1255,
  pg_class: 1259,
  pg_namespace: 2615,
  pg_constraint: 2606,
  pg_database: 1262,
};

/** The Postgres type of a DuckDB column type name (duckdb_columns().data_type), as serving/src/wire/types.ts sends it. */
const PG_TYPE_OF_DUCKDB = (column: string) => `CASE
  WHEN ${column} LIKE '%[]' THEN CASE regexp_replace(${column}, '\\[\\]$', '')
    ${Object.entries({
      BOOLEAN: 1000,
      BIGINT: 1016,
      SMALLINT: 1005,
      INTEGER: 1007,
      VARCHAR: 1009,
      DOUBLE: 1022,
      FLOAT: 1021,
      DATE: 1182,
      'TIMESTAMP WITH TIME ZONE': 1185,
      TIMESTAMP: 1115,
      UUID: 2951,
    })
      .map(([t, oid]) => `WHEN '${t}' THEN ${oid}`)
      .join(' ')}
    ELSE CASE WHEN ${column} LIKE 'DECIMAL%' THEN 1231 ELSE ${PG_OID.text} END END
  WHEN ${column} = 'BOOLEAN' THEN ${PG_OID.bool}
  WHEN ${column} IN ('TINYINT', 'SMALLINT', 'UTINYINT') THEN ${PG_OID.int2}
  WHEN ${column} IN ('INTEGER', 'USMALLINT') THEN ${PG_OID.int4}
  WHEN ${column} IN ('BIGINT', 'UINTEGER') THEN ${PG_OID.int8}
  WHEN ${column} LIKE 'DECIMAL%' OR ${column} IN ('HUGEINT', 'UBIGINT', 'UHUGEINT') THEN ${PG_OID.numeric}
  WHEN ${column} = 'FLOAT' THEN ${PG_OID.float4}
  WHEN ${column} = 'DOUBLE' THEN ${PG_OID.float8}
  WHEN ${column} = 'JSON' THEN ${PG_OID.json}
  WHEN ${column} = 'BLOB' THEN ${PG_OID.bytea}
  WHEN ${column} = 'DATE' THEN ${PG_OID.date}
  WHEN ${column} = 'TIME' THEN ${PG_OID.time}
  WHEN ${column} = 'TIME WITH TIME ZONE' THEN ${PG_OID.timetz}
  WHEN ${column} = 'TIMESTAMP WITH TIME ZONE' THEN ${PG_OID.timestamptz}
  WHEN ${column} LIKE 'TIMESTAMP%' THEN ${PG_OID.timestamp}
  WHEN ${column} = 'INTERVAL' THEN ${PG_OID.interval}
  WHEN ${column} = 'UUID' THEN ${PG_OID.uuid}
  ELSE ${PG_OID.text} END`;

/** pg_type rows of the types the server sends: (oid, typname, typlen, typelem, typarray, typcategory). */
function pgTypeRows(): string {
  const lengths: Record<string, number> = { bool: 1, int2: 2, int4: 4, int8: 8, float4: 4, float8: 8, date: 4 };
  const categories: Record<string, string> = {
    bool: 'B',
    int2: 'N',
    int4: 'N',
    int8: 'N',
    float4: 'N',
    float8: 'N',
    numeric: 'N',
    date: 'D',
    time: 'D',
    timetz: 'D',
    timestamp: 'D',
    timestamptz: 'D',
    interval: 'T',
    text: 'S',
    varchar: 'S',
  };
  const rows: string[] = [];
  for (const [name, oid] of Object.entries(PG_OID)) {
    const array = ARRAY_OF[oid] ?? 0;
    rows.push(`(${oid}, '${name}', ${lengths[name] ?? -1}, 0, ${array}, '${categories[name] ?? 'U'}', '${name}in')`);
    if (array) rows.push(`(${array}, '_${name}', -1, ${oid}, 0, 'A', 'array_in')`);
  }
  return rows.join(',\n      ');
}

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
      SELECT * FROM system.pg_catalog.pg_namespace WHERE nspname IN (${schemas})
      UNION ALL SELECT 11, 'pg_catalog', 0, NULL
       WHERE NOT EXISTS (SELECT 1 FROM system.pg_catalog.pg_namespace WHERE nspname = 'pg_catalog');
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
    CREATE TEMP TABLE pg_extension (oid BIGINT, extname VARCHAR, extowner BIGINT, extnamespace BIGINT,
      extrelocatable BOOLEAN, extversion VARCHAR);
    -- Postgres's type OIDs (DuckDB's pg_catalog numbers types by its own type ids): what JDBC's type cache and
    -- DatabaseMetaData.getColumns look columns' types up in.
    CREATE TEMP VIEW pg_type AS
      SELECT oid, typname, (SELECT min(oid) FROM pg_namespace WHERE nspname = 'pg_catalog') AS typnamespace,
             typlen, 'b' AS typtype, typcategory, typelem, typarray, typinput, 0 AS typbasetype, -1 AS typtypmod,
             false AS typnotnull, 0 AS typrelid, NULL::VARCHAR AS typdefault, 0 AS typowner, 0 AS typcollation
        FROM (VALUES ${pgTypeRows()}) t(oid, typname, typlen, typelem, typarray, typcategory, typinput);
    CREATE TEMP VIEW pg_attribute AS
      SELECT a.* REPLACE (${PG_TYPE_OF_DUCKDB('dc.data_type')} AS atttypid,
          CASE WHEN dc.data_type LIKE 'DECIMAL%' THEN ((dc.numeric_precision << 16) | dc.numeric_scale) + 4 ELSE -1 END
            AS atttypmod)
        FROM system.pg_catalog.pg_attribute a
        JOIN duckdb_columns() dc ON dc.table_oid = a.attrelid AND dc.column_index = a.attnum;
    CREATE TEMP VIEW pg_description AS
      SELECT objoid, ${CATALOG_OIDS.pg_class} AS classoid, objsubid, description FROM system.pg_catalog.pg_description;
    CREATE TEMP MACRO format_type(type_oid, typemod) AS CASE
      WHEN type_oid = ${PG_OID.numeric} AND typemod > 4
        THEN 'numeric(' || ((typemod - 4) >> 16) || ',' || ((typemod - 4) & 65535) || ')'
      ELSE coalesce((SELECT CASE WHEN typelem <> 0 THEN substr(typname, 2) || '[]' ELSE typname END
                       FROM pg_type WHERE oid = type_oid), 'text')
      END;
    CREATE TEMP MACRO quote_ident(name) AS
      CASE WHEN regexp_full_match(name, '[a-z_][a-z0-9_$]*') THEN name ELSE '"' || replace(name, '"', '""') || '"' END;
    CREATE TEMP MACRO parse_ident(name) AS list_transform(string_split(name, '.'), part ->
      CASE WHEN starts_with(part, '"') THEN replace(part[2:-2], '""', '"') ELSE lower(part) END);
    CREATE TEMP MACRO array_lower(list, dimension) AS CASE WHEN len(list) > 0 THEN 1 END;
    -- The lake has no primary keys (pg_constraint is empty): this stands in for the row-expanding original.
    CREATE TEMP MACRO bv_pg_expandarray(list) AS {'x': list[1], 'n': 1};
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

/*
 * Grafana's PostgreSQL data source keeps tables on the search path unqualified: its constraint splits
 * current_setting('search_path') in FROM-clause forms DuckDB lacks. No analyst schema is on the search path
 * ("$user", public), so the constraint is false and Grafana names every table schema-qualified.
 */
const GRAFANA_SEARCH_PATH =
  /quote_ident\(table_schema\)\s+IN\s+\(\s*SELECT\s+CASE\s+WHEN\s+trim\(s\[i\]\)\s*=\s*'"\$user"'[\s\S]*?string_to_array\(current_setting\('search_path'\),','\)\s+s\s*\)/gi;

/** Rewrites the parts of a catalog query DuckDB does not parse or resolve; other SQL passes through unchanged. */
export function translateCatalogQuery(sql: string): string {
  // The lake has no publications; psql's query for them uses array forms DuckDB lacks.
  if (/\bFROM\s+pg_catalog\.pg_publication\s+p\b/i.test(sql)) {
    return 'SELECT NULL::VARCHAR AS pubname, NULL::VARCHAR AS prqual, NULL::VARCHAR AS prattrs WHERE false';
  }
  // Clients read the server kind from version(): say Postgres-compatible, and what is behind it.
  const versioned = sql
    .replace(/\b(pg_catalog\.)?version\(\s*\)/gi, `'${SERVER_VERSION_TEXT}'`)
    .replace(/\b(pg_catalog\.)?current_setting\(\s*'server_version_num'\s*\)/gi, "'150000'");
  if (versioned !== sql) return translateCatalogQuery(versioned);
  if (!/pg_catalog|pg_class|pg_namespace|pg_attribute|pg_type|regclass|information_schema/i.test(sql)) return sql;
  return (
    sql
      .replace(GRAFANA_SEARCH_PATH, ' false ')
      .replace(/\binformation_schema\._pg_expandarray\b/gi, 'bv_pg_expandarray')
      .replace(/'(?:pg_catalog\.)?([a-z_]+)'\s*::\s*(?:pg_catalog\.)?regclass\b/gi, (match, name: string) =>
        CATALOG_OIDS[name.toLowerCase()] === undefined ? match : String(CATALOG_OIDS[name.toLowerCase()]),
      )
      .replace(/'(?:pg_catalog\.)?([a-z_]+)'\s*::\s*(?:pg_catalog\.)?regproc\b/gi, "'$1'")
      // Postgres's ~ / !~ find a regular expression anywhere; DuckDB's ~ must match the whole string.
      .replace(
        /([\w."]+)\s*(?<![~!])(!?)~(?![~*])\s*('(?:[^']|'')*')/g,
        (_m, operand: string, not: string, pattern: string) =>
          `(${not ? 'NOT ' : ''}regexp_matches(${operand}, ${pattern}))`,
      )
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
      .replace(/\bpg_catalog\.(?=[a-z_]+)/gi, '')
  );
}
