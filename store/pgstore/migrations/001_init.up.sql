-- The task table and its three child tables. {schema} is replaced by the
-- quoted schema identifier before the file runs.

CREATE TABLE {schema}.tasks (
    id                uuid        PRIMARY KEY,
    created_at        timestamptz NOT NULL,
    kind              text        NOT NULL,
    payload           bytea,
    handler           text        NOT NULL DEFAULT '',
    queue             text        NOT NULL DEFAULT '',
    key               text,
    status            text        NOT NULL,
    audit_level       smallint    NOT NULL DEFAULT 0,
    scheduled_at      timestamptz,
    last_execution_at timestamptz,
    execution_time_us bigint      NOT NULL DEFAULT 0,
    error             text        NOT NULL DEFAULT '',
    recurring         boolean     NOT NULL DEFAULT false,
    schedule          bytea,
    schedule_info     text        NOT NULL DEFAULT '',
    run_count         integer     NOT NULL DEFAULT 0,
    max_runs          integer     NOT NULL DEFAULT 0,
    run_until         timestamptz,
    next_run_at       timestamptz,
    recovery_failures integer     NOT NULL DEFAULT 0,
    owner             text        NOT NULL DEFAULT '',
    lease_until       timestamptz
);

-- The task key is unique when set; rows without a key are not indexed.
CREATE UNIQUE INDEX tasks_key_uq ON {schema}.tasks (key) WHERE key IS NOT NULL;

-- Keyset order of List without filters.
CREATE INDEX tasks_created_idx ON {schema}.tasks (created_at, id);

-- Recovery reads only rows that may be recoverable. The predicate is the
-- status part of store.Recoverable, written exactly as RetrievePending and
-- the conditional transitions write it, so the planner can prove the
-- implication; finished one-shot rows (the bulk of an old table) are not in it.
CREATE INDEX tasks_recovery_idx ON {schema}.tasks (created_at, id)
    WHERE status IN ('WaitingQueue', 'Queued', 'Pending', 'InProgress', 'ServiceStopped')
       OR (recurring AND next_run_at IS NOT NULL AND status IN ('Completed', 'Failed'));

-- List and counts by status and by queue, in keyset order.
CREATE INDEX tasks_status_idx ON {schema}.tasks (status, created_at, id);
CREATE INDEX tasks_queue_idx ON {schema}.tasks (queue, created_at, id);

CREATE TABLE {schema}.status_audits (
    id      bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    task_id uuid        NOT NULL REFERENCES {schema}.tasks (id) ON DELETE CASCADE,
    at      timestamptz NOT NULL,
    status  text        NOT NULL,
    error   text        NOT NULL DEFAULT ''
);
CREATE INDEX status_audits_task_idx ON {schema}.status_audits (task_id, id);
CREATE INDEX status_audits_at_idx ON {schema}.status_audits (at);

CREATE TABLE {schema}.runs_audits (
    id                bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    task_id           uuid        NOT NULL REFERENCES {schema}.tasks (id) ON DELETE CASCADE,
    executed_at       timestamptz NOT NULL,
    execution_time_us bigint      NOT NULL DEFAULT 0,
    status            text        NOT NULL,
    error             text        NOT NULL DEFAULT ''
);
CREATE INDEX runs_audits_task_idx ON {schema}.runs_audits (task_id, id);
CREATE INDEX runs_audits_at_idx ON {schema}.runs_audits (executed_at);

-- A log's id is not assumed unique (one execution may share it, ordered by
-- seq), so the table has its own surrogate key.
CREATE TABLE {schema}.execution_logs (
    pk            bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id            uuid        NOT NULL,
    task_id       uuid        NOT NULL REFERENCES {schema}.tasks (id) ON DELETE CASCADE,
    at            timestamptz,
    level         text        NOT NULL DEFAULT '',
    message       text        NOT NULL DEFAULT '',
    error_details text        NOT NULL DEFAULT '',
    seq           integer     NOT NULL DEFAULT 0
);
CREATE INDEX execution_logs_task_idx ON {schema}.execution_logs (task_id, id, seq);
CREATE INDEX execution_logs_at_idx ON {schema}.execution_logs (at);
