package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/evertask/evertask"
	"github.com/evertask/evertask/store"
)

// benchTask is the no-op task every mode runs. T0 is set by the latency
// mode across nodes only: the dispatcher's wall clock at the call to
// Dispatch, in Unix nanoseconds, read by the node that runs the task (one
// host, one clock).
type benchTask struct {
	N  int   `json:"n"`
	T0 int64 `json:"t0,omitempty"`
}

func (benchTask) Kind() string { return "evertask.bench.noop" }

// benchConfig is the parsed command line of bench.
type benchConfig struct {
	store, mode, dsn string
	tasks, workers   int
	producers        int
	nodes            int
	audit            store.AuditLevel
	duration         time.Duration
	pageSize         int
	progress         time.Duration
	cpuProfile       string
	memProfile       string
}

// startProfile starts the CPU profile of the timed phase when --cpuprofile
// asks for one; the returned function stops it.
func (c *benchConfig) startProfile() (stop func(), err error) {
	if c.memProfile != "" {
		// The allocation profile counts from the process's start: the
		// timed phase is the difference, pprof -base <name>.start <name>.
		if err := writeHeapProfile(c.memProfile + ".start"); err != nil {
			return nil, err
		}
		stopCPU, err := c.startCPUProfile()
		if err != nil {
			return nil, err
		}
		return func() { stopCPU(); _ = writeHeapProfile(c.memProfile) }, nil
	}
	return c.startCPUProfile()
}

func writeHeapProfile(name string) error {
	f, err := os.Create(name)
	if err != nil {
		return err
	}
	defer f.Close()
	return pprof.Lookup("allocs").WriteTo(f, 0)
}

func (c *benchConfig) startCPUProfile() (stop func(), err error) {
	if c.cpuProfile == "" {
		return func() {}, nil
	}
	f, err := os.Create(c.cpuProfile)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

// persistBatch is the size of the PersistMany batches of burn mode.
const persistBatch = 1000

func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("bench", "bench --store memory|sqlite|postgres|mysql|redis --mode burn|steady|latency [flags]", stderr)
	var c benchConfig
	var audit string
	fs.StringVar(&c.store, "store", "", "store to measure: "+storeNames+" (required)")
	fs.StringVar(&c.mode, "mode", "burn", "burn (insert N tasks, then time working them off), steady (producers and workers together for --duration), latency (dispatch to handler start, one task at a time)")
	fs.StringVar(&c.dsn, "dsn", "", "connection: postgres URL (default "+defaultPostgresDSN+"), mysql DSN (default "+defaultMySQLDSN+"), redis host:port or URL (default "+defaultRedisAddr+"), sqlite file (default a temporary file). The bench uses its own schema, database, key prefix or file and removes it at the end. The postgres and mysql pools have workers/4 connections (4 to 32) unless the postgres URL sets pool_max_conns")
	fs.IntVar(&c.tasks, "tasks", 0, "tasks to run (burn default: memory 100000, sqlite 20000, postgres, mysql and redis 50000; latency default 2000)")
	fs.IntVar(&c.workers, "workers", 0, "workers of the default queue (default: postgres, mysql and redis 100, sqlite 4, memory 4)")
	fs.IntVar(&c.producers, "producers", 0, "steady mode: goroutines dispatching (default: 4, postgres, mysql and redis 25)")
	fs.StringVar(&audit, "audit", "none", "audit level of the tasks: none, errors-only, minimal or full")
	fs.DurationVar(&c.duration, "duration", 10*time.Second, "steady mode: how long to run")
	fs.IntVar(&c.nodes, "nodes", 1, "engines (OS processes of this command) sharing the store: with more than 1, burn and steady run one engine per node process and count their sum; latency dispatches from this process, whose workers are busy, to the handler on another node. Needs a store shared between processes (sqlite, postgres, mysql, redis)")
	fs.IntVar(&c.pageSize, "recovery-page", 0, "burn mode: engine RecoveryPageSize (default: the engine's)")
	fs.StringVar(&c.cpuProfile, "cpuprofile", "", "write a CPU profile of the timed phase to this file (go tool pprof); with --nodes, each node process writes its own, to this name with .node1, .node2, ... appended")
	fs.StringVar(&c.memProfile, "memprofile", "", "write the allocations of the timed phase: this file and this file with .start appended (go tool pprof -base FILE.start FILE)")
	fs.DurationVar(&c.progress, "progress", time.Second, "interval of the progress lines on stderr (0: none)")
	rest, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if err := noPositional(rest); err != nil {
		return err
	}
	if err := c.resolve(audit); err != nil {
		return err
	}
	// The engine's logger, the progress lines and the node processes write
	// to stderr from several goroutines.
	stderr = &syncWriter{w: stderr}

	// Enough connections for the engine's concurrent group commits, far
	// fewer than workers: measured on 2 cores, 25 connections beat both 4
	// and 100 for 100 workers.
	conns := min(max(c.workers/4, 4), 32)
	if c.nodes > 1 {
		// This process only inserts, counts (and dispatches, in latency
		// mode): the node processes open their own pools.
		conns = 4
	}
	st, err := openBenchStore(ctx, c.store, c.dsn, conns, stderr)
	if err != nil {
		return err
	}
	defer st.close()

	var res benchResult
	switch {
	case c.nodes > 1:
		res, err = benchNodes(ctx, st, &c, stderr)
	default:
		res, err = benchOne(ctx, st, &c, stderr)
	}
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, res.line(&c))
	return nil
}

