-- The monitor's overview aggregates the executions that finished in a
-- window (store.Stats) with an index-only scan of this index. It names
-- phase, not status, and its other columns change only when an execution
-- ends: a claim (an open status to another) still touches no indexed
-- column, so it stays a HOT update. Rows that never ran are not in it.
CREATE INDEX tasks_executed_idx ON {schema}.tasks (last_execution_at) INCLUDE (phase, kind, execution_time_us)
    WHERE last_execution_at IS NOT NULL;
