-- The task row. Ids are the 16 bytes of a UUIDv7, so byte order is creation
-- order. Times are INTEGER unix microseconds in UTC (NULL = not set): an exact
-- round trip at the contract's precision, and cheap to index and compare.
CREATE TABLE tasks (
    id                BLOB    NOT NULL PRIMARY KEY,
    created_at        INTEGER NOT NULL,
    kind              TEXT    NOT NULL,
    payload           BLOB,
    handler           TEXT    NOT NULL DEFAULT '',
    queue             TEXT    NOT NULL DEFAULT '',
    task_key          TEXT,   -- NULL for no key, so the unique index skips it
    status            TEXT    NOT NULL,
    audit_level       INTEGER NOT NULL DEFAULT 0,
    scheduled_at      INTEGER,
    last_execution_at INTEGER,
    execution_time_us INTEGER NOT NULL DEFAULT 0,
    error             TEXT    NOT NULL DEFAULT '',
    recurring         INTEGER NOT NULL DEFAULT 0,
    schedule          BLOB,
    schedule_info     TEXT    NOT NULL DEFAULT '',
    run_count         INTEGER NOT NULL DEFAULT 0,
    max_runs          INTEGER NOT NULL DEFAULT 0, -- 0: unlimited
    run_until         INTEGER,
    next_run_at       INTEGER,
    recovery_failures INTEGER NOT NULL DEFAULT 0,
    owner             TEXT    NOT NULL DEFAULT '',
    lease_until       INTEGER
);

CREATE UNIQUE INDEX tasks_key ON tasks (task_key) WHERE task_key IS NOT NULL;
-- Every transition rewrites the entries of each index holding status, so
-- only one does: (status, queue) serves the status filter and both counts
-- as a covering scan. The queue index is written once, at insert.
CREATE INDEX tasks_status ON tasks (status, queue);
CREATE INDEX tasks_queue ON tasks (queue);
CREATE INDEX tasks_created ON tasks (created_at, id);

-- Recovery reads only rows whose status may be recoverable, so a store full
-- of finished one-shot rows does not make every startup scan them all. The
-- WHERE term must stay textually identical to the status term of the
-- recoverable predicate in the Go code (recoverableSQL), or SQLite cannot
-- prove the query implies it and ignores the index. It is a chain of
-- equalities, not IN: an IN list of more than two constants makes SQLite
-- build a temporary table on every insert and status update.
CREATE INDEX tasks_recovery ON tasks (created_at, id)
WHERE (status = 'WaitingQueue' OR status = 'Queued' OR status = 'Pending' OR status = 'InProgress'
       OR status = 'ServiceStopped'
       OR (recurring = 1 AND next_run_at IS NOT NULL AND (status = 'Completed' OR status = 'Failed')));

CREATE TABLE status_audits (
    id      INTEGER PRIMARY KEY,
    task_id BLOB    NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    at      INTEGER NOT NULL,
    status  TEXT    NOT NULL,
    error   TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX status_audits_task ON status_audits (task_id, id);

CREATE TABLE runs_audits (
    id                INTEGER PRIMARY KEY,
    task_id           BLOB    NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    executed_at       INTEGER NOT NULL,
    execution_time_us INTEGER NOT NULL,
    status            TEXT    NOT NULL,
    error             TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX runs_audits_task ON runs_audits (task_id, id);

-- Log ids are UUIDv7 chosen by the engine; they order records but are not
-- declared unique, so a repeated save cannot fail a handler.
CREATE TABLE execution_logs (
    id            BLOB    NOT NULL,
    task_id       BLOB    NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    at            INTEGER NOT NULL,
    level         TEXT    NOT NULL DEFAULT '',
    message       TEXT    NOT NULL DEFAULT '',
    error_details TEXT    NOT NULL DEFAULT '',
    seq           INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX execution_logs_task ON execution_logs (task_id, id, seq);