// benchOne runs the mode with one engine, in this process.
func benchOne(ctx context.Context, st *opened, c *benchConfig, stderr io.Writer) (res benchResult, err error) {
	switch c.mode {
	case "burn":
		return benchBurn(ctx, st, c, stderr)
	case "steady":
		return benchSteady(ctx, st.Store, c, stderr)
	default:
		return benchLatency(ctx, st.Store, c, stderr)
	}
}

func (c *benchConfig) resolve(audit string) error {
	if err := checkStoreName(c.store); err != nil {
		return err
	}
	switch c.mode {
	case "burn", "steady", "latency":
	default:
		return usageErr("unknown mode %q (want burn, steady or latency)", c.mode)
	}
	level, err := store.ParseAuditLevel(audit)
	if err != nil {
		return usageErr("bad --audit %q (want none, errors-only, minimal or full)", audit)
	}
	c.audit = level
	server := c.store == "postgres" || c.store == "mysql" || c.store == "redis"
	switch {
	case c.tasks < 0 || c.workers < 0 || c.producers < 0 || c.pageSize < 0:
		return usageErr("--tasks, --workers, --producers and --recovery-page must not be negative")
	case c.duration <= 0:
		return usageErr("--duration must be positive, got %v", c.duration)
	case c.nodes < 1 || c.nodes > maxNodes:
		return usageErr("--nodes must be between 1 and %d, got %d", maxNodes, c.nodes)
	case c.nodes > 1 && c.store == "memory":
		return usageErr("--nodes %d: the memory store lives in one process (use sqlite, postgres, mysql or redis)", c.nodes)
	}
	if c.tasks == 0 {
		switch {
		case c.mode == "latency":
			c.tasks = 2000
		case c.store == "memory":
			c.tasks = 100_000
		case c.store == "sqlite":
			c.tasks = 20_000
		default:
			c.tasks = 50_000
		}
	}
	if c.workers == 0 {
		c.workers = 4
		if server {
			c.workers = 100
		}
	}
	if c.producers == 0 {
		c.producers = 4
		if server {
			c.producers = 25
		}
	}
	return nil
}

// benchResult is what a mode measured.
type benchResult struct {
	tasks    int
	elapsed  time.Duration
	p50, p99 time.Duration
}

// line is the RESULT line: the keys that apply to the mode, space separated.
func (r benchResult) line(c *benchConfig) string {
	var b strings.Builder
	fmt.Fprintf(&b, "RESULT mode=%s store=%s nodes=%d tasks=%d workers=%d", c.mode, c.store, c.nodes, r.tasks, c.workers)
	if c.mode == "steady" {
		fmt.Fprintf(&b, " producers=%d", c.producers)
	}
	fmt.Fprintf(&b, " audit=%s seconds=%.3f", c.audit, r.elapsed.Seconds())
	if c.mode == "latency" {
		fmt.Fprintf(&b, " p50_us=%d p99_us=%d", r.p50.Microseconds(), r.p99.Microseconds())
	} else {
		fmt.Fprintf(&b, " tasks_per_s=%.0f", float64(r.tasks)/r.elapsed.Seconds())
	}
	return b.String()
}

// newBenchEngine returns an engine with the no-op handler registered;
// onRun is called at the start of every execution.
func newBenchEngine(st store.Store, c *benchConfig, stderr io.Writer, onRun func(benchTask)) (*evertask.Engine, error) {
	return newBenchEngineWith(st, benchEngineConfig(c, stderr), nil, onRun)
}

// benchEngineConfig is the engine configuration of every mode: c.workers
// on the default queue, no retries, c's audit level.
func benchEngineConfig(c *benchConfig, stderr io.Writer) *evertask.Config {
	return &evertask.Config{
		// Only the engine's warnings and errors: a bench that drops tasks
		// must say why.
		Logger:           slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		Workers:          c.workers,
		Capacity:         10_000,
		AuditLevel:       c.audit,
		RecoveryPageSize: c.pageSize,
		Retry:            evertask.NoRetry(),
	}
}

