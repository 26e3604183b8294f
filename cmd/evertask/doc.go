// Command evertask runs the evertask demo, benchmarks the stores, applies
// migrations and lists the tasks of a store.
//
//	evertask demo      a guided run of the engine on SQLite
//	evertask bench     throughput and latency of a store
//	evertask migrate   apply the schema migrations of a store
//	evertask tasks     list tasks, or show one with its history
//
// Run "evertask <command> -h" for the flags of a command.
//
// A newcomer's first command, from the repository root:
//
//	go run ./cmd/evertask demo
//
// It registers a few handlers on the embedded SQLite store, dispatches a
// task of each kind (a retry that succeeds, one that fails for good, a
// recurring series, a delayed task, an idempotent keyed dispatch), prints
// every lifecycle event and reads the outcome back from the store. Run it
// twice: the second run recovers what the first left in the file.
//
// The bench command measures a store the same way for every backend; its
// last line on stdout is machine-readable:
//
//	RESULT mode=burn store=postgres nodes=1 tasks=50000 workers=100 audit=none seconds=1.234 tasks_per_s=40518
//
// With --nodes N it runs N engines, each in an OS process of its own, on
// one store: throughput of a cluster, and latency from a dispatch on one
// node to the handler on another.
package main
