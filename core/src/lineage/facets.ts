import type {
  BaseFacet,
  ColumnLineageDatasetFacet,
  ColumnLineageInputField,
  ColumnMetrics,
  DataQualityAssertion,
  DataQualityAssertionsDatasetFacet,
  DataQualityMetricsFacet,
  DataSourceDatasetFacet,
  DocumentationFacet,
  ErrorMessageRunFacet,
  JobTypeJobFacet,
  OutputStatisticsFacet,
  OwnershipFacet,
  ParentRunFacet,
  ProcessingEngineRunFacet,
  SchemaDatasetFacet,
  SchemaField,
  TagsDatasetFacet,
} from './types.js';

/** The producer URI every BitVelocity event and facet carries. */
export const BV_PRODUCER = 'https://github.com/bitvelocity/bitvelocity/tree/0.1.0';
/** The engine named in processing_engine. */
export const BV_ENGINE_VERSION = '0.1.0';

/** The facet versions this client writes (the `$id`s of the schemas in core/schemas/openlineage/facets/). */
const FACET_VERSIONS = {
  SchemaDatasetFacet: '1-2-0',
  DatasourceDatasetFacet: '1-0-1',
  ColumnLineageDatasetFacet: '1-2-0',
  OutputStatisticsOutputDatasetFacet: '1-0-2',
  ProcessingEngineRunFacet: '1-1-1',
  JobTypeJobFacet: '2-0-4',
  ErrorMessageRunFacet: '1-0-1',
  ParentRunFacet: '1-2-0',
  DataQualityAssertionsDatasetFacet: '1-1-0',
  DataQualityMetricsInputDatasetFacet: '1-0-3',
  DataQualityMetricsDatasetFacet: '1-0-0',
  DocumentationDatasetFacet: '1-1-0',
  DocumentationJobFacet: '1-1-0',
  OwnershipDatasetFacet: '1-0-1',
  OwnershipJobFacet: '1-0-1',
  TagsDatasetFacet: '1-0-0',
} as const;

type FacetSchema = keyof typeof FACET_VERSIONS;

function base(schema: FacetSchema, producer: string): BaseFacet {
  return {
    _producer: producer,
    _schemaURL: `https://openlineage.io/spec/facets/${FACET_VERSIONS[schema]}/${schema}.json#/$defs/${schema}`,
  };
}

/** Builders for the standard facets the platform writes; each takes an optional producer URI. */
export const facets = {
  schema(fields: SchemaField[], producer = BV_PRODUCER): SchemaDatasetFacet {
    return { ...base('SchemaDatasetFacet', producer), fields };
  },
  dataSource(name: string, uri: string, producer = BV_PRODUCER): DataSourceDatasetFacet {
    return { ...base('DatasourceDatasetFacet', producer), name, uri };
  },
  /** Output column -> the input columns it is derived from. */
  columnLineage(
    fields: Record<
      string,
      ColumnLineageInputField[] | { inputFields: ColumnLineageInputField[]; description?: string }
    >,
    producer = BV_PRODUCER,
  ): ColumnLineageDatasetFacet {
    const out: ColumnLineageDatasetFacet['fields'] = {};
    for (const [column, spec] of Object.entries(fields)) {
      out[column] = Array.isArray(spec)
        ? { inputFields: spec }
        : {
            inputFields: spec.inputFields,
            ...(spec.description ? { transformationDescription: spec.description } : {}),
          };
    }
    return { ...base('ColumnLineageDatasetFacet', producer), fields: out };
  },
  outputStatistics(stats: { rowCount?: number; size?: number; fileCount?: number }, producer = BV_PRODUCER) {
    const facet: OutputStatisticsFacet = { ...base('OutputStatisticsOutputDatasetFacet', producer) };
    if (stats.rowCount !== undefined) facet.rowCount = Math.trunc(stats.rowCount);
    if (stats.size !== undefined) facet.size = Math.trunc(stats.size);
    if (stats.fileCount !== undefined) facet.fileCount = Math.trunc(stats.fileCount);
    return facet;
  },
  processingEngine(
    name = 'bitvelocity',
    version = BV_ENGINE_VERSION,
    producer = BV_PRODUCER,
  ): ProcessingEngineRunFacet {
    return {
      ...base('ProcessingEngineRunFacet', producer),
      name,
      version,
      openlineageAdapterVersion: BV_ENGINE_VERSION,
    };
  },
  jobType(
    processingType: 'BATCH' | 'STREAMING',
    jobType: string,
    integration = 'BITVELOCITY',
    producer = BV_PRODUCER,
  ): JobTypeJobFacet {
    return { ...base('JobTypeJobFacet', producer), processingType, integration, jobType };
  },
  errorMessage(error: unknown, producer = BV_PRODUCER): ErrorMessageRunFacet {
    const err = error instanceof Error ? error : new Error(String(error));
    return {
      ...base('ErrorMessageRunFacet', producer),
      message: err.message,
      programmingLanguage: 'TypeScript',
      ...(err.stack ? { stackTrace: err.stack } : {}),
    };
  },
  parent(run: { runId: string }, job: { namespace: string; name: string }, producer = BV_PRODUCER): ParentRunFacet {
    return { ...base('ParentRunFacet', producer), run: { runId: run.runId }, job };
  },
  /** An input facet: the result of the quality checks run on the dataset. */
  dataQualityAssertions(assertions: DataQualityAssertion[], producer = BV_PRODUCER): DataQualityAssertionsDatasetFacet {
    return { ...base('DataQualityAssertionsDatasetFacet', producer), assertions };
  },
  /** An input facet (`DataQualityMetricsInputDatasetFacet`): metrics measured on the dataset as it was read. */
  dataQualityMetrics(
    metrics: { rowCount?: number; bytes?: number; columnMetrics: Record<string, ColumnMetrics> },
    producer = BV_PRODUCER,
  ): DataQualityMetricsFacet {
    return { ...base('DataQualityMetricsInputDatasetFacet', producer), ...metrics };
  },
  datasetDocumentation(description: string, producer = BV_PRODUCER): DocumentationFacet {
    return { ...base('DocumentationDatasetFacet', producer), description };
  },
  jobDocumentation(description: string, producer = BV_PRODUCER): DocumentationFacet {
    return { ...base('DocumentationJobFacet', producer), description };
  },
  datasetOwnership(owners: { name: string; type?: string }[], producer = BV_PRODUCER): OwnershipFacet {
    return { ...base('OwnershipDatasetFacet', producer), owners };
  },
  jobOwnership(owners: { name: string; type?: string }[], producer = BV_PRODUCER): OwnershipFacet {
    return { ...base('OwnershipJobFacet', producer), owners };
  },
  /** Sensitivity and other tags; `field` tags one column (e.g. `{ key: 'pii', value: 'email', field: 'email' }`). */
  tags(tags: TagsDatasetFacet['tags'], producer = BV_PRODUCER): TagsDatasetFacet {
    return { ...base('TagsDatasetFacet', producer), tags };
  },
};
