-- The overview of the monitor (store.Stats) aggregates the executions that
-- finished in a window with one GROUP BY over overview_idx, read alone (a
-- covering index: no row of the table is fetched).
--
-- outcome is the status of a Completed or Failed row and NULL otherwise.
-- The index names it, not status: a claim or a start (one open status to
-- another) changes none of its columns, so the hot path writes no entry of
-- it; only the end of an execution (which also sets last_execution_at and
-- execution_time_us) and the claim of a finished recurring row do. MySQL
-- has no partial indexes: rows that never ran are in it with a NULL time,
-- before every window, so a range scan never reads them.
ALTER TABLE {tasks}
    ADD COLUMN outcome VARCHAR(16) CHARACTER SET ascii COLLATE ascii_bin
        AS (CASE WHEN status IN ('Completed', 'Failed') THEN status END) STORED,
    ADD KEY overview_idx (last_execution_at, outcome, kind, execution_time_us);
