package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"
)

// Settings of River's own benchmark (`river bench`): its authors found them
// to give the best throughput, far above the client's defaults.
const (
	riverBenchWorkers           = 2_000
	riverBenchFetchCooldown     = 2 * time.Millisecond
	riverBenchFetchPollInterval = 20 * time.Millisecond
	// River requires MaxWorkers on every queue; 100 is the value its
	// documentation's examples use.
	riverDefaultWorkers = 100
	// riverInsertBatch is the batch size River's benchmark inserts with.
	riverInsertBatch = 5_000
)

// cleanupTimeout bounds dropping what a run created, which must still happen
// after the run's own context was cancelled (Ctrl-C, --timeout).
const cleanupTimeout = 30 * time.Second

// noopArgs is the job: a number so every job row is distinct, as in River's
// benchmark.
type noopArgs struct {
	Num int `json:"num"`
}

func (noopArgs) Kind() string { return "peers_noop" }

// workStart tells the latency loop which job started, and when.
type workStart struct {
	id int64
	at time.Time
}

type noopWorker struct {
	river.WorkerDefaults[noopArgs]
	worked  *atomic.Int64
	started chan<- workStart // latency mode only
}

func (w *noopWorker) Work(_ context.Context, job *river.Job[noopArgs]) error {
	at := time.Now()
	w.worked.Add(1)
	if w.started != nil {
		select {
		case w.started <- workStart{id: job.ID, at: at}:
		default: // the latency loop waits for one job at a time; never block a worker
		}
	}
	return nil
}

// riverEnv is a pool whose connections work in a fresh schema holding
// River's tables, dropped by close.
type riverEnv struct {
	pool   *pgxpool.Pool
	schema string
}

func newRiverEnv(ctx context.Context, dsn string, log io.Writer) (*riverEnv, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("parse dsn: %w", err)
	}
	suffix := make([]byte, 6)
	_, _ = rand.Read(suffix) // never fails (crypto/rand documents it)
	schema := "river_bench_" + hex.EncodeToString(suffix)

	// The pool's default size is kept, as the river CLI's bench keeps it;
	// set pool_max_conns in the DSN to change it. The search path is a
	// second guard next to River's Schema setting: nothing can land in
	// the user's tables.
	cfg.ConnConfig.RuntimeParams["search_path"] = schema
	cfg.ConnConfig.RuntimeParams["application_name"] = riverAppName(schema)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open pool: %w", err)
	}
	if _, err := pool.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{schema}.Sanitize()); err != nil {
		pool.Close()
		return nil, fmt.Errorf("create schema %s: %w", schema, err)
	}
	env := &riverEnv{pool: pool, schema: schema}
	fmt.Fprintf(log, "river: created schema %s\n", schema)

	migrator, err := rivermigrate.New(riverpgxv5.New(pool), &rivermigrate.Config{
		Logger: quietLogger(log),
		Schema: schema,
	})
	if err != nil {
		env.close(ctx, log)
		return nil, fmt.Errorf("new migrator: %w", err)
	}
	if _, err := migrator.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		env.close(ctx, log)
		return nil, fmt.Errorf("migrate: %w", err)
	}
	return env, nil
}

// close drops the schema and closes the pool. It runs after the client has
// stopped, so no River connection still holds a lock on the tables.
func (e *riverEnv) close(ctx context.Context, log io.Writer) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	if _, err := e.pool.Exec(ctx, "DROP SCHEMA "+pgx.Identifier{e.schema}.Sanitize()+" CASCADE"); err != nil {
		fmt.Fprintf(log, "river: drop schema %s: %v (drop it by hand)\n", e.schema, err)
	} else {
		fmt.Fprintf(log, "river: dropped schema %s\n", e.schema)
	}
	e.pool.Close()
}

func (e *riverEnv) completedJobs(ctx context.Context) (int64, error) {
	var n int64
	q := "SELECT count(*) FROM " + pgx.Identifier{e.schema, "river_job"}.Sanitize() + " WHERE state = 'completed'"
	err := e.pool.QueryRow(ctx, q).Scan(&n)
	return n, err
}

func quietLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

func runRiver(ctx context.Context, o *options, log io.Writer) (*result, error) {
	env, err := newRiverEnv(ctx, o.dsn, log)
	if err != nil {
		return nil, err
	}
	defer env.close(ctx, log)

	var worked atomic.Int64
	var started chan workStart
	if o.mode == "latency" {
		started = make(chan workStart, 1)
	}
	cfg, err := riverConfig(o, env.schema, &noopWorker{worked: &worked, started: started}, log)
	if err != nil {
		return nil, err
	}
	if o.clients > 1 {
		// This client only inserts: the clients that work are processes.
		cfg.Queues = nil
	}
	client, err := river.NewClient(riverpgxv5.New(env.pool), cfg)
	if err != nil {
		return nil, fmt.Errorf("new client: %w", err)
	}

	res := &result{mode: o.mode, store: o.harness, tasks: o.tasks, workers: o.workers}
	switch {
	case o.clients > 1:
		var n int64
		n, err = riverBurnClients(ctx, client, env, o, log, res)
		worked.Store(n)
	case o.mode == "burn":
		err = riverBurn(ctx, client, env, o, log, res)
	default:
		err = riverLatency(ctx, client, started, o, log, res)
	}
	stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	if stopErr := client.Stop(stopCtx); stopErr != nil {
		err = errors.Join(err, fmt.Errorf("stop client: %w", stopErr))
	}
	if err != nil {
		return nil, err
	}

	// Check the run did what it claims: every job worked once and persisted
	// as completed.
	warmup := int64(0)
	if o.mode == "latency" {
		warmup = 1
	}
	if got := worked.Load(); got != int64(o.tasks)+warmup {
		return nil, fmt.Errorf("worker ran %d jobs, want %d", got, int64(o.tasks)+warmup)
	}
	done, err := env.completedJobs(stopCtx)
	if err != nil {
		return nil, fmt.Errorf("count completed jobs: %w", err)
	}
	if done != int64(o.tasks)+warmup {
		return nil, fmt.Errorf("%d jobs completed in the table, want %d", done, int64(o.tasks)+warmup)
	}
	return res, nil
}

// riverConfig is the client configuration of a harness: w on the default
// queue with o.workers workers, in schema.
func riverConfig(o *options, schema string, w *noopWorker, log io.Writer) (*river.Config, error) {
	workers := river.NewWorkers()
	if err := river.AddWorkerSafely(workers, w); err != nil {
		return nil, fmt.Errorf("add worker: %w", err)
	}
	cfg := &river.Config{
		Logger:  quietLogger(log),
		Queues:  map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: o.workers}},
		Schema:  schema,
		Workers: workers,
	}
	if o.harness == "river" {
		cfg.FetchCooldown = riverBenchFetchCooldown
		cfg.FetchPollInterval = riverBenchFetchPollInterval
	}
	return cfg, nil
}

func riverBurn(ctx context.Context, client *river.Client[pgx.Tx], env *riverEnv, o *options, log io.Writer, res *result) error {
	if err := riverInsert(ctx, client, o, log); err != nil {
		return err
	}
	// Completion events, not the worker's count, decide when a job is done:
	// they arrive after River's completer has persisted the job's state,
	// which is what River's benchmark measures too. The channel holds every
	// event of the run so none is dropped while the loop is busy.
	events, unsubscribe := riverCompletions(client, o.tasks)
	defer unsubscribe()
	var done atomic.Int64
	stopProgress := progress(log, "river: completed", &done, o.tasks)
	defer stopProgress()
	cpu := startCPU(ctx, env.pool, riverAppName(env.schema), os.Getpid())
	start := time.Now()
	if err := client.Start(ctx); err != nil {
		return fmt.Errorf("start client: %w", err)
	}
	for done.Load() < int64(o.tasks) {
		select {
		case <-ctx.Done():
			return fmt.Errorf("after %d of %d jobs: %w", done.Load(), o.tasks, ctx.Err())
		case ev, ok := <-events:
			if err := riverCompleted(ev, ok); err != nil {
				return err
			}
			done.Add(1)
		}
	}
	res.elapsed = time.Since(start)
	cpu.report(ctx, log, o.tasks)
	return nil
}

