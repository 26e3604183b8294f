// Command evertask runs the evertask demo, benchmarks the stores, applies
// migrations, and is the operator's tool over a store: it lists and acts on
// tasks, pauses queues cluster-wide and shows the nodes.
//
//	evertask demo      a guided run of the engine on SQLite
//	evertask tasks     list, show, cancel, retry, run or delete tasks
//	evertask queues    list queues with their counts; pause or resume one on every node
//	evertask nodes     the engines (nodes) sharing the store
//	evertask purge     delete old finished tasks, audits and logs
//	evertask serve     the dashboard and HTTP API over a store (package monitor)
//	evertask migrate   apply the schema migrations of a store, saying what it applied
//	evertask bench     throughput and latency of a store
//
// Run "evertask <command> --help" for the flags of a command.
//
// A newcomer's first command, from the repository root:
//
//	go run ./cmd/evertask demo
//
// It registers a few handlers on the embedded SQLite store, dispatches a
// task of each kind (a retry that succeeds, one that fails for good, a
// recurring series, a delayed task, an idempotent keyed dispatch), prints
// every lifecycle event and reads the outcome back from the store. Run it
// twice: the second run recovers what the first left in the file. While it
// runs it serves the dashboard on 127.0.0.1:8080 (a free port when that one
// is taken) and prints the login; --stay keeps the dashboard up after the
// demo until Ctrl-C, --addr off serves none.
//
// # Operating a store
//
// tasks, queues, nodes, purge and serve take the store flags: --store sqlite,
// postgres or redis, or a URL (sqlite:FILE, postgres://..., redis://...),
// default $EVERTASK_STORE, else sqlite; --dsn for the file, URL or address;
// --schema for the PostgreSQL schema or Redis key prefix. They never
// migrate or create anything on open: a mistyped name is an error, not a
// new empty store. Every read command prints a table, or JSON with --json
// (stable field names, RFC 3339 UTC times).
//
// A task is named by its full id, by its first 8 or more hexadecimal digits
// when no other task shares them (ids start with their creation time, so
// tasks made in the same minute share 8 digits or more), or by "…" and its
// last 6 or more digits, as the demo prints ids (a suffix is looked up by
// reading every id: fine for a small store).
//
//	evertask tasks --status Failed
//	evertask tasks show …3f9a2c                # --full-payload, --json
//	evertask tasks retry 01a23566-68f4-7001    # Failed or Cancelled, again now
//	evertask tasks run ID                      # a delayed task or a series' next run, now
//	evertask tasks cancel ID                   # stops it on the node running it
//	evertask queues pause mail                 # no node starts a mail task until resume
//	evertask purge --completed 7d --failed 30d --logs 7d
//	evertask serve --store postgres://... --addr 127.0.0.1:8080   # password from $EVERTASK_PASSWORD, else printed
//
// Actions are store writes every node sees: a node with a free worker runs
// a retried task, and the node running a cancelled one stops it (at once
// with PostgreSQL or Redis notices, else at its next lease renewal).
//
// # Exit codes
//
//	0  done
//	1  failed: the store cannot be reached, has no evertask data, or
//	   answered with an error (one line on stderr says what and how to fix it)
//	2  bad usage: unknown command, subcommand or flag, a bad value or id
//	3  not found: no task has the id, or several match the id prefix
//	4  not allowed: the task's status forbids the action (retrying a task
//	   that did not fail, deleting one that may still run), or the store
//	   lacks the capability
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
