-- The overview (store.Stats) reads per-minute counters of outcomes instead
-- of the rows: tasks_executed (006) held status, so every completion wrote
-- an entry of it, about 15% of a burn of this store. task_stats has a row
-- per (minute, kind, status), minute the start of a store.StatsResolution in
-- unix microseconds and status Completed or Failed, with the number of
-- executions that ended then and the sum of their execution times. The
-- write that ends an execution adds to it in its own transaction (one
-- upsert per distinct key of a batch); an overview sums the rows of its
-- window, a range of the primary key, whatever the number of tasks.
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
