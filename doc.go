// Package evertask is a persistent background task engine: register typed
// handlers, dispatch tasks to run now, after a delay, at a time or on a
// recurring schedule, and the engine runs them on bounded per-queue worker
// pools with retries, timeouts, cancellation and lifecycle hooks.
//
// Every task is persisted through a store.Store before it runs, so nothing
// is lost when the process stops or crashes: on Start the engine recovers
// what was pending. Delivery is at least once (a task interrupted by a crash
// runs again), and one process never runs the same task twice at the same
// time, so handlers should be idempotent.
//
// # Basics
//
//	st := memstore.New() // or sqlitestore.Open, pgstore.New, mysqlstore.New, redisstore.New
//	eng, err := evertask.New(st, nil)
//	err = evertask.Register[SendEmail](eng, emailHandler, nil)
//	err = eng.Start(ctx)
//	id, err := eng.Dispatch(ctx, SendEmail{To: "a@example.com"}, nil)
//	...
//	err = eng.Shutdown(ctx)
//
// A task type is a plain struct with a stable Kind; its JSON is what the
// store keeps, and the handler always receives the task decoded from that
// JSON, exactly as it would after a restart.
//
// # Guarantees
//
// Every status change is a compare-and-set in the store: a late write never
// overwrites a newer status, a cancelled or finished task is never
// resurrected, and a cancel never overwrites a result. Status writes of
// concurrent workers are grouped into one store round trip where the store
// supports it, and a task's outcome is durable before hooks and events
// report it. On a store that takes concurrent writes (the PostgreSQL and
// Redis stores), a worker takes its next task while its last outcome is
// being written (at most four outcomes per worker of a queue at once), so
// the next task of a queue may start before the last one's OnCompleted hook
// runs.
//
// Shutdown stops intake, lets running handlers finish until its context
// ends, then cancels them; what did not finish stays recoverable.
//
// # Several processes
//
// When the store implements store.Cluster (every built-in store does), any
// number of engines (nodes) may share it, and the store is the queue. Beside
// its workers each node then runs a few stages, each with its own lifecycle
// and only the dependencies it calls: a fetcher per queue claims due rows
// under a lease, the lease keeper renews the leases and the node's
// heartbeat, the rescuer takes back the rows of expired leases and of nodes
// proven gone, and the listener acts on the other nodes' notices (with a
// store.Notifier). docs/cluster.md has the leases, who does what and who
// may write what.
package evertask
