// Package memstore is an in-memory store.Store for single-process use: tests,
// examples, and programs that want task state without a database (it is
// lost when the process ends).
//
// It is built for load, not only for tests; the original's in-memory store
// kept a list under one lock and slowed down as rows accumulated. Here:
//
//   - Rows are found by id and by task key through hash maps.
//   - Three kinds of ordered index over (CreatedAt, ID), B-trees with
//     O(log n) insert and delete and iteration from any cursor: all rows
//     (List without a status filter), rows per status (List by status,
//     merged when several are asked for), and the rows that may be
//     recoverable (RetrievePending walks only those and checks the one
//     clock-dependent rule, RunUntil, on each).
//   - Counts per status and per queue are maintained on every change, so
//     CountByStatus and CountByQueue read counters; with CreatedFrom they
//     walk the rows created since then.
//   - Rows are compact (times as microseconds, the status as an index,
//     pointer fields first) and recycled after Remove and Purge, so a big
//     store costs the garbage collector little and a store with steady
//     churn allocates almost nothing per task.
//
// Every status change uses the contract's own helpers (Allows, Apply, the
// audit policy), so its semantics are those of every other store. Every
// method copies its input and output: callers never share memory with the
// store. One RWMutex guards every row; each call holds it for O(log n)
// work, and Purge releases it between batches.
//
// It implements every optional capability of the store package, Cluster
// and Notifier included, for several engines sharing one Store in one
// process: the store's clock is the process clock, notices fan out in
// process, and no node is ever proven gone (it ends with the process). The
// claim indexes (due rows per queue, InProgress rows) are built on the first
// Claim or Rescue, so a single-process engine never pays for them, and a
// transition reads the clock only when a lease rule needs it.
package memstore
