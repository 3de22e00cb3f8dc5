/**
 * Dataset names per the OpenLineage naming conventions (spec/Naming.md), so the same table gets the same identity
 * from every producer (ours, Spark, dbt, Airflow):
 *
 * | source     | namespace                          | name                          |
 * |------------|------------------------------------|-------------------------------|
 * | PostgreSQL | `postgres://{host}:{port}`         | `{database}.{schema}.{table}` |
 * | Kafka      | `kafka://{bootstrap host}:{port}`  | `{topic}`                     |
 * | S3 / MinIO | `s3://{bucket}`                    | `{path}` (no leading slash)   |
 * | DuckLake   | `ducklake://{catalog host}:{port}/{catalog database}` | `{schema}.{table}` |
 *
 * A DuckLake table is a logical table whose files move with every commit, so it is named by its catalog (the
 * Postgres database holding DuckLake's metadata), not by a Parquet path; the data path is given as a symlink-free
 * dataSource facet where useful.
 */
export interface DatasetId {
  namespace: string;
  name: string;
}

export type LineageJobId = DatasetId;

/** The namespace of BitVelocity's own jobs (Debezium connectors, stream jobs, lake jobs...). */
export const BV_JOB_NAMESPACE = 'bitvelocity';

function hostPort(host: string, port: number | string | undefined, defaultPort: number): string {
  const h = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
  return `${h.toLowerCase()}:${port ?? defaultPort}`;
}

export const datasetNames = {
  postgres(server: { host: string; port?: number }, database: string, schema: string, table: string): DatasetId {
    return {
      namespace: `postgres://${hostPort(server.host, server.port, 5432)}`,
      name: `${database}.${schema}.${table}`,
    };
  },
  /** `bootstrap` is one broker, `host:port` (the first of the bootstrap list by convention). */
  kafka(bootstrap: string | string[], topic: string): DatasetId {
    const first = (Array.isArray(bootstrap) ? bootstrap[0] : bootstrap) ?? 'localhost:9092';
    const [host = 'localhost', port] = first.replace(/^[a-z]+:\/\//, '').split(':');
    return { namespace: `kafka://${hostPort(host, port, 9092)}`, name: topic };
  },
  s3(bucket: string, path: string): DatasetId {
    return { namespace: `s3://${bucket}`, name: path.replace(/^\/+/, '') };
  },
  /** An `s3://bucket/some/path` URI split into the OpenLineage namespace and name. */
  s3Uri(uri: string): DatasetId {
    const match = /^s3a?:\/\/([^/]+)\/?(.*)$/.exec(uri);
    if (!match) throw new Error(`not an s3:// URI: ${uri}`);
    return datasetNames.s3(match[1] as string, match[2] as string);
  },
  ducklake(catalog: { host: string; port?: number; database: string }, schema: string, table: string): DatasetId {
    return {
      namespace: `ducklake://${hostPort(catalog.host, catalog.port, 5432)}/${catalog.database}`,
      name: `${schema}.${table}`,
    };
  },
};

/** Marquez's node ids: `dataset:{namespace}:{name}` and `job:{namespace}:{name}`. */
export function nodeId(kind: 'dataset' | 'job', id: DatasetId): string {
  return `${kind}:${id.namespace}:${id.name}`;
}

/** The DuckLake catalog of a platform config (the Postgres database holding the lake's metadata). */
export function lakeCatalogOf(config: {
  postgres: { host: string; port?: number };
  lake: { catalogDatabase: string };
}) {
  return { host: config.postgres.host, port: config.postgres.port ?? 5432, database: config.lake.catalogDatabase };
}
