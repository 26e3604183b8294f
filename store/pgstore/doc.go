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
// Driver errors are mapped to the store sentinels: a held task key is
// store.ErrDuplicateKey, a lost connection or a restarting server wraps
// store.ErrUnavailable (the driver error stays in the chain).
package pgstore
