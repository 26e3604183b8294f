-- The overview (store.Stats) reads per-minute counters of outcomes instead
-- of the rows: tasks_executed (006) held status, so every completion wrote
-- an entry of it, about 15% of a burn of this store. task_stats has a row
-- per (minute, kind, status), minute the start of a store.StatsResolution in
-- unix microseconds and status Completed or Failed, with the number of
-- executions that ended then and the sum of their execution times. The
-- write that ends an execution adds to it atomically with itself (see
-- stats_hook below for one row, statsCounts in stats.go for a batch); an
-- overview sums the rows of its window, a range of the primary key,
-- whatever the number of tasks.
CREATE TABLE task_stats (
    minute   INTEGER NOT NULL,
    kind     TEXT    NOT NULL,
    status   TEXT    NOT NULL,
    n        INTEGER NOT NULL,
    total_us INTEGER NOT NULL,
    PRIMARY KEY (minute, kind, status)
) WITHOUT ROWID;

-- The rows that finished before the upgrade count once each at the minute
-- of their last execution (the runs of a series before it are lost, as the
-- old overview lost them), so an overview over the upgrade shows no hole.
-- The minute is floored, also before 1970.
INSERT INTO task_stats (minute, kind, status, n, total_us)
SELECT (last_execution_at / 60000000 - (last_execution_at < 0 AND last_execution_at % 60000000 <> 0)) * 60000000,
       kind, status, count(*), sum(execution_time_us)
FROM tasks
WHERE last_execution_at IS NOT NULL AND (status = 'Completed' OR status = 'Failed')
GROUP BY 1, 2, 3;

DROP INDEX IF EXISTS tasks_executed;

-- The single-row statements that end an execution (a Transition, a
-- CompleteRecurringRun) count it in a trigger, so they stay one statement
-- without BEGIN and COMMIT: a transaction around each, for one more
-- statement, cost a burn more than the index it replaces (its completions
-- are mostly single writes). stats_hook never holds a value: those
-- statements, and only they, name it in their SET (stats_hook = NULL), and
-- an UPDATE OF trigger is coded into the statements that name its column
-- alone, so no other write of a task pays for it. A batch of transitions
-- (one statement per chunk of rows) does not name it: the store counts the
-- batch in Go and adds to each of its counters once.
ALTER TABLE tasks ADD COLUMN stats_hook INTEGER;

CREATE TRIGGER tasks_stats AFTER UPDATE OF stats_hook ON tasks
WHEN new.status = 'Completed' OR new.status = 'Failed' BEGIN
    INSERT INTO task_stats (minute, kind, status, n, total_us)
    VALUES ((new.last_execution_at / 60000000 - (new.last_execution_at < 0 AND new.last_execution_at % 60000000 <> 0)) * 60000000,
            new.kind, new.status, 1, new.execution_time_us)
    ON CONFLICT (minute, kind, status) DO UPDATE SET n = n + 1, total_us = total_us + excluded.total_us;
END;
