import {
  BV_JOB_NAMESPACE,
  type DatasetId,
  datasetNames,
  facets,
  inputDataset,
  type LineageEvent,
  newRunId,
  outputDataset,
  runEvent,
} from '@bitvelocity/core';

export const outbox = datasetNames.postgres({ host: 'localhost', port: 5432 }, 'bitvelocity', 'public', 'outbox');
export const orderTopic = datasetNames.kafka('localhost:9092', 'ecommerce.order.created.v1');
export const bronze = datasetNames.ducklake({ host: 'localhost', port: 5432, database: 'bv_lake' }, 'bronze', 'orders');
export const silver = datasetNames.ducklake({ host: 'localhost', port: 5432, database: 'bv_lake' }, 'silver', 'orders');
export const gold = datasetNames.ducklake(
  { host: 'localhost', port: 5432, database: 'bv_lake' },
  'gold',
  'daily_revenue',
);

const job = (name: string, type: 'BATCH' | 'STREAMING', kind: string, description: string) => ({
  namespace: BV_JOB_NAMESPACE,
  name,
  facets: {
    jobType: facets.jobType(type, kind),
    documentation: facets.jobDocumentation(description),
    ownership: facets.jobOwnership([{ name: 'team:data-platform' }]),
  },
});

const orderFields = [
  { name: 'order_id', type: 'VARCHAR', description: 'The order' },
  { name: 'customer_email', type: 'VARCHAR' },
  { name: 'total_amount', type: 'DECIMAL(12,2)' },
  { name: 'created_at', type: 'TIMESTAMP' },
];

/** A pipeline as the platform reports it: outbox -> CDC -> Kafka -> bronze -> silver -> gold, with a quality run. */
export function pipelineEvents(at = Date.parse('2026-12-01T10:00:00Z')): { events: LineageEvent[]; runIds: string[] } {
  const t = (s: number) => new Date(at + s * 1000).toISOString();
  const ids = [newRunId(), newRunId(), newRunId(), newRunId(), newRunId(), newRunId()] as string[];
  const [cdc, ingest, silverRun, silverRun2, goldRun, quality] = ids as [
    string,
    string,
    string,
    string,
    string,
    string,
  ];
  const events: LineageEvent[] = [
    runEvent({
      eventType: 'START',
      eventTime: t(0),
      runId: cdc,
      job: job('debezium.orders', 'STREAMING', 'CDC_CONNECTOR', 'Outbox rows to Kafka topics'),
      inputs: [
        inputDataset(outbox, {
          schema: facets.schema([
            { name: 'id', type: 'uuid' },
            { name: 'payload', type: 'jsonb' },
          ]),
        }),
      ],
      outputs: [outputDataset(orderTopic)],
    }),
    runEvent({
      eventType: 'START',
      eventTime: t(1),
      runId: ingest,
      job: job('bronze.orders', 'STREAMING', 'STREAM_JOB', 'Order events into the Bronze table'),
      inputs: [inputDataset(orderTopic)],
      outputs: [outputDataset(bronze, { schema: facets.schema(orderFields) })],
    }),
    runEvent({
      eventType: 'RUNNING',
      eventTime: t(30),
      runId: ingest,
      job: job('bronze.orders', 'STREAMING', 'STREAM_JOB', 'Order events into the Bronze table'),
      outputs: [
        outputDataset(bronze, undefined, {
          outputStatistics: facets.outputStatistics({ rowCount: 1200, size: 88000 }),
        }),
      ],
    }),
    runEvent({
      eventType: 'START',
      eventTime: t(60),
      runId: silverRun,
      job: job('silver.orders', 'BATCH', 'LAKE_TRANSFORM', 'Deduplicated, typed orders'),
      inputs: [inputDataset(bronze)],
      outputs: [outputDataset(silver)],
    }),
    runEvent({
      eventType: 'COMPLETE',
      eventTime: t(65),
      runId: silverRun,
      job: job('silver.orders', 'BATCH', 'LAKE_TRANSFORM', 'Deduplicated, typed orders'),
      inputs: [inputDataset(bronze)],
      outputs: [
        outputDataset(
          silver,
          {
            schema: facets.schema(orderFields.slice(0, 3)),
            ownership: facets.datasetOwnership([{ name: 'team:orders', type: 'MAINTAINER' }]),
            tags: facets.tags([
              { key: 'sensitivity', value: 'confidential' },
              { key: 'pii', value: 'email', field: 'customer_email' },
            ]),
            columnLineage: facets.columnLineage(
              Object.fromEntries(
                orderFields.slice(0, 3).map((f) => [
                  f.name,
                  [
                    {
                      namespace: bronze.namespace,
                      name: bronze.name,
                      field: f.name,
                      transformations: [{ type: 'DIRECT', subtype: 'IDENTITY' }],
                    },
                  ],
                ]),
              ),
            ),
          },
          { outputStatistics: facets.outputStatistics({ rowCount: 1180 }) },
        ),
      ],
    }),
    runEvent({
      eventType: 'START',
      eventTime: t(120),
      runId: silverRun2,
      job: job('silver.orders', 'BATCH', 'LAKE_TRANSFORM', 'Deduplicated, typed orders'),
      inputs: [inputDataset(bronze)],
      outputs: [outputDataset(silver)],
    }),
    runEvent({
      eventType: 'FAIL',
      eventTime: t(124),
      runId: silverRun2,
      job: job('silver.orders', 'BATCH', 'LAKE_TRANSFORM', 'Deduplicated, typed orders'),
      runFacets: {
        errorMessage: facets.errorMessage(new Error('LAKE_COMMIT_FAILED: catalog conflict on silver.orders')),
      },
      inputs: [inputDataset(bronze)],
      // The schema gained created_at: a new dataset version.
      outputs: [outputDataset(silver, { schema: facets.schema(orderFields) })],
    }),
    runEvent({
      eventType: 'COMPLETE',
      eventTime: t(180),
      runId: goldRun,
      job: job('gold.daily_revenue', 'BATCH', 'WAREHOUSE_BUILD', 'Revenue per day'),
      inputs: [inputDataset(silver)],
      outputs: [
        outputDataset(gold, {
          schema: facets.schema([
            { name: 'day', type: 'DATE' },
            { name: 'revenue', type: 'DECIMAL(14,2)' },
          ]),
          columnLineage: facets.columnLineage({
            day: [{ namespace: silver.namespace, name: silver.name, field: 'created_at' }],
            revenue: {
              inputFields: [
                {
                  namespace: silver.namespace,
                  name: silver.name,
                  field: 'total_amount',
                  transformations: [{ type: 'DIRECT', subtype: 'AGGREGATION' }],
                },
              ],
              description: 'sum(total_amount)',
            },
          }),
        }),
      ],
    }),
    runEvent({
      eventType: 'COMPLETE',
      eventTime: t(200),
      runId: quality,
      job: job('quality.silver.orders', 'BATCH', 'QUALITY', 'Checks on silver.orders'),
      inputs: [
        inputDataset(silver, undefined, {
          dataQualityAssertions: facets.dataQualityAssertions([
            { assertion: 'not_null', success: true, column: 'order_id' },
            { assertion: 'unique', success: true, column: 'order_id' },
            { assertion: 'row_count_between', success: false },
          ]),
        }),
      ],
    }),
  ];
  return { events, runIds: ids };
}

export const ids = (d: DatasetId) => `dataset:${d.namespace}:${d.name}`;