// newBenchEngineWith returns an engine of cfg with the no-op handler
// registered with opts (nil: on the default queue).
func newBenchEngineWith(st store.Store, cfg *evertask.Config, opts *evertask.HandlerOpts, onRun func(benchTask)) (*evertask.Engine, error) {
	eng, err := evertask.New(st, cfg)
	if err != nil {
		return nil, err
	}
	err = evertask.Register[benchTask](eng, evertask.HandlerFunc[benchTask](func(_ context.Context, t benchTask) error {
		onRun(t)
		return nil
	}), opts)
	if err != nil {
		return nil, err
	}
	return eng, nil
}

// progress prints fn's line to stderr every c.progress until stop is
// called.
func progress(c *benchConfig, stderr io.Writer, fn func() string) (stop func()) {
	if c.progress <= 0 {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(c.progress)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				fmt.Fprintf(stderr, "bench %s %s: %s\n", c.mode, c.store, fn())
			}
		}
	})
	return func() { close(done); wg.Wait() }
}

// benchBurn is River's method: persist N Queued tasks, then start the
// engine and time until every one is Completed in the store. The engine's
// fetchers claim them (on a store without store.Cluster, startup recovery
// feeds them to the workers).
func benchBurn(ctx context.Context, opened *opened, c *benchConfig, stderr io.Writer) (benchResult, error) {
	st := opened.Store
	n := c.tasks
	baseline, err := insertBurn(ctx, st, c, stderr)
	if err != nil {
		return benchResult{}, err
	}
	fmt.Fprintf(stderr, "bench burn %s: inserted %d tasks, starting the engine\n", c.store, n)

	var ran atomic.Int64
	allRan := make(chan struct{})
	eng, err := newBenchEngine(st, c, stderr, func(benchTask) {
		if ran.Add(1) == int64(n) {
			close(allRan)
		}
	})
	if err != nil {
		return benchResult{}, err
	}
	stopProfile, err := c.startProfile()
	if err != nil {
		return benchResult{}, err
	}
	defer stopProfile()
	cpu := startCPU(os.Getpid())
	srv := startServerCPU(ctx, opened.pool, benchAppName(opened.at))
	start := time.Now()
	stop := progress(c, stderr, func() string {
		d := ran.Load()
		return fmt.Sprintf("%d/%d done (%.0f/s)", d, n, float64(d)/time.Since(start).Seconds())
	})
	defer stop()
	if err := eng.Start(ctx); err != nil {
		return benchResult{}, err
	}
	defer shutdown(eng)
	select {
	case <-allRan:
	case <-ctx.Done():
		return benchResult{}, ctx.Err()
	}
	// The clock stops when the store says so: the last outcomes are
	// acknowledged only once their batch committed.
	if err := waitCompleted(ctx, st, baseline+n); err != nil {
		return benchResult{}, err
	}
	elapsed := time.Since(start)
	cpu.report(stderr, n)
	srv.report(ctx, stderr, n)
	return benchResult{tasks: n, elapsed: elapsed}, nil
}

// insertBurn persists the c.tasks Queued rows of a burn and returns how
// many rows of the store were Completed before: a --dsn file may hold rows
// already, and only the new completions count.
func insertBurn(ctx context.Context, st store.Store, c *benchConfig, stderr io.Writer) (baseline int, err error) {
	n := c.tasks
	baseline, err = completed(ctx, st)
	if err != nil {
		return 0, err
	}
	var inserted atomic.Int64
	stop := progress(c, stderr, func() string { return fmt.Sprintf("inserted %d/%d", inserted.Load(), n) })
	// Created in the past, so every row is older than the engine's recovery
	// cutoff; microseconds apart, so the keyset order is the insert order.
	base := time.Now().Add(-time.Hour).UTC().Truncate(time.Microsecond)
	batch := make([]*store.Task, 0, persistBatch)
	for i := 0; i < n; i += persistBatch {
		batch = batch[:0]
		for j := i; j < min(i+persistBatch, n); j++ {
			id, err := uuid.NewV7()
			if err != nil {
				stop()
				return 0, err
			}
			batch = append(batch, &store.Task{
				ID: id, CreatedAt: base.Add(time.Duration(j) * time.Microsecond),
				Kind: benchTask{}.Kind(), Payload: fmt.Appendf(nil, `{"n":%d}`, j), Handler: "bench",
				Queue: evertask.DefaultQueue, Status: store.StatusQueued, AuditLevel: c.audit,
			})
		}
		if err := store.PersistMany(ctx, st, batch); err != nil {
			stop()
			return 0, fmt.Errorf("persist tasks %d-%d: %w", i, i+len(batch)-1, err)
		}
		inserted.Add(int64(len(batch)))
	}
	stop()
	return baseline, nil
}

