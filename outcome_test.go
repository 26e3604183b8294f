package evertask_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/evertask/evertask"
	"github.com/evertask/evertask/store"
	"github.com/evertask/evertask/store/memstore"
)

// gatedStore holds every write of a Completed outcome until open is closed.
type gatedStore struct {
	*memstore.Store
	open    chan struct{}
	waiting chan uuid.UUID // one send per held write
}

// hold reports each Completed outcome of a write, then holds the write;
// the outcomes may come one per call or several in one batch.
func (g *gatedStore) hold(ctx context.Context, ps []store.TransitionParams) {
	held := false
	for _, p := range ps {
		if p.To == store.StatusCompleted {
			g.waiting <- p.ID
			held = true
		}
	}
	if held {
		select {
		case <-g.open:
		case <-ctx.Done():
		}
	}
}

// MaxConcurrentWrites lets the engine write around the held outcomes (a
// store without it gets one write at a time, and everything would queue
// behind the first held one).
func (g *gatedStore) MaxConcurrentWrites() int { return 16 }

func (g *gatedStore) Transition(ctx context.Context, p store.TransitionParams) (bool, error) {
	g.hold(ctx, []store.TransitionParams{p})
	return g.Store.Transition(ctx, p)
}

func (g *gatedStore) TransitionMany(ctx context.Context, ps []store.TransitionParams) ([]bool, error) {
	g.hold(ctx, ps)
	return g.Store.TransitionMany(ctx, ps)
}

type gateJob struct {
	N int `json:"n"`
}

func (gateJob) Kind() string { return "test.gate" }

// A worker takes its next task while its last outcome is written; at most
// four outcomes per worker of a queue are in flight; an outcome is
// acknowledged (the row, the event) only once written; Shutdown waits for
// the writes.
func TestOutcomeWriteDoesNotHoldTheWorker(t *testing.T) {
	t.Parallel()
	st := &gatedStore{Store: memstore.New(), open: make(chan struct{}), waiting: make(chan uuid.UUID, 16)}
	eng, err := evertask.New(st, &evertask.Config{Workers: 1, Retry: evertask.NoRetry()})
	if err != nil {
		t.Fatal(err)
	}
	started := make(chan int, 16)
	if err := evertask.Register[gateJob](eng, evertask.HandlerFunc[gateJob](func(_ context.Context, j gateJob) error {
		started <- j.N
		return nil
	}), nil); err != nil {
		t.Fatal(err)
	}
	events, unsubscribe := eng.Subscribe(16)
	defer unsubscribe()
	if err := eng.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	var ids []uuid.UUID
	for n := 1; n <= 6; n++ {
		id, err := eng.Dispatch(t.Context(), gateJob{N: n}, nil)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	wantStart := func(n int) {
		t.Helper()
		select {
		case got := <-started:
			if got != n {
				t.Fatalf("task %d started, want %d", got, n)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("task %d did not start", n)
		}
	}
	// The one worker is free while its outcomes wait on the store: tasks
	// 1 to 4 have theirs held, and task 5 runs.
	for n := 1; n <= 5; n++ {
		wantStart(n)
	}
	held := map[uuid.UUID]bool{}
	for range 4 {
		select {
		case id := <-st.waiting:
			held[id] = true
		case <-time.After(5 * time.Second):
			t.Fatalf("only %d outcomes reached the store", len(held))
		}
	}
	for _, id := range ids[:4] {
		if !held[id] {
			t.Fatalf("held outcomes %v, want those of tasks 1 to 4", held)
		}
	}
	// Task 5's outcome waits for a slot, and the worker with it: a sixth
	// task would start within milliseconds if it did not.
	select {
	case n := <-started:
		t.Fatalf("task %d started with five outcomes of a one-worker queue unwritten", n)
	case <-time.After(200 * time.Millisecond):
	}
	for i, id := range ids[:4] {
		if row, err := st.Get(t.Context(), id); err != nil || row.Status != store.StatusInProgress {
			t.Fatalf("task %d while its outcome is held: %v, %v; want InProgress", i+1, row, err)
		}
	}
	select {
	case ev := <-events:
		if ev.Type == evertask.EventCompleted {
			t.Fatalf("EventCompleted for %s before its outcome was written", ev.TaskID)
		}
	default:
	}

	shutdown := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		shutdown <- eng.Shutdown(ctx)
	}()
	select {
	case err := <-shutdown:
		t.Fatalf("Shutdown returned (%v) with an outcome unwritten", err)
	case <-time.After(200 * time.Millisecond):
	}
	close(st.open)
	if err := <-shutdown; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	for i, id := range ids[:5] {
		if row, err := st.Get(context.Background(), id); err != nil || row.Status != store.StatusCompleted {
			t.Errorf("task %d after Shutdown: %v, %v; want Completed", i+1, row, err)
		}
	}
}

// hookedJob's handler blocks in OnCompleted of task 1 until released.
type hookedJob struct {
	N int `json:"n"`
}

func (hookedJob) Kind() string { return "test.hooked" }

type hookedHandler struct {
	inHook, release chan struct{}
}

func (h *hookedHandler) Handle(context.Context, hookedJob) error { return nil }

func (h *hookedHandler) OnCompleted(_ context.Context, j hookedJob) {
	if j.N == 1 {
		close(h.inHook)
		<-h.release
	}
}

// Once a keyed task's row reads Completed, a dispatch of its key replaces
// it, even while its OnCompleted hook still runs. The delivery used to end
// only after the hooks, so such a dispatch was taken for one in flight and
// ignored.
func TestFinishedKeyedTaskReplacedDuringItsHook(t *testing.T) {
	t.Parallel()
	st := memstore.New()
	eng, err := evertask.New(st, &evertask.Config{Retry: evertask.NoRetry()})
	if err != nil {
		t.Fatal(err)
	}
	h := &hookedHandler{inHook: make(chan struct{}), release: make(chan struct{})}
	if err := evertask.Register[hookedJob](eng, h, nil); err != nil {
		t.Fatal(err)
	}
	if err := eng.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	defer eng.Shutdown(context.Background())
	defer close(h.release)
	first, err := eng.Dispatch(t.Context(), hookedJob{N: 1}, &evertask.DispatchOpts{Key: "k"})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-h.inHook:
	case <-time.After(5 * time.Second):
		t.Fatal("OnCompleted of the first task did not run")
	}
	if row, err := st.Get(t.Context(), first); err != nil || row.Status != store.StatusCompleted {
		t.Fatalf("first task in its hook: %v, %v; want Completed", row, err)
	}
	second, err := eng.Dispatch(t.Context(), hookedJob{N: 2}, &evertask.DispatchOpts{Key: "k"})
	if err != nil {
		t.Fatal(err)
	}
	if second == first {
		t.Fatal("the finished keyed task was taken for one in flight: dispatch ignored")
	}
}

