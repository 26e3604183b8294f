-- Paused queues (store.QueuePauser): a row per paused queue, shared by every
-- node on the schema and kept across restarts. Older code never reads it.
CREATE TABLE {schema}.queue_pauses (
    queue     text        PRIMARY KEY,
    paused_at timestamptz NOT NULL
);
