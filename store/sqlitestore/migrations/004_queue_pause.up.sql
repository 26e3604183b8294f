-- Paused queues (store.QueuePauser): a row per paused queue, shared by every
-- process on the file and kept across restarts. Older code never reads it.
CREATE TABLE queue_pauses (
    queue     TEXT    NOT NULL PRIMARY KEY,
    paused_at INTEGER NOT NULL -- Unix microseconds
);
