package enginetest

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/evertask/evertask"
	"github.com/evertask/evertask/inspect"
	"github.com/evertask/evertask/store"
)

// quietWindow is how long the pause checks watch for a task that must not
// start: many poll intervals of fastCluster (50 ms) and of a lone engine.
const quietWindow = 400 * time.Millisecond

// testQueuePause checks that a paused queue starts nothing on any node, that
// its tasks are kept and run after the resume, and that the pause outlives
// a restart. Pauses are written through package inspect, as an operator's
// tool writes them.
func testQueuePause(t *testing.T, newStore NewStore) {
	probe := newStore(t)
	if _, ok := probe.(store.QueuePauser); !ok {
		t.Skipf("%T does not implement store.QueuePauser", probe)
	}
	_, cluster := probe.(store.Cluster)
	cfg := func(node string, workers int) *evertask.Config {
		c := &evertask.Config{Workers: workers,
			Queues: []evertask.QueueConfig{{Name: "other", Workers: 1}}}
		if cluster {
			c.Cluster = fastCluster(node)
		} else {
			c.Cluster.PollInterval = 50 * time.Millisecond
		}
		return c
	}
	pausedOn := func(t *testing.T, what string, nodes ...*fixture) {
		t.Helper()
		waitFor(t, 10*time.Second, what, func() bool {
			for _, n := range nodes {
				if !n.eng.QueuePaused(evertask.DefaultQueue) {
					return false
				}
			}
			return true
		})
	}
	resumedOn := func(t *testing.T, nodes ...*fixture) {
		t.Helper()
		waitFor(t, 10*time.Second, "every node to see the resume", func() bool {
			for _, n := range nodes {
				if n.eng.QueuePaused(evertask.DefaultQueue) {
					return false
				}
			}
			return true
		})
	}

	t.Run("PausedQueueStartsNothingOnAnyNode", func(t *testing.T) {
		t.Parallel()
		st := newStore(t)
		if !cluster {
			t.Skip("two engines share a store only with store.Cluster; the other checks cover a lone engine")
		}
		in := inspect.New(st, nil)
		rec := newRecorder(nil)
		a := setupOn(t, st, cfg("a", 2), rec, nil).start()
		b := setupOn(t, st, cfg("b", 2), rec, nil).start()
		began := time.Now()
		if err := in.PauseQueue(t.Context(), evertask.DefaultQueue); err != nil {
			t.Fatal(err)
		}
		pausedOn(t, "both nodes to see the pause", a, b)
		t.Logf("pause seen by both nodes after %s (notifier: %v)", time.Since(began), hasNotifier(st))

		var ids []uuid.UUID
		for n := range 10 {
			ids = append(ids, []*fixture{a, b}[n%2].dispatch(Job{N: n}, nil))
		}
		// The queue that is not paused runs meanwhile: the nodes are alive.
		other := a.dispatch(Job{N: 100}, &evertask.DispatchOpts{Queue: "other"})
		a.waitStatus(other, store.StatusCompleted)
		time.Sleep(quietWindow) // a window in which nothing may start
		for n := range 10 {
			if c := rec.callsOf(n); c != 0 {
				t.Fatalf("task %d of the paused queue started %d times", n, c)
			}
		}
		for _, id := range ids {
			if st := a.get(id).Status; st != store.StatusWaitingQueue && st != store.StatusQueued {
				t.Errorf("task %s of the paused queue is %s, want it waiting", id, st)
			}
		}
		qs, err := in.Queues(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		for _, q := range qs {
			if q.Name == evertask.DefaultQueue && (!q.Paused || q.Workers != 4 || len(q.Nodes) != 2) {
				t.Errorf("Queues shows %+v for the paused default queue, want paused, 4 workers on 2 nodes", q)
			}
		}

		if err := in.ResumeQueue(t.Context(), evertask.DefaultQueue); err != nil {
			t.Fatal(err)
		}
		for _, id := range ids {
			a.waitStatus(id, store.StatusCompleted)
		}
	})

	t.Run("PauseLandsWhileTasksRun", func(t *testing.T) {
		t.Parallel()
		st := newStore(t)
		in := inspect.New(st, nil)
		started := make(chan int, 100)
		release := make(chan struct{})
		rec := newRecorder(func(ctx context.Context, j Job) error {
			started <- j.N
			if j.N == 0 {
				<-release
			}
			return nil
		})
		a := setupOn(t, st, cfg("a", 1), rec, nil).start()
		first := a.dispatch(Job{N: 0}, nil)
		if n := <-started; n != 0 {
			t.Fatalf("task %d started first, want 0", n)
		}
		// Tasks behind the running one: prefetched, or in the store.
		var ids []uuid.UUID
		for n := 1; n <= 5; n++ {
			ids = append(ids, a.dispatch(Job{N: n}, nil))
		}
		if err := in.PauseQueue(t.Context(), evertask.DefaultQueue); err != nil {
			t.Fatal(err)
		}
		pausedOn(t, "the node to see the pause", a)
		close(release) // the running task finishes
		a.waitStatus(first, store.StatusCompleted)
		time.Sleep(quietWindow)
		select {
		case n := <-started:
			t.Fatalf("task %d started on the paused queue", n)
		default:
		}
		if err := in.ResumeQueue(t.Context(), evertask.DefaultQueue); err != nil {
			t.Fatal(err)
		}
		for _, id := range ids {
			a.waitStatus(id, store.StatusCompleted)
		}
	})

	t.Run("PauseOutlivesARestart", func(t *testing.T) {
		t.Parallel()
		st := newStore(t)
		in := inspect.New(st, nil)
		if err := in.PauseQueue(t.Context(), evertask.DefaultQueue); err != nil {
			t.Fatal(err)
		}
		rec := newRecorder(nil)
		first := setupOn(t, st, cfg("first", 2), rec, nil).start()
		pausedOn(t, "the first engine to start paused", first)
		id := first.dispatch(Job{N: 1}, nil)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := first.eng.Shutdown(ctx); err != nil {
			t.Fatal(err)
		}
		second := setupOn(t, st, cfg("second", 2), rec, nil).start()
		if !second.eng.QueuePaused(evertask.DefaultQueue) {
			t.Fatalf("the restarted engine does not hold the default queue paused")
		}
		time.Sleep(quietWindow)
		if n := rec.totalCalls(); n != 0 {
			t.Fatalf("%d handler calls across the restart of a paused queue", n)
		}
		if err := in.ResumeQueue(t.Context(), evertask.DefaultQueue); err != nil {
			t.Fatal(err)
		}
		resumedOn(t, second)
		second.waitStatus(id, store.StatusCompleted)
	})
}

func hasNotifier(st store.Store) bool {
	_, ok := st.(store.Notifier)
	return ok
}

// RunQueuePause runs the queue pause checks alone, for stores the whole
// suite does not cover (a store with store.QueuePauser and no
// store.Cluster, whose engine runs alone and parks paused tasks).
func RunQueuePause(t *testing.T, newStore NewStore) { testQueuePause(t, newStore) }
