-- Accept, then project: the events table is the log. A POST appends the validated event (one multi-row insert per
-- group commit) and is acknowledged; the projector folds the log, in position order, into the jobs, datasets, runs,
-- edges and versions, moving `projection.position` in the same transaction. Rows stored before this migration were
-- already folded in and have no position.
CREATE SEQUENCE events_seq;
ALTER TABLE events ADD COLUMN seq bigint;
ALTER TABLE events ALTER COLUMN seq SET DEFAULT nextval('events_seq');
CREATE UNIQUE INDEX events_by_seq ON events (seq);

CREATE TABLE projection (
  id int PRIMARY KEY CHECK (id = 1),
  position bigint NOT NULL
);
INSERT INTO projection (id, position) VALUES (1, 0);

-- An accepted event the projector could not fold in on its own (its raw event stays in the log); it was passed.
CREATE TABLE projection_failures (
  seq bigint PRIMARY KEY,
  error text NOT NULL,
  failed_at timestamptz NOT NULL DEFAULT now()
);