// riverInsert inserts o.tasks jobs as River's benchmark does, in batches.
func riverInsert(ctx context.Context, client *river.Client[pgx.Tx], o *options, log io.Writer) error {
	var inserted atomic.Int64
	stopProgress := progress(log, "river: inserted", &inserted, o.tasks)
	params := make([]river.InsertManyParams, 0, riverInsertBatch)
	for i := 0; i < o.tasks; {
		params = params[:0]
		for ; i < o.tasks && len(params) < riverInsertBatch; i++ {
			params = append(params, river.InsertManyParams{Args: noopArgs{Num: i}})
		}
		n, err := client.InsertManyFast(ctx, params)
		if err != nil {
			stopProgress()
			return fmt.Errorf("insert jobs: %w", err)
		}
		inserted.Add(int64(n))
	}
	stopProgress()
	fmt.Fprintf(log, "river: inserted %d jobs\n", o.tasks)
	return nil
}

// riverCompletions returns the completion events of client, in a channel
// that holds every event of a burn of n jobs.
func riverCompletions(client *river.Client[pgx.Tx], n int) (<-chan *river.Event, func()) {
	return client.SubscribeConfig(&river.SubscribeConfig{
		ChanSize: max(n, 1000),
		Kinds:    []river.EventKind{river.EventKindJobCompleted, river.EventKindJobFailed, river.EventKindJobCancelled},
	})
}

// riverCompleted counts a completion event; any other outcome of a no-op
// job is an error.
func riverCompleted(ev *river.Event, ok bool) error {
	if !ok {
		return errors.New("event subscription closed")
	}
	if ev.Kind != river.EventKindJobCompleted {
		return fmt.Errorf("job %d: unexpected event %s", ev.Job.ID, ev.Kind)
	}
	return nil
}

func riverLatency(ctx context.Context, client *river.Client[pgx.Tx], started <-chan workStart, o *options, log io.Writer, res *result) error {
	if err := client.Start(ctx); err != nil {
		return fmt.Errorf("start client: %w", err)
	}
	// One uncounted job first, so the figures are of a running client, not of
	// its first fetch after start.
	if _, err := riverOne(ctx, client, started, -1); err != nil {
		return fmt.Errorf("warm-up: %w", err)
	}
	var done atomic.Int64
	stopProgress := progress(log, "river: latency samples", &done, o.tasks)
	defer stopProgress()
	res.latencies = make([]time.Duration, 0, o.tasks)
	start := time.Now()
	for i := range o.tasks {
		lat, err := riverOne(ctx, client, started, i)
		if err != nil {
			return fmt.Errorf("job %d of %d: %w", i+1, o.tasks, err)
		}
		res.latencies = append(res.latencies, lat)
		done.Add(1)
	}
	res.elapsed = time.Since(start)
	return nil
}

// riverOne inserts one job and returns the time from before the insert to
// the worker's start. It does not wait for the job's completion event: River
// persists completions in batches, tens to hundreds of milliseconds later, and
// that delay is not part of dispatch latency (the run's end checks every job
// completed).
func riverOne(ctx context.Context, client *river.Client[pgx.Tx], started <-chan workStart, num int) (time.Duration, error) {
	t0 := time.Now()
	ins, err := client.Insert(ctx, noopArgs{Num: num}, nil)
	if err != nil {
		return 0, fmt.Errorf("insert: %w", err)
	}
	for {
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("waiting for the worker: %w", ctx.Err())
		case s := <-started:
			if s.id == ins.Job.ID {
				return max(s.at.Sub(t0), time.Nanosecond), nil
			}
		}
	}
}
