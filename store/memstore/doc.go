// Package memstore is an in-memory store.Store for single-process use: tests,
// examples, and programs that want durable-while-running task state without
// a database.
//
// It is built for load, not only for tests. Rows are indexed by id and task
// key (hash maps), and in keyset order over (CreatedAt, ID) three ways: all
// rows, rows per status, and the rows that may be recoverable. So Persist,
// Transition and the other hot-path calls are O(log n), List pages by status
// or over everything start at their cursor, RetrievePending walks only rows
// that can still run, and counts come from maintained counters. The
// original's in-memory store kept a list under one lock and slowed down as
// rows accumulated; this one does not.
//
// Every method copies its input and output, so callers never share memory
// with the store. One RWMutex guards everything: each operation holds it for
// O(log n) work, and Purge releases it between batches.
//
// It implements every optional capability of the store package.
package memstore
