-- Task.Metadata: a JSON object of string pairs (the trace context the
-- engine's propagation hook stores at dispatch), NULL for none. Adding a
-- nullable column without a default rewrites nothing.
ALTER TABLE {schema}.tasks ADD COLUMN metadata jsonb;
