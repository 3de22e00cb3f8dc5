-- Set-based ingest of a batch of events: the running merge of facets (jsonb `||`, top level, later keys win) and
-- the fold of a run's state machine over its events in order, as aggregates, so a batch is one statement per table.

CREATE AGGREGATE jsonb_merge_agg(jsonb) (SFUNC = jsonb_concat, STYPE = jsonb, INITCOND = '{}');

CREATE TYPE run_state_acc AS (state text, state_time timestamptz);

-- One step of Marquez's run state machine: a terminal state (COMPLETED, FAILED, ABORTED) is never left for a
-- non-terminal one, a terminal state always replaces a non-terminal one, otherwise the later event wins. The first
-- row of a run is its stored state (is_prior) or, for a new run, its first event (NEW when it carries no state).
CREATE FUNCTION run_state_step(acc run_state_acc, state text, t timestamptz, is_prior boolean)
RETURNS run_state_acc LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE
    WHEN acc IS NULL THEN ROW(CASE WHEN is_prior THEN state ELSE coalesce(state, 'NEW') END, t)::run_state_acc
    WHEN state IS NULL THEN acc
    ELSE ROW(
      CASE
        WHEN (acc).state = ANY(ARRAY['COMPLETED', 'FAILED', 'ABORTED'])
             AND NOT (state = ANY(ARRAY['COMPLETED', 'FAILED', 'ABORTED'])) THEN (acc).state
        WHEN NOT ((acc).state = ANY(ARRAY['COMPLETED', 'FAILED', 'ABORTED']))
             AND state = ANY(ARRAY['COMPLETED', 'FAILED', 'ABORTED']) THEN state
        WHEN (acc).state_time IS NULL OR t >= (acc).state_time THEN state
        ELSE (acc).state END,
      greatest((acc).state_time, t))::run_state_acc
  END
$$;

CREATE AGGREGATE run_state_fold(text, timestamptz, boolean) (SFUNC = run_state_step, STYPE = run_state_acc);
