-- Task.Metadata: a JSON object of string pairs (the trace context the
-- engine's propagation hook stores at dispatch), NULL for none. At most 8
-- KiB of keys and values (store.MaxMetadataBytes), so a BLOB holds it
-- however its characters are escaped.
ALTER TABLE {tasks} ADD COLUMN metadata BLOB NULL;
