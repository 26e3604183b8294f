-- The monitor's overview aggregates the executions that finished in a
-- window (store.Stats): this index holds every column that query reads, so
-- it walks the window's entries and never the rows. Only rows that ran are
-- in it (last_execution_at is set by the end of an execution), so the
-- transitions of a new row before it ends write nothing here.
CREATE INDEX tasks_executed ON tasks (last_execution_at, status, kind, execution_time_us)
WHERE last_execution_at IS NOT NULL;
