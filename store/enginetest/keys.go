package enginetest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/evertask/evertask"
	"github.com/evertask/evertask/store"
)

func testTaskKeys(t *testing.T, newStore NewStore) {
	t.Run("ConcurrentSameKeyOneRowOneExecution", func(t *testing.T) {
		t.Parallel()
		st := newStore(t)
		// Two engines on one store: the in-process key lock serializes each
		// engine's dispatches, the store's unique key decides between them.
		a := setupOn(t, st, nil, nil, nil)
		b := setupOn(t, st, nil, a.rec, nil)
		const n = 100
		ids := make([]uuid.UUID, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				eng := a.eng
				if i%2 == 1 {
					eng = b.eng
				}
				id, err := eng.Dispatch(context.Background(), Job{N: 7}, &evertask.DispatchOpts{Key: "same"})
				if err != nil {
					t.Errorf("Dispatch: %v", err)
				}
				ids[i] = id
			}()
		}
		wg.Wait() // before Start: nothing has run, so every dispatch saw a pending task
		for _, id := range ids {
			if id != ids[0] {
				t.Fatalf("ids differ: %s and %s", id, ids[0])
			}
		}
		a.start()
		b.start()
		a.waitStatus(ids[0], store.StatusCompleted)
		never(t, 100*time.Millisecond, "ran twice", func() bool { return a.rec.callsOf(7) > 1 })
		page, _ := st.List(context.Background(), store.Filter{Key: "same"})
		if len(page.Tasks) != 1 {
			t.Errorf("rows with the key = %d, want 1", len(page.Tasks))
		}
	})
	t.Run("PendingIsUpdatedInPlace", func(t *testing.T) {
		t.Parallel()
		f := setup(t, newStore, nil, nil, nil).start()
		first := f.dispatch(Job{N: 1}, &evertask.DispatchOpts{Key: "k", Delay: time.Hour})
		second := f.dispatch(Job{N: 2}, &evertask.DispatchOpts{Key: "k", Delay: 10 * time.Millisecond})
		if first != second {
			t.Fatalf("ids %s and %s: a pending keyed task is updated in place", first, second)
		}
		f.waitStatus(first, store.StatusCompleted)
		if f.rec.callsOf(1) != 0 || f.rec.callsOf(2) != 1 {
			t.Errorf("calls: old payload %d, new payload %d; want 0 and 1", f.rec.callsOf(1), f.rec.callsOf(2))
		}
	})
	t.Run("FinishedIsReplaced", func(t *testing.T) {
		t.Parallel()
		f := setup(t, newStore, nil, nil, nil).start()
		first := f.dispatch(Job{N: 1}, &evertask.DispatchOpts{Key: "k"})
		f.waitStatus(first, store.StatusCompleted)
		second := f.dispatch(Job{N: 2}, &evertask.DispatchOpts{Key: "k"})
		if first == second {
			t.Fatal("a finished keyed task was not replaced by a new row")
		}
		f.waitStatus(second, store.StatusCompleted)
		if _, err := f.store.Get(context.Background(), first); err == nil {
			t.Error("the finished row is still there")
		}
	})
	t.Run("RunningIsANoOp", func(t *testing.T) {
		t.Parallel()
		running, release := make(chan struct{}), make(chan struct{})
		rec := newRecorder(func(ctx context.Context, j Job) error {
			if j.N == 1 {
				close(running)
				<-release
			}
			return nil
		})
		f := setup(t, newStore, nil, rec, nil).start()
		first := f.dispatch(Job{N: 1}, &evertask.DispatchOpts{Key: "k"})
		<-running
		second := f.dispatch(Job{N: 2}, &evertask.DispatchOpts{Key: "k"})
		close(release)
		if first != second {
			t.Errorf("dispatch of a running key returned %s, want the running %s", second, first)
		}
		f.waitStatus(first, store.StatusCompleted)
		if rec.callsOf(2) != 0 {
			t.Error("the no-op dispatch ran")
		}
	})
}
