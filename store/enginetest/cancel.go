package enginetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/evertask/evertask"
	"github.com/evertask/evertask/store"
)

func testCancel(t *testing.T, newStore NewStore) {
	t.Run("BeforeStart", func(t *testing.T) {
		t.Parallel()
		f := setup(t, newStore, nil, nil, nil).start()
		id := f.dispatch(Job{N: 1}, &evertask.DispatchOpts{Delay: 100 * time.Millisecond})
		if err := f.eng.Cancel(context.Background(), id); err != nil {
			t.Fatal(err)
		}
		never(t, 250*time.Millisecond, "a cancelled delayed task ran", func() bool { return f.rec.callsOf(1) > 0 })
		if row := f.get(id); row.Status != store.StatusCancelled {
			t.Errorf("status %s, want Cancelled", row.Status)
		}
	})
	t.Run("DuringExecution", func(t *testing.T) {
		t.Parallel()
		f, id := cancelWhileRunning(t, newStore)
		f.waitStatus(id, store.StatusCancelled)
		waitFor(t, 2*time.Second, "OnError", func() bool { return len(f.rec.errors()) == 1 })
		if !errors.Is(f.rec.errors()[0], context.Canceled) {
			t.Errorf("OnError got %v, want context.Canceled", f.rec.errors()[0])
		}
		never(t, 50*time.Millisecond, "cancelled task left Cancelled", func() bool { return f.get(id).Status != store.StatusCancelled })
	})
	t.Run("HandlerIgnoresCancelAndSucceeds", func(t *testing.T) {
		t.Parallel()
		running, release := make(chan struct{}), make(chan struct{})
		rec := newRecorder(func(ctx context.Context, j Job) error {
			close(running)
			<-release
			return nil
		})
		f := setup(t, newStore, nil, rec, nil).start()
		id := f.dispatch(Job{N: 1}, nil)
		<-running
		if err := f.eng.Cancel(context.Background(), id); err != nil {
			t.Fatal(err)
		}
		close(release)
		never(t, 100*time.Millisecond, "Completed overwrote Cancelled (bug 37)", func() bool {
			return f.get(id).Status != store.StatusCancelled
		})
		f.rec.mu.Lock()
		defer f.rec.mu.Unlock()
		if f.rec.completed != 0 {
			t.Error("OnCompleted ran for a cancelled task")
		}
	})
	t.Run("DuringRetryDelay", func(t *testing.T) {
		t.Parallel()
		failed := make(chan struct{}, 1)
		rec := newRecorder(func(context.Context, Job) error {
			select {
			case failed <- struct{}{}:
			default:
			}
			return errBoom
		})
		f := setup(t, newStore, &evertask.Config{Retry: evertask.Linear(3, time.Hour)}, rec, nil).start()
		id := f.dispatch(Job{N: 1}, nil)
		<-failed
		if err := f.eng.Cancel(context.Background(), id); err != nil {
			t.Fatal(err)
		}
		f.waitStatus(id, store.StatusCancelled)
		if c := rec.callsOf(1); c != 1 {
			t.Errorf("ran %d times, want 1", c)
		}
	})
	t.Run("FinishedIsNotOverwritten", func(t *testing.T) {
		t.Parallel()
		f := setup(t, newStore, nil, nil, nil).start()
		id := f.dispatch(Job{N: 1}, nil)
		f.waitStatus(id, store.StatusCompleted)
		if err := f.eng.Cancel(context.Background(), id); !errors.Is(err, evertask.ErrTaskFinished) {
			t.Errorf("Cancel of a completed task: %v, want ErrTaskFinished", err)
		}
		if row := f.get(id); row.Status != store.StatusCompleted {
			t.Errorf("status %s, want Completed kept", row.Status)
		}
	})
	t.Run("UnknownIDIsNotFound", func(t *testing.T) {
		t.Parallel()
		f := setup(t, newStore, nil, nil, nil).start()
		id := f.dispatch(Job{N: 1}, nil)
		id[15] ^= 0xff
		if err := f.eng.Cancel(context.Background(), id); !errors.Is(err, evertask.ErrNotFound) {
			t.Errorf("Cancel of unknown id: %v, want ErrNotFound", err)
		}
	})
	t.Run("RacesShutdownAsCancelled", func(t *testing.T) {
		t.Parallel()
		f, id := cancelWhileRunning(t, newStore)
		ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
		defer cancel()
		_ = f.eng.Shutdown(ctx)
		if row := f.get(id); row.Status != store.StatusCancelled {
			t.Errorf("status %s, want Cancelled (a user cancel is not a shutdown: bug 36)", row.Status)
		}
	})
}

// cancelWhileRunning starts an engine whose handler waits for its context,
// dispatches one task and cancels it once its handler runs.
func cancelWhileRunning(t *testing.T, newStore NewStore) (*fixture, uuid.UUID) {
	t.Helper()
	running := make(chan struct{})
	rec := newRecorder(func(ctx context.Context, j Job) error {
		close(running)
		<-ctx.Done()
		return ctx.Err()
	})
	f := setup(t, newStore, nil, rec, nil).start()
	id := f.dispatch(Job{N: 1}, nil)
	<-running
	if err := f.eng.Cancel(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	return f, id
}

func testShutdown(t *testing.T, newStore NewStore) {
	t.Run("GraceLetsHandlersFinish", func(t *testing.T) {
		t.Parallel()
		running := make(chan struct{})
		rec := newRecorder(func(ctx context.Context, j Job) error {
			close(running)
			time.Sleep(50 * time.Millisecond)
			return nil
		})
		f := setup(t, newStore, nil, rec, nil).start()
		id := f.dispatch(Job{N: 1}, nil)
		<-running
		if err := f.eng.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
		if row := f.get(id); row.Status != store.StatusCompleted {
			t.Errorf("status %s, want Completed", row.Status)
		}
		if _, err := f.eng.Dispatch(context.Background(), Job{N: 2}, nil); !errors.Is(err, evertask.ErrShutdown) {
			t.Errorf("Dispatch after Shutdown: %v, want ErrShutdown", err)
		}
		if err := f.eng.Shutdown(context.Background()); err != nil {
			t.Errorf("second Shutdown: %v", err)
		}
	})
	t.Run("DeadlineStopsHandlersRecoverably", func(t *testing.T) {
		t.Parallel()
		st := newStore(t)
		running := make(chan struct{}, 10)
		rec := newRecorder(func(ctx context.Context, j Job) error {
			running <- struct{}{}
			<-ctx.Done()
			return ctx.Err()
		})
		f := setupOn(t, st, &evertask.Config{Workers: 1}, rec, nil).start()
		busy := f.dispatch(Job{N: 1}, nil)
		waiting := f.dispatch(Job{N: 2}, nil)
		timed := f.dispatch(Job{N: 3}, &evertask.DispatchOpts{Delay: time.Hour})
		<-running
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		if err := f.eng.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Shutdown past its deadline: %v, want DeadlineExceeded", err)
		}
		now := time.Now()
		for id, want := range map[uuid.UUID]store.Status{busy: store.StatusServiceStopped, waiting: store.StatusQueued, timed: store.StatusWaitingQueue} {
			row := f.get(id)
			if row.Status != want || !row.Recoverable(now) {
				t.Errorf("task %v: %s (recoverable %v), want %s and recoverable", id, row.Status, row.Recoverable(now), want)
			}
		}
		// The next engine on the same store finishes what was left.
		done := newRecorder(nil)
		g := setupOn(t, st, nil, done, nil).start()
		g.waitStatus(busy, store.StatusCompleted)
		g.waitStatus(waiting, store.StatusCompleted)
	})
}
