// Package sqlitestore is a store.Store on one SQLite file, through
// modernc.org/sqlite (pure Go: no C toolchain needed). It is the embedded
// default of evertask and implements every optional capability of the store
// package.
//
// # Layout
//
// Tables tasks, status_audits, runs_audits and execution_logs (children
// cascade with their task), created by the embedded migrations in
// migrations/ and versioned in schema_version. Ids are the 16 bytes of the
// UUIDv7, times INTEGER unix microseconds UTC.
//
// # Connections
//
// One writer connection (SQLite admits one writer at a time) and a pool of
// query_only readers, in WAL mode with synchronous=NORMAL: a commit survives
// a crash of the process, which is what the engine recovers from (see
// writerDSN for the trade). Every compound step (a status change and its
// audit, the end of a recurring run) is one transaction on the writer, and
// every conditional transition evaluates its condition inside its UPDATE.
//
// # Cluster
//
// The store implements store.Cluster, so several processes (nodes) on one
// host may share the file as their queue. SQLite is one file on one
// machine, so every node sharing it runs on that host and reads the same
// clock: the store's clock is the host's (time.Now), and there is no skew
// between nodes to guard against. Writes that have a transaction read it
// after BEGIN IMMEDIATE, under the write lock.
//
// Every cluster write is one IMMEDIATE transaction on the writer: the write
// lock serializes them across processes, so a claim needs no row locks
// (what FOR UPDATE SKIP LOCKED gives a server) and two claims never see the
// same row as free. Another process holding the lock is waited for (busy
// timeout); a lock that outlasts it is store.ErrUnavailable, which callers
// retry. Claim walks the partial index tasks_claim, keyed by queue and
// Task.DueAt over the claimable statuses, so it reads the rows it takes.
//
// A node's liveness is an exclusive flock on <file>.nodes/<node id>.lock,
// taken by its first JoinCluster and held by an open descriptor until
// LeaveCluster or Close. The kernel drops it when the process dies, however
// it dies; a stopped process keeps it. Nodes reports Gone a node whose lock
// it can take (and releases at once). On systems without flock no node is
// ever Gone and a dead node's rows come back when their leases expire. An
// in-memory database is not supported at all (see Open).
//
// There is no store.Notifier: SQLite has no channel between processes, so
// nodes poll, sleeping until the NextDue a Claim returns.
//
// # Search
//
// Filter.Search folds case with Go's simple Unicode folding, registered as
// an SQL function on a private driver instance, because SQLite's own
// lower() and LIKE fold ASCII only.
package sqlitestore
