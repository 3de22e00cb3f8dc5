/**
 * Every version the platform pins, in one place. The local stack installs exactly these; compose/k8s manifests and
 * docs quote them. DuckDB's node binding and its extension wheels must carry the same DuckDB version.
 */
export const versions = {
  postgres: { major: 15, debianPackage: 'postgresql-15' },
  redis: { major: 7, debianPackage: 'redis-server' },
  /** Debian bookworm's Mosquitto; the telemetry bridge speaks MQTT 5 to it. */
  mosquitto: { version: '2.0.11', debianPackage: 'mosquitto' },
  kafka: { version: '3.9.1', scala: '2.13', slf4jReload4j: '1.7.36', reload4j: '1.2.25' },
  debezium: { version: '3.2.0.Final' },
  maven: { dependencyPlugin: '3.8.1' },
  minio: { module: 'github.com/minio/minio', version: 'v0.0.0-20260212201848-7aac2a2c5b7c', minGo: '1.24' },
  duckdb: { version: '1.5.5', extensions: ['httpfs', 'ducklake', 'postgres_scanner'] as const },
  greatExpectations: {
    packages: ['great-expectations==1.24.1', 'pandas==3.1.1', 'pyarrow==26.0.1', 'numpy==2.4.6'],
  },
} as const;

export type DuckDbExtension = (typeof versions.duckdb.extensions)[number];
