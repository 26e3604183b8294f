-- Cluster mode: the claim index and the node registry. The lease columns
-- (owner, lease_until) have been on tasks since the first migration.

-- Claim takes the due rows of one queue in (DueAt, CreatedAt, ID) order and
-- looks for the next DueAt of the others; this index is both walks, so a
-- claim reads the rows it takes and the first one it does not, whatever the
-- size of the table. The key's second column is Task.DueAt (NULL is the zero
-- time) and the WHERE is the status term of Task.Claimable: both must stay
-- textually identical to dueSQL and claimableStatusSQL in cluster.go, or
-- SQLite does not match the query to the index.
CREATE INDEX tasks_claim ON tasks (queue, coalesce(next_run_at, scheduled_at, created_at), created_at, id)
WHERE (status = 'WaitingQueue' OR status = 'Queued' OR status = 'Pending' OR status = 'ServiceStopped'
       OR (recurring = 1 AND next_run_at IS NOT NULL AND (status = 'Completed' OR status = 'Failed')));

-- The node registry. Whether a node's process still lives is not in the
-- table but in a file lock the process holds (see cluster.go): a row says
-- who joined, the lock says who is still there.
CREATE TABLE nodes (
    id             TEXT    NOT NULL PRIMARY KEY,
    host           TEXT    NOT NULL DEFAULT '',
    pid            INTEGER NOT NULL DEFAULT 0,
    started_at     INTEGER,
    queues         TEXT    NOT NULL DEFAULT 'null', -- JSON object: queue -> workers
    last_heartbeat INTEGER NOT NULL
);
