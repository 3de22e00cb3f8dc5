/**
 * OpenLineage 2-0-2 event and facet types, as in https://openlineage.io/spec/2-0-2/OpenLineage.json and the standard
 * facet schemas (core/schemas/openlineage/). The tests validate every built event against those schemas.
 */
export const OPENLINEAGE_SCHEMA_URL = 'https://openlineage.io/spec/2-0-2/OpenLineage.json';

export type RunState = 'START' | 'RUNNING' | 'COMPLETE' | 'ABORT' | 'FAIL' | 'OTHER';

/** Every facet names who produced it and the schema it follows. */
export interface BaseFacet {
  _producer: string;
  _schemaURL: string;
  [key: string]: unknown;
}

export type FacetMap = Record<string, BaseFacet | undefined>;

export interface RunFacets extends FacetMap {
  parent?: ParentRunFacet;
  processing_engine?: ProcessingEngineRunFacet;
  errorMessage?: ErrorMessageRunFacet;
}

export interface JobFacets extends FacetMap {
  jobType?: JobTypeJobFacet;
  documentation?: DocumentationFacet;
  ownership?: OwnershipFacet;
  sql?: BaseFacet & { query: string };
}

export interface DatasetFacets extends FacetMap {
  schema?: SchemaDatasetFacet;
  dataSource?: DataSourceDatasetFacet;
  columnLineage?: ColumnLineageDatasetFacet;
  documentation?: DocumentationFacet;
  ownership?: OwnershipFacet;
  tags?: TagsDatasetFacet;
  dataQualityMetrics?: DataQualityMetricsFacet;
  dataQualityAssertions?: DataQualityAssertionsDatasetFacet;
}

export interface InputDatasetFacets extends FacetMap {
  dataQualityMetrics?: DataQualityMetricsFacet;
  dataQualityAssertions?: DataQualityAssertionsDatasetFacet;
}

export interface OutputDatasetFacets extends FacetMap {
  outputStatistics?: OutputStatisticsFacet;
}

export interface Run {
  runId: string;
  facets?: RunFacets;
}

export interface Job {
  namespace: string;
  name: string;
  facets?: JobFacets;
}

export interface Dataset {
  namespace: string;
  name: string;
  facets?: DatasetFacets;
}

export interface InputDataset extends Dataset {
  inputFacets?: InputDatasetFacets;
}

export interface OutputDataset extends Dataset {
  outputFacets?: OutputDatasetFacets;
}

interface BaseEvent {
  eventTime: string;
  producer: string;
  schemaURL: string;
}

export interface RunEvent extends BaseEvent {
  eventType?: RunState;
  run: Run;
  job: Job;
  inputs?: InputDataset[];
  outputs?: OutputDataset[];
}

export interface DatasetEvent extends BaseEvent {
  dataset: Dataset;
}

export interface JobEvent extends BaseEvent {
  job: Job;
  inputs?: InputDataset[];
  outputs?: OutputDataset[];
}

export type LineageEvent = RunEvent | DatasetEvent | JobEvent;

export function isRunEvent(event: LineageEvent): event is RunEvent {
  return 'run' in event;
}
export function isDatasetEvent(event: LineageEvent): event is DatasetEvent {
  return 'dataset' in event;
}

export interface SchemaField {
  name: string;
  type?: string;
  description?: string;
  fields?: SchemaField[];
}
export interface SchemaDatasetFacet extends BaseFacet {
  fields: SchemaField[];
}
export interface DataSourceDatasetFacet extends BaseFacet {
  name?: string;
  uri?: string;
}
export interface ColumnLineageInputField {
  namespace: string;
  name: string;
  field: string;
  transformations?: { type: 'DIRECT' | 'INDIRECT'; subtype?: string; description?: string; masking?: boolean }[];
}
export interface ColumnLineageDatasetFacet extends BaseFacet {
  fields: Record<string, { inputFields: ColumnLineageInputField[]; transformationDescription?: string }>;
}
export interface OutputStatisticsFacet extends BaseFacet {
  rowCount?: number;
  size?: number;
  fileCount?: number;
}
export interface ProcessingEngineRunFacet extends BaseFacet {
  version: string;
  name?: string;
  openlineageAdapterVersion?: string;
}
export interface JobTypeJobFacet extends BaseFacet {
  processingType: 'BATCH' | 'STREAMING';
  integration: string;
  jobType?: string;
}
export interface ErrorMessageRunFacet extends BaseFacet {
  message: string;
  programmingLanguage: string;
  stackTrace?: string;
}
export interface ParentRunFacet extends BaseFacet {
  run: { runId: string };
  job: { namespace: string; name: string };
}
export interface DataQualityAssertion {
  assertion: string;
  success: boolean;
  column?: string;
  severity?: 'error' | 'warn';
}
export interface DataQualityAssertionsDatasetFacet extends BaseFacet {
  assertions: DataQualityAssertion[];
}
export interface ColumnMetrics {
  nullCount?: number;
  distinctCount?: number;
  sum?: number;
  count?: number;
  min?: number;
  max?: number;
  quantiles?: Record<string, number>;
}
export interface DataQualityMetricsFacet extends BaseFacet {
  rowCount?: number;
  bytes?: number;
  fileCount?: number;
  lastUpdated?: string;
  columnMetrics: Record<string, ColumnMetrics>;
}
export interface DocumentationFacet extends BaseFacet {
  description: string;
  contentType?: string;
}
export interface OwnershipFacet extends BaseFacet {
  owners: { name: string; type?: string }[];
}
export interface TagsDatasetFacet extends BaseFacet {
  tags: { key: string; value: string; source?: string; field?: string }[];
}
