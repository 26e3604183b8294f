// Package store defines how evertask persists tasks: the Task record, its
// statuses, the audit policy, the recoverable predicate and the Store
// contract every storage provider implements.
//
// The package holds no driver. Providers live in sub-packages (memstore,
// sqlitestore, pgstore, mysqlstore, redisstore) and prove themselves with the
// conformance suite in storetest and the engine suite in enginetest
// (docs/custom-store.md shows both on a store outside the module).
//
// # Contract in brief
//
// A Store keeps one row per task plus three child collections: status
// audits, runs audits (one per recurring execution) and execution logs.
// Every status change goes through [Store.Transition], a compare-and-set
// that writes the row and, when [StatusAuditRequired] says so, its audit row
// in one atomic step. Optional capabilities (batches, atomic recurring
// steps, counts, retention, the recovery counter) are separate interfaces a
// store may implement; the functions of this package with the same names
// detect them by type assertion and fall back to documented, non-atomic
// sequences of core calls, the way database/sql/driver does.
//
// # Time
//
// Every time a store keeps is UTC at microsecond precision: a store gives
// back exactly NormalizeTime(t) for a time t it was given. The zero
// time.Time means "not set" (NULL).
//
// # Input rules
//
// Each read method's params type has a Normalize method ([Filter.Normalize],
// [PendingParams.Normalize], [LogQuery.Normalize], [RetentionPolicy.Normalize],
// [RescueParams.Normalize]) that rejects bad input with a wrapped ErrInvalid
// and fills in the defaults; the write params have Validate. A store calls
// it first, after its closed check, and reads the normalized fields, so
// every store refuses the same input with the same error. [CountParams] has
// no rule to apply. Filter.Search is matched by [Fold] (for a backend that
// compares stored or computed folds) or [ContainsFold] (for one that
// matches in Go); pgstore and mysqlstore fold in the database, which their
// package docs describe.
//
// # Provider file layout
//
// Every built-in store keeps the same method in the same-named file, so a
// reader who knows one store finds anything in another:
//
//	<backend>store.go  New, Config, Close, accessors, MaxConcurrentWrites
//	task.go            Persist, PersistMany, UpdateDefinition, Remove, Get,
//	                   GetByKey, RunCount
//	transition.go      Transition, TransitionMany, UpdateCurrentRun,
//	                   CompleteRecurringRun, EndSeries,
//	                   IncrementRecoveryFailures, ClearRecoveryFailures
//	list.go            List, RetrievePending
//	history.go         SaveLogs, Logs, LogsPage, StatusAudits, RunsAudits,
//	                   TrimLogs
//	attempt.go         RecordAttempt, Attempts
//	count.go           CountByStatus, CountByQueue
//	retention.go       Purge
//	stats.go           Overview
//	pause.go           PauseQueue, ResumeQueue, PausedQueues
//	cluster.go         Now, Claim, Renew, Rescue, JoinCluster, LeaveCluster,
//	                   Nodes, Publish, Subscribe, PersistTx, PersistClaimed
//	errors.go          the mapping of driver errors to the sentinels
//	migrate.go         schema migrations
//
// A file a store does not need is absent (memstore has no errors.go or
// migrate.go). The rest is the backend's own: memstore's btree.go and
// row.go, sqlitestore's statements.go, scan.go, fold.go and liveness_*.go,
// the SQL text of pgstore and mysqlstore in sql.go, redisstore's codec.go
// and scripts.go.
//
// The three SQL stores answer List, the counts and the history reads (Logs,
// LogsPage, StatusAudits, RunsAudits, Attempts) with one builder,
// store/internal/sqlread: each describes its SQL in a Dialect (parameter
// style, column names, the search, level and keyset expressions, how times
// and ids travel) and its methods in those files hand the call to a
// sqlread.Reader. What a database does better its own way stays in the
// store (pgstore sends LogsPage's two statements in one batch, sqlitestore
// reads them in one snapshot).
//
// # Errors
//
// Providers map driver errors to the sentinels of this package at their
// boundary (ErrNotFound, ErrDuplicateKey, ErrInvalid, ErrClosed,
// ErrUnavailable, ErrSchemaVersion) so callers use errors.Is.
package store
