package enginetest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/evertask/evertask"
	"github.com/evertask/evertask/store"
)

// NewStore returns a fresh, empty store for one test, isolated from every
// other store it returns (its own schema, database, key prefix or file),
// released with t.Cleanup. Tests that model a restart or several nodes reuse
// one store across engines; they never need a second handle on its data.
type NewStore func(t *testing.T) store.Store

// Run runs every engine behaviour test, in parallel subtests, against stores
// made by newStore. Groups that need an optional capability the store lacks
// (store.Cluster, store.AttemptStore, store.QueuePauser) are skipped with the
// reason.
func Run(t *testing.T, newStore NewStore) {
	tests := []struct {
		name string
		fn   func(t *testing.T, newStore NewStore)
	}{
		{"Lifecycle", testLifecycle},
		{"DelayedAndScheduled", testDelayed},
		{"Retry", testRetry},
		{"Timeout", testTimeout},
		{"Panic", testPanic},
		{"Cancel", testCancel},
		{"Shutdown", testShutdown},
		{"Recovery", testRecovery},
		{"RecoveryBacklog", testRecoveryBacklog},
		{"FullQueue", testFullQueue},
		{"TaskKeys", testTaskKeys},
		{"Registration", testRegistration},
		{"LogCapture", testLogCapture},
		{"Events", testEvents},
		{"EventsExactlyOnce", testEventsExactlyOnce},
		{"RecoveredOnce", testRecoveredOnce},
		{"AuditLevels", testAuditLevels},
		{"History", testHistory},
		{"DispatchMany", testDispatchMany},
		{"Recurring", testRecurring},
		{"Cluster", testCluster},
		{"QueuePause", testQueuePause},
		{"Inspect", testInspect},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, newStore)
		})
	}
}

// Job is the task type of most tests: it runs Behaviour, by name, from the
// registry of its fixture.
type Job struct {
	N    int    `json:"n"`
	Note string `json:"note,omitempty"`
}

// Kind implements evertask.Task.
func (Job) Kind() string { return "enginetest.job" }

// Other is a second task type, for queue tests.
type Other struct {
	N int `json:"n"`
}

// Kind implements evertask.Task.
func (Other) Kind() string { return "enginetest.other" }

// recorder is a handler whose behaviour a test sets, with hooks that record
// their calls.
type recorder struct {
	run func(ctx context.Context, j Job) error

	mu        sync.Mutex
	calls     map[int]int // executions per Job.N
	started   int
	completed int
	errs      []error
	retries   []int
}

func newRecorder(run func(ctx context.Context, j Job) error) *recorder {
	if run == nil {
		run = func(context.Context, Job) error { return nil }
	}
	return &recorder{run: run, calls: map[int]int{}}
}

func (r *recorder) Handle(ctx context.Context, j Job) error {
	r.mu.Lock()
	r.calls[j.N]++
	r.mu.Unlock()
	return r.run(ctx, j)
}

func (r *recorder) OnStarted(context.Context, Job) {
	r.mu.Lock()
	r.started++
	r.mu.Unlock()
}

func (r *recorder) OnCompleted(context.Context, Job) {
	r.mu.Lock()
	r.completed++
	r.mu.Unlock()
}

func (r *recorder) OnError(_ context.Context, _ Job, err error) {
	r.mu.Lock()
	r.errs = append(r.errs, err)
	r.mu.Unlock()
}

func (r *recorder) OnRetry(_ context.Context, _ Job, attempt int, _ error, _ time.Duration) {
	r.mu.Lock()
	r.retries = append(r.retries, attempt)
	r.mu.Unlock()
}

func (r *recorder) callsOf(n int) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.calls[n]
}

func (r *recorder) totalCalls() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	total := 0
	for _, c := range r.calls {
		total += c
	}
	return total
}

func (r *recorder) errors() []error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]error(nil), r.errs...)
}

// fixture is one engine over one store.
type fixture struct {
	t     *testing.T
	store store.Store
	eng   *evertask.Engine
	rec   *recorder
}

// setup builds an engine over a fresh store with rec as the Job handler.
func setup(t *testing.T, newStore NewStore, cfg *evertask.Config, rec *recorder, hopts *evertask.HandlerOpts) *fixture {
	t.Helper()
	return setupOn(t, newStore(t), cfg, rec, hopts)
}

func setupOn(t *testing.T, st store.Store, cfg *evertask.Config, rec *recorder, hopts *evertask.HandlerOpts) *fixture {
	t.Helper()
	if cfg == nil {
		cfg = &evertask.Config{}
	}
	if cfg.Logger == nil {
		cfg.Logger = quietLogger()
	}
	if cfg.Retry == nil {
		cfg.Retry = evertask.NoRetry()
	}
	eng, err := evertask.New(st, cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if rec == nil {
		rec = newRecorder(nil)
	}
	if err := evertask.Register[Job](eng, rec, hopts); err != nil {
		t.Fatalf("Register: %v", err)
	}
	f := &fixture{t: t, store: st, eng: eng, rec: rec}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = eng.Shutdown(ctx)
	})
	return f
}

func (f *fixture) start() *fixture {
	f.t.Helper()
	if err := f.eng.Start(context.Background()); err != nil {
		f.t.Fatalf("Start: %v", err)
	}
	return f
}

func (f *fixture) dispatch(task evertask.Task, opts *evertask.DispatchOpts) uuid.UUID {
	f.t.Helper()
	id, err := f.eng.Dispatch(context.Background(), task, opts)
	if err != nil {
		f.t.Fatalf("Dispatch: %v", err)
	}
	return id
}

func (f *fixture) get(id uuid.UUID) *store.Task {
	f.t.Helper()
	row, err := f.store.Get(context.Background(), id)
	if err != nil {
		f.t.Fatalf("Get %s: %v", id, err)
	}
	return row
}

// waitStatus waits until the row reaches status.
func (f *fixture) waitStatus(id uuid.UUID, status store.Status) *store.Task {
	f.t.Helper()
	var row *store.Task
	waitFor(f.t, 10*time.Second, fmt.Sprintf("task %s to be %s", id, status), func() bool {
		r, err := f.store.Get(context.Background(), id)
		if err != nil {
			return false
		}
		row = r
		return r.Status == status
	})
	return row
}

func (f *fixture) statusAudits(id uuid.UUID) []store.Status {
	f.t.Helper()
	audits, err := f.store.StatusAudits(context.Background(), id)
	if err != nil {
		f.t.Fatalf("StatusAudits: %v", err)
	}
	out := make([]store.Status, len(audits))
	for i, a := range audits {
		out[len(audits)-1-i] = a.Status // oldest first
	}
	return out
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// never asserts cond stays false for d (used sparingly: it costs d).
func never(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if cond() {
			t.Fatalf("%s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

var errBoom = errors.New("boom")

// counter counts calls safely.
type counter struct{ n atomic.Int64 }

func (c *counter) inc() int64 { return c.n.Add(1) }
func (c *counter) get() int64 { return c.n.Load() }
