-- The overview counts outcomes as they are written (store.Stats): one row
-- per minute, kind, status and shard, incremented by the statement that
-- ends an execution, in the same transaction. The shard is the writing
-- session's backend pid modulo 8, so two sessions that end executions of one
-- kind in one minute (two batches of a node in flight, or two nodes) seldom
-- wait for each other's commit on one row.
CREATE TABLE {schema}.task_stats (
    minute   timestamptz NOT NULL,
    kind     text        NOT NULL,
    status   text        NOT NULL,
    shard    smallint    NOT NULL,
    n        bigint      NOT NULL,
    total_us bigint      NOT NULL,
    PRIMARY KEY (minute, kind, status, shard)
);

-- The outcomes already in the table, counted once at their last execution,
-- as the index below used to count them.
INSERT INTO {schema}.task_stats (minute, kind, status, shard, n, total_us)
SELECT date_trunc('minute', last_execution_at, 'UTC'), kind, phase, 0, count(*), sum(execution_time_us)
FROM {schema}.tasks
WHERE last_execution_at IS NOT NULL AND phase IN ('Completed', 'Failed')
GROUP BY 1, 2, 3;

-- Every completion wrote this index (a completion changes phase, so it is
-- never a HOT update): about 12% of a burn's throughput.
DROP INDEX {schema}.tasks_executed_idx;
