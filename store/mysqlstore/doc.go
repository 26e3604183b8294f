// Package mysqlstore is the MySQL and MariaDB store of evertask, over
// database/sql with github.com/go-sql-driver/mysql. It runs on MariaDB
// 10.6 and later (tested on 10.11) and MySQL 8.0 and later.
//
// A Store takes a *sql.DB the caller configured (New), or opens a pool of
// its own from a DSN (Open). Its tables carry a prefix (default
// "evertask_") and live in the connection's database or one the Config
// names, so several applications can share a server. New applies the
// embedded migrations unless Config.SkipMigrations; Migrate does the same
// on its own, safely from several processes at once (they queue on a
// GET_LOCK lock).
//
// # SQL features it relies on, and why
//
//   - InnoDB: row locks, transactions, foreign keys (a log of a missing
//     task is store.ErrNotFound; logs go with their task).
//   - SELECT ... FOR UPDATE SKIP LOCKED (MySQL 8.0, MariaDB 10.6): a claim
//     or a rescue locks the rows it takes and skips those another node is
//     taking, so concurrent claimers neither wait for nor share a row.
//   - GET_LOCK, IS_USED_LOCK and RELEASE_LOCK (several locks per session:
//     MySQL 5.7, MariaDB 10.0): a node's liveness session holds a lock named
//     after the node; the server releases it when the session ends with its
//     process, which is how other nodes prove a node gone. Migrations are
//     serialized with one too.
//   - UTC_TIMESTAMP(6): the store's clock for leases, the same whatever the
//     session time zone.
//   - DATETIME(6): times with microseconds, stored as UTC wall clock. The
//     store formats and parses them itself, so neither the DSN's parseTime
//     and loc nor the session time_zone changes what is read back (a
//     TIMESTAMP column would be converted by the session time zone).
//   - Stored generated columns and indexes on them (MySQL 5.7, MariaDB
//     10.2): MySQL has no partial indexes, so the status part of the
//     recoverable predicate is a column (live) that leads the recovery
//     index, and its claimable part (ready) leads the due index of claims.
//   - A UNIQUE index on a nullable task key: NULL (no key) may repeat.
//   - Expression defaults (MySQL 8.0.13, MariaDB 10.2) in the migrations
//     table only.
//   - INSERT ... ON DUPLICATE KEY UPDATE with VALUES(col), to write a batch
//     of changed rows back in one statement, and a user variable assigned
//     in an UPDATE (Renew keeps the new lease end in @evertask_lease). Both
//     work on MariaDB and MySQL 8; MySQL 8 deprecates both forms (a
//     warning), and MariaDB has no other.
//
// The store is tested on MariaDB 10.11 only (the test machines have no
// MySQL server); MySQL 8 is supported by the SQL above, not yet by a test
// run.
//
// # Atomicity and round trips
//
// MySQL has neither UPDATE ... RETURNING nor writable CTEs, with which the
// PostgreSQL store does each compound step in one statement. Here each
// compound step is one transaction: lock the rows (FOR UPDATE, in primary
// key order) reading the store's clock with them, decide and apply the
// change in Go with the rules package store writes down for every store,
// write the changed rows back in one INSERT ... ON DUPLICATE KEY UPDATE, insert the
// audits in one multi-row INSERT, commit. A batch of a thousand transitions
// is five round trips, as is one. PersistMany is one multi-row INSERT (a
// transaction of several when the batch is large).
//
// A deadlock (error 1213) or a lock wait timeout (1205) rolls the step
// back; the store runs it again up to four times, then returns an error
// wrapping store.ErrUnavailable, which callers treat as retryable.
//
// # Cluster mode
//
// The Store implements store.Cluster. Lease times are UTC_TIMESTAMP(6), the
// time the statement started: for a statement that waited for a row lock,
// that is a little early, which errs on the safe side everywhere (a new
// lease ends a little sooner, a live lease refuses a re-queue a little
// longer, a fenced write is judged as of when it was asked). Claims are
// READ COMMITTED transactions, so they lock the rows they take and not the
// gaps between index entries, which would make dispatches into the queue
// wait. There is no store.Notifier: nodes find work dispatched by others
// at their next poll. PersistTx writes a row inside the caller's *sql.Tx,
// so evertask.DispatchTx works with it.
//
// Rows are always locked in primary key order, in reads of fewer than 1000
// ids (MariaDB reads a longer IN list in the list's order), so two steps
// never wait for each other in a cycle. Renew is one UPDATE per 500 leases.
//
// A joined node keeps one connection of the pool for its liveness session
// until it leaves: size the pool one larger per node.
//
// # Settings
//
// With a *sql.DB of the caller's, two settings make the store faster (Open
// sets both): interpolateParams=true in the DSN, so a statement is one
// round trip instead of prepare, execute and close; and SetMaxIdleConns as
// large as SetMaxOpenConns, since database/sql keeps only two idle
// connections by default and a busy engine then opens and closes
// connections all the time. The server should run in strict mode (the
// default of MySQL 8 and MariaDB 10.2+): otherwise text that does not fit
// a column is truncated with a warning instead of refused.
//
// Driver errors are mapped to the store sentinels: a held task key is
// store.ErrDuplicateKey, an existing id store.ErrInvalid, a lost
// connection, a server shutting down or a repeated lock conflict wraps
// store.ErrUnavailable (the driver error stays in the chain).
package mysqlstore
