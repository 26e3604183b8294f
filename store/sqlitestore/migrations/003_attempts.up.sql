-- The failed attempts of each task (store.AttemptStore). They go with the
-- task by cascade, as its audits do; Purge deletes old ones by started_at,
-- whose index keeps that delete from reading the whole table.
CREATE TABLE attempts (
    id          INTEGER PRIMARY KEY,
    task_id     BLOB    NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    run         INTEGER NOT NULL,
    number      INTEGER NOT NULL,
    started_at  INTEGER NOT NULL,
    duration_us INTEGER NOT NULL,
    error       TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX attempts_task ON attempts (task_id, id);
CREATE INDEX attempts_started ON attempts (started_at);
