-- The lineage store: every accepted OpenLineage event as received, and the Marquez-style model derived from them.
-- Every table carries the tenant of the token that posted the event; every read filters on it.

CREATE TABLE events (
  tenant text NOT NULL,
  -- runId|eventType|eventTime for run events (re-delivery is a no-op), a hash of the body for dataset/job events.
  event_key text NOT NULL,
  kind text NOT NULL CHECK (kind IN ('RUN', 'DATASET', 'JOB')),
  event_time timestamptz NOT NULL,
  body jsonb NOT NULL,
  received_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant, event_key)
);

CREATE TABLE namespaces (
  tenant text NOT NULL,
  name text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant, name)
);

CREATE TABLE jobs (
  tenant text NOT NULL,
  namespace text NOT NULL,
  name text NOT NULL,
  type text NOT NULL DEFAULT 'BATCH',
  facets jsonb NOT NULL DEFAULT '{}',
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  latest_run_id uuid,
  PRIMARY KEY (tenant, namespace, name)
);
CREATE INDEX jobs_name_search ON jobs (tenant, lower(name) text_pattern_ops);
CREATE INDEX jobs_node_id ON jobs (tenant, ('job:' || namespace || ':' || name));

CREATE TABLE datasets (
  tenant text NOT NULL,
  namespace text NOT NULL,
  name text NOT NULL,
  facets jsonb NOT NULL DEFAULT '{}',
  current_version uuid,
  version_hash text,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  last_modified_at timestamptz,
  PRIMARY KEY (tenant, namespace, name)
);
CREATE INDEX datasets_name_search ON datasets (tenant, lower(name) text_pattern_ops);
CREATE INDEX datasets_node_id ON datasets (tenant, ('dataset:' || namespace || ':' || name));

-- A new version whenever the dataset's facets other than statistics change (schema, ownership, tags...).
CREATE TABLE dataset_versions (
  tenant text NOT NULL,
  version uuid NOT NULL,
  namespace text NOT NULL,
  name text NOT NULL,
  facets jsonb NOT NULL,
  run_id uuid,
  created_at timestamptz NOT NULL,
  PRIMARY KEY (tenant, version)
);
CREATE INDEX dataset_versions_of ON dataset_versions (tenant, namespace, name, created_at DESC);

CREATE TABLE runs (
  tenant text NOT NULL,
  run_id uuid NOT NULL,
  namespace text NOT NULL,
  job_name text NOT NULL,
  state text NOT NULL DEFAULT 'NEW',
  state_time timestamptz,
  started_at timestamptz,
  ended_at timestamptz,
  facets jsonb NOT NULL DEFAULT '{}',
  job_facets jsonb NOT NULL DEFAULT '{}',
  inputs jsonb NOT NULL DEFAULT '{}',
  outputs jsonb NOT NULL DEFAULT '{}',
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant, run_id)
);
CREATE INDEX runs_of_job ON runs (tenant, namespace, job_name, created_at DESC);

-- The lineage graph as Marquez node ids: dataset -> job (input), job -> dataset (output).
CREATE TABLE edges (
  tenant text NOT NULL,
  origin text NOT NULL,
  destination text NOT NULL,
  -- The dataset end of the edge, so a job's inputs and outputs need no lookup.
  dataset_namespace text NOT NULL,
  dataset_name text NOT NULL,
  PRIMARY KEY (tenant, origin, destination)
);
CREATE INDEX edges_by_destination ON edges (tenant, destination);

-- Column lineage from columnLineage facets: output field <- input field.
CREATE TABLE column_edges (
  tenant text NOT NULL,
  out_namespace text NOT NULL,
  out_name text NOT NULL,
  out_field text NOT NULL,
  in_namespace text NOT NULL,
  in_name text NOT NULL,
  in_field text NOT NULL,
  transformation jsonb,
  PRIMARY KEY (tenant, out_namespace, out_name, out_field, in_namespace, in_name, in_field)
);
CREATE INDEX column_edges_by_input ON column_edges (tenant, in_namespace, in_name, in_field);

-- A dataset's definition without the facets that describe one moment of its content (statistics, quality results);
-- its version is a function of that definition, so re-delivered or repeated facets never make a new version.
CREATE FUNCTION stable_facets(facets jsonb) RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
  SELECT facets - ARRAY['dataQualityMetrics', 'dataQualityAssertions', 'outputStatistics', 'inputStatistics']
$$;
CREATE FUNCTION dataset_version(namespace text, name text, facets jsonb) RETURNS uuid LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE WHEN stable_facets(facets) = '{}'::jsonb THEN NULL
              ELSE md5(namespace || chr(31) || name || chr(31) || stable_facets(facets)::text)::uuid END
$$;
