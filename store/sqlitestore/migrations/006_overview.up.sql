-- Indexes for the monitor (package monitor), measured on a store of a
-- million rows (BENCHMARKS.md).

-- The overview aggregates the executions that finished in a window
-- (store.Stats): this index holds every column that query reads, so it
-- walks the window's entries and never the rows. Only rows that ran are in
-- it (last_execution_at is set by the end of an execution), so the
-- transitions of a new row before it ends write nothing here.
CREATE INDEX tasks_executed ON tasks (last_execution_at, status, kind, execution_time_us)
WHERE last_execution_at IS NOT NULL;

-- Still the one index that holds status (see 001), now in keyset order: a
-- list filtered by a status walks its entries newest first instead of
-- sorting every row of the status, and the counts stay a covering scan,
-- with or without their created_at bound.
DROP INDEX tasks_status;
CREATE INDEX tasks_status ON tasks (status, created_at, id, queue);

-- Lists filtered by queue or kind walk these in keyset order; a rare kind
-- no longer means a scan of the whole table. Both are written at insert
-- only: no transition changes queue or kind.
DROP INDEX tasks_queue;
CREATE INDEX tasks_queue ON tasks (queue, created_at, id);
CREATE INDEX tasks_kind ON tasks (kind, created_at, id);

-- The counts per queue and status without a scan: a row per (queue,
-- status) kept by triggers in the statement that changes a task, so they
-- commit (or roll back) with it. SQLite has one writer at a time, so the
-- counter rows are no point of contention; a write pays one or two small
-- updates of a table that stays in the page cache. Rows at zero stay.
CREATE TABLE task_counts (
    queue  TEXT    NOT NULL,
    status TEXT    NOT NULL,
    n      INTEGER NOT NULL,
    PRIMARY KEY (queue, status)
) WITHOUT ROWID;
INSERT INTO task_counts (queue, status, n) SELECT queue, status, count(*) FROM tasks GROUP BY queue, status;

CREATE TRIGGER tasks_count_insert AFTER INSERT ON tasks BEGIN
    INSERT INTO task_counts (queue, status, n) VALUES (new.queue, new.status, 1)
    ON CONFLICT (queue, status) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER tasks_count_delete AFTER DELETE ON tasks BEGIN
    UPDATE task_counts SET n = n - 1 WHERE queue = old.queue AND status = old.status;
END;

CREATE TRIGGER tasks_count_update AFTER UPDATE OF status, queue ON tasks
WHEN old.status IS NOT new.status OR old.queue IS NOT new.queue BEGIN
    UPDATE task_counts SET n = n - 1 WHERE queue = old.queue AND status = old.status;
    INSERT INTO task_counts (queue, status, n) VALUES (new.queue, new.status, 1)
    ON CONFLICT (queue, status) DO UPDATE SET n = n + 1;
END;
