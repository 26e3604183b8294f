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
// # Search
//
// Filter.Search folds case with Go's simple Unicode folding, registered as
// an SQL function on a private driver instance, because SQLite's own
// lower() and LIKE fold ASCII only.
package sqlitestore
