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
// # Errors
//
// Providers map driver errors to the sentinels of this package at their
// boundary (ErrNotFound, ErrDuplicateKey, ErrInvalid, ErrClosed,
// ErrUnavailable, ErrSchemaVersion) so callers use errors.Is.
package store
