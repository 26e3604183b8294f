// Package metrics exports an engine's work as Prometheus metrics through
// the standard client library (github.com/prometheus/client_golang).
//
// It lives in its own package so that the engine, and programs that do not
// want Prometheus, never import the client: the engine reports through the
// small evertask.Observer hook and its QueueStats snapshot, and this package
// turns those into metrics.
//
//	m, err := metrics.New(&metrics.Config{Registerer: reg})
//	cfg := &evertask.Config{Observer: m.Observer()}
//	engine, err := evertask.New(st, cfg)
//	m.Watch(engine)                        // queue depth and busy workers
//	mux.Handle("/metrics", metrics.Handler(reg))
//
// The metrics, each prefixed by Config.Namespace ("evertask"):
//
//	tasks_started_total{queue,kind}            executions begun
//	tasks_total{queue,kind,outcome}            executions ended: completed, failed,
//	                                           timed_out, cancelled, stopped; and
//	                                           poisoned, recovered
//	task_execution_seconds{queue,kind}         execution time of completed and failed
//	                                           executions, retries included (histogram)
//	task_wait_seconds{queue,kind}              from due (dispatched, scheduled time or
//	                                           occurrence) to start (histogram)
//	task_retries_total{queue,kind}             failed attempts followed by another
//	store_errors_total{op}                     failed store calls of the engine
//	lease_takeovers_total{queue}               tasks taken back from a lost node
//	queue_depth{queue}                         tasks in this engine's buffer
//	queue_busy_workers{queue}                  workers running a handler
//	queue_workers{queue}                       workers of the queue
//	queue_paused{queue}                        1 while the queue is paused
//	events_dropped_total                       events subscribers lost to full buffers
//
// The queue gauges describe this engine (node). In a cluster the backlog
// waiting in the store is the store's per-status count, which the monitor
// API reports; each node exports its own metrics, told apart by the
// scrape's instance label or Config.ConstLabels.
package metrics
