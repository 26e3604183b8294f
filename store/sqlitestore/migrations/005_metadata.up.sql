-- Task.Metadata: a JSON object of string pairs (the trace context the
-- engine's propagation hook stores at dispatch), NULL for none. Older code
-- selects its columns by name, so it reads these rows as before.
ALTER TABLE tasks ADD COLUMN metadata TEXT;
