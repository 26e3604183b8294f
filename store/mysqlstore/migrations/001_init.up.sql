-- The task table, its audit and log tables, and the node registry. {tasks},
-- {status_audits}, {runs_audits}, {execution_logs} and {nodes} are replaced
-- by the quoted table names (database and prefix) before the file runs.
-- Statements are separated by a semicolon at the end of a line. MySQL and
-- MariaDB commit each DDL statement on its own, so a migration is not
-- atomic: the version row is written after its last statement.
--
-- Times are DATETIME(6) holding UTC: a DATETIME is never converted by the
-- session time zone (a TIMESTAMP would be), and the store writes and reads
-- the wall clock as UTC itself.
--
-- Text that is compared for equality (kind, queue, the task key, owner, a
-- node's id) is VARBINARY: compared byte by byte, as the contract wants.
-- Every utf8mb4 collation both MySQL 8 and MariaDB know pads with spaces
-- ('key' = 'key '), even utf8mb4_bin; a task key is at most 200 bytes, so
-- the column's limit is in bytes too. Other text is utf8mb4.

CREATE TABLE {tasks} (
    id                BINARY(16)    NOT NULL,
    created_at        DATETIME(6)   NOT NULL,
    kind              VARBINARY(1024) NOT NULL,
    payload           LONGBLOB      NULL,
    handler           VARCHAR(1024) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL DEFAULT '',
    queue             VARBINARY(255)  NOT NULL DEFAULT '',
    task_key          VARBINARY(200)  NULL,
    status            VARCHAR(16)   CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    audit_level       TINYINT       NOT NULL DEFAULT 0,
    scheduled_at      DATETIME(6)   NULL,
    last_execution_at DATETIME(6)   NULL,
    execution_time_us BIGINT        NOT NULL DEFAULT 0,
    error_text        MEDIUMTEXT    CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL,
    recurring         BOOLEAN       NOT NULL DEFAULT FALSE,
    schedule_json     BLOB          NULL,
    schedule_info     TEXT          CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL,
    run_count         INT           NOT NULL DEFAULT 0,
    max_runs          INT           NOT NULL DEFAULT 0,
    run_until         DATETIME(6)   NULL,
    next_run_at       DATETIME(6)   NULL,
    recovery_failures INT           NOT NULL DEFAULT 0,
    owner             VARBINARY(255)  NOT NULL DEFAULT '',
    lease_until       DATETIME(6)   NULL,
    -- live is the status part of store.Recoverable: 1 for a row that is open
    -- (WaitingQueue, Queued, Pending, InProgress, ServiceStopped) or a
    -- recurring series with a next run that is Completed or Failed. MySQL has
    -- no partial indexes; leading the recovery index with live keeps the bulk
    -- of an old table (finished one-shot rows) out of its scans. A claim
    -- (Queued -> InProgress) does not change it.
    live TINYINT AS (CASE
        WHEN status IN ('WaitingQueue', 'Queued', 'Pending', 'InProgress', 'ServiceStopped') THEN 1
        WHEN recurring AND next_run_at IS NOT NULL AND status IN ('Completed', 'Failed') THEN 1
        ELSE 0 END) STORED,
    -- ready is live without InProgress: the status part of
    -- store.Task.Claimable. It leads the due index, so a claim reads the
    -- rows it may take and not the running ones; a claim changes it, so a
    -- claim writes an entry of that one index.
    ready TINYINT AS (CASE
        WHEN status IN ('WaitingQueue', 'Queued', 'Pending', 'ServiceStopped') THEN 1
        WHEN recurring AND next_run_at IS NOT NULL AND status IN ('Completed', 'Failed') THEN 1
        ELSE 0 END) STORED,
    -- due_at is store.Task.DueAt, the order of a claim.
    due_at DATETIME(6) AS (COALESCE(next_run_at, scheduled_at, created_at)) STORED,
    PRIMARY KEY (id),
    -- The task key is unique when set; NULL (no key) may repeat.
    UNIQUE KEY task_key_uq (task_key),
    -- Keyset order of List without filters.
    KEY created_idx (created_at, id),
    -- RetrievePending: the live rows in keyset order.
    KEY recovery_idx (live, created_at, id),
    -- List and counts by status; Rescue finds the InProgress rows with it.
    KEY status_idx (status, created_at, id),
    -- List by queue.
    KEY queue_idx (queue, created_at, id),
    -- Claim: the claimable rows of a queue in due order.
    KEY due_idx (ready, queue, due_at, created_at, id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- The audit tables have no foreign key: an audit row is only ever written by
-- the transaction that changes its task under the task's row lock, and
-- Remove and the retention delete a task's audits themselves.
CREATE TABLE {status_audits} (
    id         BIGINT      NOT NULL AUTO_INCREMENT,
    task_id    BINARY(16)  NOT NULL,
    at         DATETIME(6) NOT NULL,
    status     VARCHAR(16) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    error_text MEDIUMTEXT  CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL,
    PRIMARY KEY (id),
    KEY task_idx (task_id, id),
    KEY at_idx (at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE {runs_audits} (
    id                BIGINT      NOT NULL AUTO_INCREMENT,
    task_id           BINARY(16)  NOT NULL,
    executed_at       DATETIME(6) NOT NULL,
    execution_time_us BIGINT      NOT NULL DEFAULT 0,
    status            VARCHAR(16) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    error_text        MEDIUMTEXT  CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL,
    PRIMARY KEY (id),
    KEY task_idx (task_id, id),
    KEY executed_idx (executed_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- A log's id is not assumed unique (one execution shares it, ordered by
-- seq), so the table has its own surrogate key. The foreign key turns a log
-- of a missing task into store.ErrNotFound and deletes the logs with their
-- task.
CREATE TABLE {execution_logs} (
    pk            BIGINT      NOT NULL AUTO_INCREMENT,
    id            BINARY(16)  NOT NULL,
    task_id       BINARY(16)  NOT NULL,
    at            DATETIME(6) NULL,
    level         VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL DEFAULT '',
    message       MEDIUMTEXT  CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL,
    error_details MEDIUMTEXT  CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL,
    seq           INT         NOT NULL DEFAULT 0,
    PRIMARY KEY (pk),
    KEY task_idx (task_id, id, seq),
    KEY at_idx (at),
    FOREIGN KEY (task_id) REFERENCES {tasks} (id) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- The node registry. lock_name is the GET_LOCK lock the node's liveness
-- session holds: IS_USED_LOCK tells whether that session (and so, barring a
-- server restart, the process) still lives.
CREATE TABLE {nodes} (
    id             VARBINARY(255) NOT NULL,
    host           VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL DEFAULT '',
    pid            BIGINT       NOT NULL DEFAULT 0,
    started_at     DATETIME(6)  NULL,
    queues         TEXT         CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    last_heartbeat DATETIME(6)  NOT NULL,
    lock_name      VARCHAR(64)  CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    PRIMARY KEY (id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