// flakyBatches is a network-like store (outcomes overlap the next task,
// and are queued on the write lane without a goroutine each) whose first
// failing batches of Completed outcomes fail as unavailable.
type flakyBatches struct {
	*memstore.Store
	failures atomic.Int32 // batches still to fail
	failed   atomic.Int32
}

func (f *flakyBatches) MaxConcurrentWrites() int { return 4 }

func (f *flakyBatches) TransitionMany(ctx context.Context, ps []store.TransitionParams) ([]bool, error) {
	for _, p := range ps {
		if p.To == store.StatusCompleted && f.failures.Add(-1) >= 0 {
			f.failed.Add(1)
			return make([]bool, len(ps)), fmt.Errorf("%w: injected", store.ErrUnavailable)
		}
	}
	return f.Store.TransitionMany(ctx, ps)
}

// A queued outcome whose batch fails with a transient error is retried on
// the full path: every task still ends Completed in the store, and each
// sends exactly one EventCompleted.
func TestQueuedOutcomeSurvivesAFailedBatch(t *testing.T) {
	t.Parallel()
	st := &flakyBatches{Store: memstore.New()}
	st.failures.Store(3)
	eng, err := evertask.New(st, &evertask.Config{Workers: 4, Retry: evertask.NoRetry(), Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	if err := evertask.Register[gateJob](eng, noop[gateJob](), nil); err != nil {
		t.Fatal(err)
	}
	events, unsubscribe := eng.Subscribe(256)
	defer unsubscribe()
	if err := eng.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	const n = 40
	ids := map[uuid.UUID]bool{}
	for i := range n {
		id, err := eng.Dispatch(t.Context(), gateJob{N: i}, nil)
		if err != nil {
			t.Fatal(err)
		}
		ids[id] = true
	}
	completed := map[uuid.UUID]int{}
	deadline := time.After(20 * time.Second)
	for len(completed) < n {
		select {
		case ev := <-events:
			if ev.Type == evertask.EventCompleted {
				completed[ev.TaskID]++
			}
		case <-deadline:
			t.Fatalf("%d of %d tasks reported Completed after 20 s (%d batches failed)", len(completed), n, st.failed.Load())
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := eng.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if st.failed.Load() == 0 {
		t.Fatal("no batch failed: the test did not exercise the failure path")
	}
	for ev := range events {
		if ev.Type == evertask.EventCompleted {
			completed[ev.TaskID]++
		}
	}
	for id := range ids {
		if completed[id] != 1 {
			t.Errorf("task %s: %d EventCompleted, want 1", id, completed[id])
		}
		if row, err := st.Get(context.Background(), id); err != nil || row.Status != store.StatusCompleted {
			t.Errorf("task %s after Shutdown: %v, %v; want Completed", id, row, err)
		}
	}
}
