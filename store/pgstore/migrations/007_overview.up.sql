-- Indexes for the monitor (package monitor), measured on a store of a
-- million rows (BENCHMARKS.md).

-- The overview aggregates the executions that finished in a
-- window (store.Stats) with an index-only scan of this index. It names
-- phase, not status, and its other columns change only when an execution
-- ends: a claim (an open status to another) still touches no indexed
-- column, so it stays a HOT update. Rows that never ran are not in it.
CREATE INDEX tasks_executed_idx ON {schema}.tasks (last_execution_at) INCLUDE (phase, kind, execution_time_us)
    WHERE last_execution_at IS NOT NULL;

-- A list filtered by kind walks this in keyset order; a rare kind no longer
-- means a scan of the table. Written at insert only: no transition changes
-- the kind.
CREATE INDEX tasks_kind_idx ON {schema}.tasks (kind, created_at, id);
