import {
  AGGREGATE_TOPICS,
  BV_JOB_NAMESPACE,
  datasetNames,
  facets,
  LineageClient,
  LineageEmitter,
  type PlatformConfig,
} from '@bitvelocity/core';

/**
 * Reports the Debezium connector to the lineage service as a STREAMING job from the outbox table to the aggregate
 * topics (a START run each time it is applied). Never throws and waits at most `flushMs`: lineage must not hold
 * up or break `bv connectors apply`. Configured by BV_LINEAGE_URL / BV_LINEAGE_TOKEN (see docs/lineage.md).
 */
export async function reportConnectorLineage(
  config: PlatformConfig,
  connectorName: string,
  options: { client?: LineageClient; flushMs?: number } = {},
): Promise<void> {
  const client = options.client ?? LineageClient.fromEnv();
  try {
    const outbox = datasetNames.postgres(config.postgres, config.postgres.database, 'public', 'outbox');
    new LineageEmitter(client)
      .jobRun({
        job: { namespace: BV_JOB_NAMESPACE, name: `debezium.${connectorName}` },
        processingType: 'STREAMING',
        jobType: 'CDC_CONNECTOR',
        jobFacets: { documentation: facets.jobDocumentation('Debezium outbox connector: outbox rows to Kafka topics') },
        inputs: [outbox],
        outputs: AGGREGATE_TOPICS.map((topic) => datasetNames.kafka(config.kafka.bootstrapServers, topic)),
      })
      .start();
  } finally {
    if (!options.client) await client.close(options.flushMs ?? 2_000);
  }
}
