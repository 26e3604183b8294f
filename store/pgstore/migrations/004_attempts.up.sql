-- The failed attempts of each task (store.AttemptStore). Unlike the audits
-- (migration 002) they keep their foreign key: they are written only when
-- an attempt fails, off the hot path, and the key deletes them with their
-- task (Remove, Purge) without a statement of their own.
CREATE TABLE {schema}.attempts (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    task_id     uuid        NOT NULL REFERENCES {schema}.tasks (id) ON DELETE CASCADE,
    run         integer     NOT NULL,
    number      integer     NOT NULL,
    started_at  timestamptz NOT NULL,
    duration_us bigint      NOT NULL DEFAULT 0,
    error       text        NOT NULL DEFAULT ''
);
CREATE INDEX attempts_task_idx ON {schema}.attempts (task_id, id);
CREATE INDEX attempts_started_idx ON {schema}.attempts (started_at);
