/**
 * The catalog SQL that JDBC tools (pgjdbc 42.x, used by DBeaver and Metabase), DBeaver itself and Grafana's
 * PostgreSQL data source send on connect and to list schemas, tables and columns, as they send it (pgjdbc's `?` are
 * `$n` on the wire), with the columns each client reads from the answer. Sources: pgjdbc's PgDatabaseMetaData,
 * TypeInfoCache, ConnectionFactoryImpl and PgConnection; DBeaver's PostgreDatabase schema cache; Grafana's
 * public/app/plugins/datasource/grafana-postgresql-datasource/postgresMetaQuery.ts.
 */
export interface ClientCatalogQuery {
  client: string;
  what: string;
  sql: string;
  params?: (schema: string, table: string) => unknown[];
  /** Columns the client reads by name (pgjdbc upper-cases some labels itself: compared case-insensitively). */
  reads: string[];
  /** The answer must name the spec's table (or schema). */
  finds?: 'table' | 'schema' | 'column';
}

const PGJDBC_TABLE_TYPE = `CASE n.nspname ~ '^pg_' OR n.nspname = 'information_schema'  WHEN true THEN CASE  WHEN n.nspname = 'pg_catalog' OR n.nspname = 'information_schema' THEN CASE c.relkind   WHEN 'r' THEN 'SYSTEM TABLE'   WHEN 'v' THEN 'SYSTEM VIEW'   WHEN 'i' THEN 'SYSTEM INDEX'   ELSE NULL   END  WHEN n.nspname = 'pg_toast' THEN CASE c.relkind   WHEN 'r' THEN 'SYSTEM TOAST TABLE'   WHEN 'i' THEN 'SYSTEM TOAST INDEX'   ELSE NULL   END  ELSE CASE c.relkind   WHEN 'r' THEN 'TEMPORARY TABLE'   WHEN 'p' THEN 'TEMPORARY TABLE'   WHEN 'i' THEN 'TEMPORARY INDEX'   WHEN 'S' THEN 'TEMPORARY SEQUENCE'   WHEN 'v' THEN 'TEMPORARY VIEW'   ELSE NULL   END  END  WHEN false THEN CASE c.relkind  WHEN 'r' THEN 'TABLE'  WHEN 'p' THEN 'PARTITIONED TABLE'  WHEN 'i' THEN 'INDEX'  WHEN 'P' then 'PARTITIONED INDEX'  WHEN 'S' THEN 'SEQUENCE'  WHEN 'v' THEN 'VIEW'  WHEN 'c' THEN 'TYPE'  WHEN 'f' THEN 'FOREIGN TABLE'  WHEN 'm' THEN 'MATERIALIZED VIEW'  ELSE NULL  END  ELSE NULL  END `;

const pgjdbcGetTables = (types: string) =>
  `SELECT current_database() AS "TABLE_CAT", n.nspname AS "TABLE_SCHEM", c.relname AS "TABLE_NAME",  ${PGJDBC_TABLE_TYPE} AS "TABLE_TYPE", d.description AS "REMARKS",  '' as "TYPE_CAT", '' as "TYPE_SCHEM", '' as "TYPE_NAME", '' AS "SELF_REFERENCING_COL_NAME", '' AS "REF_GENERATION"  FROM pg_catalog.pg_namespace n, pg_catalog.pg_class c  LEFT JOIN pg_catalog.pg_description d ON (c.oid = d.objoid AND d.objsubid = 0  and d.classoid = 'pg_class'::regclass)  WHERE c.relnamespace = n.oid  AND n.nspname LIKE $1 AND c.relname LIKE $2 AND (false ${types}) ORDER BY "TABLE_TYPE","TABLE_SCHEM","TABLE_NAME" `;
const TABLE_OR_VIEW = ` OR ( c.relkind = 'r' AND n.nspname !~ '^pg_' AND n.nspname <> 'information_schema' )  OR ( c.relkind = 'v' AND n.nspname <> 'pg_catalog' AND n.nspname <> 'information_schema' ) `;
// Metabase asks for these five types.
const METABASE_TYPES = `${TABLE_OR_VIEW} OR ( c.relkind = 'p' AND n.nspname !~ '^pg_' AND n.nspname <> 'information_schema' )  OR ( c.relkind = 'f' )  OR ( c.relkind = 'm' ) `;

