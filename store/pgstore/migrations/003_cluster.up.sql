-- Cluster mode: several engines share the table as one queue.
--
-- Claim reads the due rows of one queue in due order. DueAt is the first
-- set of next_run_at, scheduled_at and created_at; the index holds it as an
-- expression so the claim is a range scan that stops after its limit. The
-- predicate is the status part of store.Recoverable in terms of phase,
-- written exactly as the claim writes it so the planner can prove the
-- implication. It does not leave out InProgress rows: an index that named
-- status would make every claim (Queued -> InProgress) and every requeue
-- write index entries instead of a heap-only update (migration 002), so the
-- claim filters the few running rows it meets. None of the columns a claim
-- or a lease renewal writes (status, owner, lease_until) is indexed.
CREATE INDEX tasks_due_idx ON {schema}.tasks
    (queue, (coalesce(next_run_at, scheduled_at, created_at)), created_at, id)
    WHERE phase = 'open' OR (recurring AND next_run_at IS NOT NULL AND phase IN ('Completed', 'Failed'));

-- The node registry. lock_key is the session advisory lock a live node
-- holds on a connection of its own: Nodes reads pg_locks for it, so a node
-- whose process (and with it the session) ended is known to be gone.
CREATE TABLE {schema}.nodes (
    id             text        PRIMARY KEY,
    host           text        NOT NULL DEFAULT '',
    pid            bigint      NOT NULL DEFAULT 0,
    started_at     timestamptz,
    queues         jsonb       NOT NULL DEFAULT '{}',
    last_heartbeat timestamptz NOT NULL,
    lock_key       bigint      NOT NULL
);
