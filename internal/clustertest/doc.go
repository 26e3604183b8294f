// Package clustertest proves cluster mode with real OS processes: several
// engines (the program in node/, built by the tests) share one PostgreSQL
// schema, Redis key prefix or SQLite file, and the tests kill them
// (SIGKILL), pause them (SIGSTOP) and restart them while they work.
//
// Each node appends what happened to a records file with single write(2)
// calls, so the records survive a SIGKILL; the tests read the records and
// the store and check the cluster's promises: every acknowledged task
// completes, no task runs twice at the same time, a dead or paused node's
// work is taken over within the lease and a poll, its late writes are
// refused, delayed and recurring work runs on time on the survivors, and a
// cancel reaches the node that runs the task.
//
// The tests need the database services (they skip without them, fail in CI
// with EVERTASK_TEST_REQUIRE_SERVICES=1). The one that restarts PostgreSQL
// runs only with EVERTASK_TEST_SERVER_RESTART=1, like internal/restarttest.
// Each scenario logs its figures (take-over times, lateness, cancel
// latency): run with -v to read them.
//
// For a look inside: a failed test keeps its records directory and says
// where (EVERTASK_CLUSTERTEST_KEEP=1 keeps every test's), with each node's
// engine log beside its records; EVERTASK_CLUSTERTEST_LOG=info (or debug)
// sets the nodes' log level.
package clustertest
