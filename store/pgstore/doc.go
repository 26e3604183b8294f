// Package pgstore is the PostgreSQL store of evertask, on pgx v5.
//
// A Store takes a *pgxpool.Pool the caller configured and keeps its tables
// in one schema (default "evertask"), so several applications can share a
// database. New applies the embedded migrations unless Opts.SkipMigrations;
// Migrate does the same on its own, safely from several processes at once.
//
// Every compound step of the store contract is one SQL statement: a status
// change and its audit row are a writable CTE (UPDATE ... RETURNING feeding
// INSERT), so they commit together in one round trip. The audit policy is
// decided in Go (store.StatusAuditRequired) and passed as a parameter; the
// recoverable predicate is written in SQL exactly as store.Recoverable.
// Batched transitions are one statement over unnested arrays; PersistMany
// is one multi-row insert, or COPY in a transaction for large batches.
//
// The hot path is shaped for the way a task row is written: claimed, then
// finished. No index names the status column: they name phase, a generated
// column that is "open" for every status before a row finishes, so a claim
// (Queued -> InProgress) is a heap-only (HOT) update that writes no index
// entry; the table keeps half of each page free for those new versions.
// The recovery and queue indexes are partial on open rows. The audit tables
// have no foreign key (Remove and the retention delete a task's audits
// themselves). A batch of transitions runs with hash and merge joins off,
// so each row is found through the primary key however large the batch.
// Parameters work in every pgx query mode, the simple protocol of
// transaction poolers included.
//
// The Store implements store.Cluster, so several engines can share one
// schema. Lease times are the server's clock_timestamp(). A claim is one
// statement: the due rows of a queue, read in due order from a partial
// expression index, moved InProgress under a lease and audited; the update
// re-checks each row, so two claims never share one. The claims of one
// queue take turns: each first takes the queue's advisory transaction lock
// (in the same round trip), so it reads past no row another claim holds and
// locks no row itself. One that waits for its turn longer than 250 ms (the
// claim before is held up by a slow or paused node) claims without it,
// locking its rows with FOR UPDATE SKIP LOCKED, and so do the Store's claims
// for the next 5 s. A node alone (store.ClaimParams.Alone) takes no turn.
// A node proves it is alive with a session advisory lock held on a
// connection taken out of the pool; the server releases it
// when the process dies, and Nodes reads pg_locks to tell. The
// store.Notifier is LISTEN/NOTIFY on a channel per schema; PersistTx writes
// a row in the caller's transaction and notifies the other nodes when it
// commits.
//
// Driver errors are mapped to the store sentinels: a held task key is
// store.ErrDuplicateKey, a lost connection or a restarting server wraps
// store.ErrUnavailable (the driver error stays in the chain).
package pgstore