// completed returns how many rows of the store are Completed.
func completed(ctx context.Context, st store.Store) (int, error) {
	counts, err := store.CountByStatus(ctx, st, store.CountParams{})
	if err != nil {
		return 0, fmt.Errorf("count tasks: %w", err)
	}
	return counts[store.StatusCompleted], nil
}

// waitCompleted polls the store until n rows are Completed.
func waitCompleted(ctx context.Context, st store.Store, n int) error {
	deadline := time.Now().Add(time.Minute)
	for {
		done, err := completed(ctx, st)
		if err != nil {
			return err
		}
		if done >= n {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("only %d of %d tasks Completed in the store a minute after the last handler ran", done, n)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Millisecond):
		}
	}
}

// benchSteady runs producers and workers together for c.duration and
// counts the tasks the store holds as Completed at the end.
func benchSteady(ctx context.Context, st store.Store, c *benchConfig, stderr io.Writer) (benchResult, error) {
	baseline, err := completed(ctx, st)
	if err != nil {
		return benchResult{}, err
	}
	var ran atomic.Int64
	eng, err := newBenchEngine(st, c, stderr, func(benchTask) { ran.Add(1) })
	if err != nil {
		return benchResult{}, err
	}
	if err := eng.Start(ctx); err != nil {
		return benchResult{}, err
	}
	defer shutdown(eng)

	stopProfile, err := c.startProfile()
	if err != nil {
		return benchResult{}, err
	}
	defer stopProfile()
	runCtx, cancel := context.WithTimeout(ctx, c.duration)
	defer cancel()
	start := time.Now()
	stop := progress(c, stderr, func() string {
		d := ran.Load()
		return fmt.Sprintf("%d done (%.0f/s)", d, float64(d)/time.Since(start).Seconds())
	})
	var dispatched atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, c.producers)
	for range c.producers {
		wg.Go(func() {
			for runCtx.Err() == nil {
				n := int(dispatched.Add(1))
				if _, err := eng.Dispatch(runCtx, benchTask{N: n}, nil); err != nil {
					if runCtx.Err() == nil {
						errs <- err
						cancel()
					}
					return
				}
			}
		})
	}
	wg.Wait()
	stop()
	close(errs)
	if err := <-errs; err != nil {
		return benchResult{}, fmt.Errorf("dispatch: %w", err)
	}
	if ctx.Err() != nil {
		return benchResult{}, ctx.Err()
	}
	done, err := completed(ctx, st)
	elapsed := time.Since(start)
	if err != nil {
		return benchResult{}, err
	}
	return benchResult{tasks: done - baseline, elapsed: elapsed}, nil
}

// benchLatency dispatches one task at a time and measures from the call to
// Dispatch to the start of the handler.
func benchLatency(ctx context.Context, st store.Store, c *benchConfig, stderr io.Writer) (benchResult, error) {
	startedAt := make(chan time.Time, 1)
	eng, err := newBenchEngine(st, c, stderr, func(benchTask) { startedAt <- time.Now() })
	if err != nil {
		return benchResult{}, err
	}
	if err := eng.Start(ctx); err != nil {
		return benchResult{}, err
	}
	defer shutdown(eng)

	samples := make([]time.Duration, 0, c.tasks)
	var done atomic.Int64
	stop := progress(c, stderr, func() string { return fmt.Sprintf("%d/%d done", done.Load(), c.tasks) })
	defer stop()
	stopProfile, err := c.startProfile()
	if err != nil {
		return benchResult{}, err
	}
	defer stopProfile()
	begin := time.Now()
	for i := range c.tasks {
		t0 := time.Now()
		if _, err := eng.Dispatch(ctx, benchTask{N: i}, nil); err != nil {
			return benchResult{}, fmt.Errorf("dispatch: %w", err)
		}
		select {
		case t1 := <-startedAt:
			samples = append(samples, t1.Sub(t0))
		case <-time.After(30 * time.Second):
			return benchResult{}, errors.New("a dispatched task did not start within 30s")
		case <-ctx.Done():
			return benchResult{}, ctx.Err()
		}
		done.Add(1)
	}
	elapsed := time.Since(begin)
	slices.Sort(samples)
	return benchResult{tasks: c.tasks, elapsed: elapsed, p50: percentile(samples, 50), p99: percentile(samples, 99)}, nil
}

// percentile returns the nearest-rank percentile of sorted samples.
func percentile(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := (p*len(sorted) + 99) / 100 // ceil(p/100 * n), 1-based
	return sorted[min(max(rank, 1), len(sorted))-1]
}

// shutdown stops an engine whose handlers are no-ops: a few seconds are
// plenty.
func shutdown(eng *evertask.Engine) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	eng.Shutdown(ctx)
}
