-- A retention mark proves publication only for the replication slot that confirmed it: a slot created later never
-- decoded rows committed before it. Marks are kept per slot; marks of no slot are discarded.
DELETE FROM outbox_retention_marks;
ALTER TABLE outbox_retention_marks ADD COLUMN slot_name text NOT NULL;
ALTER TABLE outbox_retention_marks DROP CONSTRAINT outbox_retention_marks_pkey;
ALTER TABLE outbox_retention_marks ADD PRIMARY KEY (slot_name, taken_at);
