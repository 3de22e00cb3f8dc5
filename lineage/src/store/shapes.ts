/** Marquez's response shapes (MarquezProject/marquez spec/openapi.yml), so a client written for Marquez works. */
export type RunStateName = 'NEW' | 'RUNNING' | 'COMPLETED' | 'FAILED' | 'ABORTED';

/** OpenLineage eventType -> Marquez run state (OTHER leaves the state alone). */
export function runState(eventType: string | undefined): RunStateName | null {
  switch (eventType) {
    case 'START':
    case 'RUNNING':
      return 'RUNNING';
    case 'COMPLETE':
      return 'COMPLETED';
    case 'FAIL':
      return 'FAILED';
    case 'ABORT':
      return 'ABORTED';
    default:
      return null;
  }
}

type Facets = Record<string, unknown>;
export interface MarquezDatasetId {
  namespace: string;
  name: string;
}

export interface MarquezRun {
  id: string;
  createdAt: string;
  updatedAt: string;
  nominalStartTime: null;
  nominalEndTime: null;
  state: RunStateName;
  startedAt: string | null;
  endedAt: string | null;
  durationMs: number | null;
  args: Record<string, string>;
  jobVersion: { namespace: string; name: string; version: string | null };
  inputDatasetVersions: { datasetVersionId: MarquezDatasetId & { version: string | null }; facets: Facets }[];
  outputDatasetVersions: { datasetVersionId: MarquezDatasetId & { version: string | null }; facets: Facets }[];
  context: Record<string, string>;
  facets: Facets;
}

export interface MarquezJob {
  id: MarquezDatasetId;
  type: string;
  name: string;
  simpleName: string;
  parentJobName: string | null;
  parentJobUuid: string | null;
  createdAt: string;
  updatedAt: string;
  namespace: string;
  inputs: MarquezDatasetId[];
  outputs: MarquezDatasetId[];
  location: string | null;
  description: string | null;
  latestRun: MarquezRun | null;
  latestRuns: MarquezRun[];
  facets: Facets;
  currentVersion: string | null;
}

export interface MarquezField {
  name: string;
  type: string;
  tags: string[];
  description: string | null;
}

export interface MarquezDataset {
  id: MarquezDatasetId;
  type: 'DB_TABLE' | 'STREAM';
  name: string;
  physicalName: string;
  createdAt: string;
  updatedAt: string;
  namespace: string;
  sourceName: string;
  fields: MarquezField[];
  tags: string[];
  lastModifiedAt: string | null;
  lastLifecycleState: string;
  description: string | null;
  facets: Facets;
  currentVersion: string | null;
  columnLineage: null;
  deleted: boolean;
}

export interface MarquezDatasetVersion {
  id: MarquezDatasetId & { version: string };
  type: 'DB_TABLE' | 'STREAM';
  name: string;
  physicalName: string;
  createdAt: string;
  version: string;
  namespace: string;
  sourceName: string;
  fields: MarquezField[];
  tags: string[];
  lifecycleState: string | null;
  description: string | null;
  createdByRun: MarquezRun | null;
  facets: Facets;
}

export interface MarquezGraphNode {
  id: string;
  type: 'JOB' | 'DATASET';
  data: MarquezJob | MarquezDataset;
  inEdges: { origin: string; destination: string }[];
  outEdges: { origin: string; destination: string }[];
}

export interface MarquezColumnNode {
  id: string;
  type: 'DATASET_FIELD';
  data: {
    namespace: string;
    dataset: string;
    datasetVersion: string | null;
    field: string;
    fieldType: string | null;
    transformationDescription: string | null;
    transformationType: string | null;
    inputFields: {
      namespace: string;
      dataset: string;
      field: string;
      transformationDescription: string | null;
      transformationType: string | null;
    }[];
  };
  inEdges: { origin: string; destination: string }[];
  outEdges: { origin: string; destination: string }[];
}