const GRAFANA_SEARCH_PATH = `
          quote_ident(table_schema) IN (
          SELECT
            CASE WHEN trim(s[i]) = '"$user"' THEN user ELSE trim(s[i]) END
          FROM
            generate_series(
              array_lower(string_to_array(current_setting('search_path'),','),1),
              array_upper(string_to_array(current_setting('search_path'),','),1)
            ) as i,
            string_to_array(current_setting('search_path'),',') s
          )`;

export const CLIENT_CATALOG_QUERIES: ClientCatalogQuery[] = [
  // pgjdbc connection startup (without assumeMinServerVersion) and what DBeaver runs right after connecting
  { client: 'pgjdbc', what: 'startup: extra_float_digits', sql: 'SET extra_float_digits = 3', reads: [] },
  {
    client: 'pgjdbc',
    what: 'startup: application_name',
    sql: "SET application_name = 'PostgreSQL JDBC Driver'",
    reads: [],
  },
  {
    client: 'pgjdbc',
    what: 'Connection.getTransactionIsolation',
    sql: 'SHOW TRANSACTION ISOLATION LEVEL',
    reads: ['transaction_isolation'],
  },
  {
    client: 'pgjdbc',
    what: 'Connection.setReadOnly(true)',
    sql: 'SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY',
    reads: [],
  },
  {
    client: 'pgjdbc',
    what: 'DatabaseMetaData.getSchemas',
    sql: `SELECT nspname AS "TABLE_SCHEM", current_database() AS "TABLE_CATALOG" FROM pg_catalog.pg_namespace  WHERE nspname <> 'pg_toast' AND (nspname !~ '^pg_temp_'  OR nspname = (pg_catalog.current_schemas(true))[1]) AND (nspname !~ '^pg_toast_temp_'  OR nspname = replace((pg_catalog.current_schemas(true))[1], 'pg_temp_', 'pg_toast_temp_'))  ORDER BY "TABLE_SCHEM"`,
    reads: ['TABLE_SCHEM', 'TABLE_CATALOG'],
    finds: 'schema',
  },
  {
    client: 'pgjdbc',
    what: 'DatabaseMetaData.getCatalogs',
    sql: 'SELECT datname AS "TABLE_CAT" FROM pg_catalog.pg_database WHERE datallowconn = true ORDER BY datname',
    reads: ['TABLE_CAT'],
  },
  {
    client: 'pgjdbc (DBeaver)',
    what: 'DatabaseMetaData.getTables(null, schema, "%", [TABLE, VIEW])',
    sql: pgjdbcGetTables(TABLE_OR_VIEW),
    params: (schema) => [schema, '%'],
    reads: ['TABLE_CAT', 'TABLE_SCHEM', 'TABLE_NAME', 'TABLE_TYPE', 'REMARKS'],
    finds: 'table',
  },
  {
    client: 'pgjdbc (Metabase)',
    what: 'DatabaseMetaData.getTables(null, schema, "%", [TABLE, PARTITIONED TABLE, VIEW, FOREIGN TABLE, MATERIALIZED VIEW])',
    sql: pgjdbcGetTables(METABASE_TYPES),
    params: (schema) => [schema, '%'],
    reads: ['TABLE_SCHEM', 'TABLE_NAME', 'TABLE_TYPE', 'REMARKS'],
    finds: 'table',
  },
  {
    client: 'pgjdbc',
    what: 'DatabaseMetaData.getColumns(null, schema, table, "%")',
    sql: `SELECT * FROM (SELECT current_database() AS current_database, n.nspname,c.relname,a.attname,a.atttypid,a.attnotnull  OR (t.typtype = 'd' AND t.typnotnull) AS attnotnull,a.atttypmod,a.attlen,t.typtypmod,row_number() OVER (PARTITION BY a.attrelid ORDER BY a.attnum) AS attnum, nullif(a.attidentity, '') as attidentity,nullif(a.attgenerated, '') as attgenerated,pg_catalog.pg_get_expr(def.adbin, def.adrelid) AS adsrc,dsc.description,t.typbasetype,t.typtype  FROM pg_catalog.pg_namespace n  JOIN pg_catalog.pg_class c ON (c.relnamespace = n.oid)  JOIN pg_catalog.pg_attribute a ON (a.attrelid=c.oid)  JOIN pg_catalog.pg_type t ON (a.atttypid = t.oid)  LEFT JOIN pg_catalog.pg_attrdef def ON (a.attrelid=def.adrelid AND a.attnum = def.adnum)  LEFT JOIN pg_catalog.pg_description dsc ON (c.oid=dsc.objoid AND a.attnum = dsc.objsubid)  LEFT JOIN pg_catalog.pg_class dc ON (dc.oid=dsc.classoid AND dc.relname='pg_class')  LEFT JOIN pg_catalog.pg_namespace dn ON (dc.relnamespace=dn.oid AND dn.nspname='pg_catalog')  WHERE c.relkind in ('r','p','v','f','m') and a.attnum > 0 AND NOT a.attisdropped  AND n.nspname LIKE $1 AND c.relname LIKE $2) c WHERE true  AND attname LIKE $3 ORDER BY nspname,c.relname,attnum `,
    params: (schema, table) => [schema, table, '%'],
    reads: [
      'nspname',
      'relname',
      'attname',
      'atttypid',
      'atttypmod',
      'attnotnull',
      'attnum',
      'attidentity',
      'attgenerated',
      'adsrc',
      'description',
      'typbasetype',
      'typtype',
    ],
    finds: 'column',
  },
  {
    client: 'pgjdbc',
    what: 'DatabaseMetaData.getPrimaryKeys(null, schema, table)',
    sql: `SELECT        result.TABLE_CAT AS "TABLE_CAT",        result.TABLE_SCHEM AS "TABLE_SCHEM",        result.TABLE_NAME AS "TABLE_NAME",        result.COLUMN_NAME AS "COLUMN_NAME",        result.KEY_SEQ AS "KEY_SEQ",        result.PK_NAME AS "PK_NAME"FROM      (SELECT current_database() AS TABLE_CAT, n.nspname AS TABLE_SCHEM,   ct.relname AS TABLE_NAME, a.attname AS COLUMN_NAME,   (information_schema._pg_expandarray(con.conkey)).n AS KEY_SEQ, con.conname AS PK_NAME,   information_schema._pg_expandarray(con.conkey) AS KEYS, a.attnum AS A_ATTNUM FROM pg_catalog.pg_constraint con   JOIN pg_catalog.pg_class ct ON (con.conrelid = ct.oid)   JOIN pg_catalog.pg_namespace n ON (ct.relnamespace = n.oid)   JOIN pg_catalog.pg_attribute a ON (a.attrelid = ct.oid) WHERE con.contype = 'p'  AND n.nspname = $1 AND ct.relname = $2 ) result where  result.A_ATTNUM = (result.KEYS).x  ORDER BY result.table_name, result.pk_name, result.key_seq`,
    params: (schema, table) => [schema, table],
    reads: ['TABLE_SCHEM', 'TABLE_NAME', 'COLUMN_NAME', 'KEY_SEQ', 'PK_NAME'],
  },
  {
    client: 'pgjdbc',
    what: 'TypeInfoCache.getSQLType(oid) (reading a result column of an unknown type)',
    sql: `SELECT typinput='pg_catalog.array_in'::regproc as is_array, typtype, typname, pg_type.oid   FROM pg_catalog.pg_type   LEFT JOIN (select ns.oid as nspoid, ns.nspname, r.r           from pg_namespace as ns           join ( select s.r, (current_schemas(false))[s.r] as nspname                    from generate_series(1, array_upper(current_schemas(false), 1)) as s(r) ) as r          using ( nspname )        ) as sp     ON sp.nspoid = typnamespace  WHERE pg_type.oid = $1  ORDER BY sp.r, pg_type.oid DESC;`,
    params: () => [1700],
    reads: ['is_array', 'typtype', 'typname', 'oid'],
  },
  {
    client: 'pgjdbc',
    what: 'TypeInfoCache.getPGType(oid)',
    sql: 'SELECT n.nspname = ANY(current_schemas(true)), n.nspname, t.typname FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON t.typnamespace = n.oid WHERE t.oid = $1',
    params: () => [1700],
    reads: ['nspname', 'typname'],
  },
  {
    client: 'DBeaver',
    what: 'database',
    sql: 'SELECT db.oid,db.* FROM pg_catalog.pg_database db WHERE datname=$1',
    params: () => ['lake'],
    reads: ['oid', 'datname'],
  },
  {
    client: 'DBeaver',
    what: 'schemas',
    sql: `SELECT n.oid,n.*,d.description FROM pg_catalog.pg_namespace n
LEFT OUTER JOIN pg_catalog.pg_description d ON d.objoid=n.oid AND d.objsubid=0 AND d.classoid='pg_namespace'::regclass
 ORDER BY nspname`,
    reads: ['oid', 'nspname', 'description'],
    finds: 'schema',
  },
  {
    client: 'Grafana',
    what: 'getVersion',
    sql: "SELECT current_setting('server_version_num')::int/100 as version",
    reads: ['version'],
  },
  {
    client: 'Grafana',
    what: 'getTimescaleDBVersion',
    sql: "SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'",
    reads: ['extversion'],
  },
  {
    client: 'Grafana',
    what: 'showSchemas',
    sql: `SELECT schema_name AS "name"
    FROM information_schema.schemata
    WHERE schema_name NOT IN ('information_schema',
                              'pg_catalog',
                              'pg_toast',
                              '_timescaledb_cache',
                              '_timescaledb_catalog',
                              '_timescaledb_internal',
                              '_timescaledb_config',
                              'timescaledb_information',
                              'timescaledb_experimental')
    ORDER BY schema_name`,
    reads: ['name'],
    finds: 'schema',
  },
  {
    client: 'Grafana',
    what: 'showTables(schema)',
    sql: `SELECT quote_ident(table_name) AS "table"
      FROM information_schema.tables
      WHERE quote_ident(table_schema) = $1
      ORDER BY 1`,
    params: (schema) => [schema],
    reads: ['table'],
    finds: 'table',
  },
  {
    client: 'Grafana',
    what: 'showTables() over the search path',
    sql: `SELECT
    CASE WHEN ${GRAFANA_SEARCH_PATH}
      THEN quote_ident(table_name)
      ELSE quote_ident(table_schema) || '.' || quote_ident(table_name)
    END AS "table"
    FROM information_schema.tables
    WHERE quote_ident(table_schema) NOT IN ('information_schema',
                             'pg_catalog',
                             '_timescaledb_cache',
                             '_timescaledb_catalog',
                             '_timescaledb_internal',
                             '_timescaledb_config',
                             'timescaledb_information',
                             'timescaledb_experimental')
    ORDER BY CASE WHEN ${GRAFANA_SEARCH_PATH} THEN 0 ELSE 1 END, 1`,
    reads: ['table'],
    finds: 'table',
  },
  {
    client: 'Grafana',
    what: 'getSchema(schema.table): the columns',
    sql: `SELECT quote_ident(column_name) AS "column", data_type AS "type"
    FROM information_schema.columns
    WHERE
      CASE WHEN array_length(parse_ident($1),1) = 2
        THEN quote_ident(table_schema) = (parse_ident($1))[1]
          AND quote_ident(table_name) = (parse_ident($1))[2]
        ELSE quote_ident(table_name) = $1
          AND ${GRAFANA_SEARCH_PATH}
      END`,
    params: (schema, table) => [`${schema}.${table}`],
    reads: ['column', 'type'],
    finds: 'column',
  },
];
