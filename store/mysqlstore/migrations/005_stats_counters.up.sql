-- The overview (store.Stats) reads per-minute counters of outcomes instead
-- of the rows. overview_idx (004) was written by every completion (it
-- leads with last_execution_at, which the end of an execution sets) and
-- its outcome column computed on every write of a row; {task_stats} has a
-- row per (minute, kind, status): minute the start of a
-- store.StatsResolution in UTC, status Completed or Failed, with the
-- number of executions that ended then and the sum of their execution
-- times. The step that ends an execution upserts it in its transaction,
-- one multi-row statement per batch (a row per distinct counter, in key
-- order, last before the commit); an overview sums a range of the primary
-- key, whatever the number of tasks.
CREATE TABLE IF NOT EXISTS {task_stats} (
    minute   DATETIME(6)     NOT NULL,
    kind     VARBINARY(1024) NOT NULL,
    status   VARCHAR(16)     CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    n        BIGINT          NOT NULL,
    total_us BIGINT          NOT NULL,
    PRIMARY KEY (minute, kind, status)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- The rows that finished before the upgrade count once each at the minute
-- of their last execution (the runs of a series before it are lost, as the
-- old overview lost them), so an overview over the upgrade shows no hole.
-- IGNORE: a rerun after a failure further down adds nothing twice.
INSERT IGNORE INTO {task_stats} (minute, kind, status, n, total_us)
SELECT CAST(DATE_FORMAT(last_execution_at, '%Y-%m-%d %H:%i:00') AS DATETIME(6)), kind, status,
       COUNT(*), CAST(SUM(execution_time_us) AS SIGNED)
FROM {tasks}
WHERE last_execution_at IS NOT NULL AND status IN ('Completed', 'Failed')
GROUP BY 1, 2, 3;

ALTER TABLE {tasks} DROP KEY overview_idx, DROP COLUMN outcome;
