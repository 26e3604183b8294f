package enginetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/evertask/evertask"
	"github.com/evertask/evertask/store"
)

func testFullQueue(t *testing.T, newStore NewStore) {
	// Each case fills queue "q" (1 worker, buffer 1) with a blocked task and
	// a waiting one, then dispatches a third.
	fill := func(t *testing.T, when evertask.FullQueueBehavior) (*fixture, chan struct{}) {
		t.Helper()
		release := make(chan struct{})
		running := make(chan struct{}, 1)
		rec := newRecorder(func(ctx context.Context, j Job) error {
			if j.Note == "block" {
				running <- struct{}{}
				select {
				case <-release:
				case <-ctx.Done():
				}
			}
			return nil
		})
		f := setup(t, newStore, &evertask.Config{
			Queues: []evertask.QueueConfig{{Name: "q", Workers: 1, Capacity: 1, WhenFull: when}},
		}, rec, &evertask.HandlerOpts{Queue: "q"}).start()
		f.dispatch(Job{N: 100, Note: "block"}, nil)
		<-running
		f.dispatch(Job{N: 101}, nil) // fills the buffer
		return f, release
	}
	t.Run("ErrorKeepsTheTaskPersisted", func(t *testing.T) {
		t.Parallel()
		f, release := fill(t, evertask.FullQueueError)
		defer close(release)
		id, err := f.eng.Dispatch(context.Background(), Job{N: 1}, nil)
		if !errors.Is(err, evertask.ErrQueueFull) {
			t.Fatalf("Dispatch into a full queue: %v, want ErrQueueFull", err)
		}
		_ = id
		page, _ := f.store.List(context.Background(), store.Filter{Statuses: []store.Status{store.StatusWaitingQueue}})
		if len(page.Tasks) != 1 {
			t.Errorf("rows left WaitingQueue = %d, want 1 (recoverable at next start)", len(page.Tasks))
		}
	})
	t.Run("FallbackRunsOnDefault", func(t *testing.T) {
		t.Parallel()
		f, release := fill(t, evertask.FullQueueFallback)
		defer close(release)
		id := f.dispatch(Job{N: 1}, nil)
		f.waitStatus(id, store.StatusCompleted) // ran on "default" while "q" is stuck
	})
	t.Run("WaitHonoursTheDispatchContext", func(t *testing.T) {
		t.Parallel()
		f, release := fill(t, evertask.FullQueueWait)
		defer close(release)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
		defer cancel()
		if _, err := f.eng.Dispatch(ctx, Job{N: 1}, nil); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Dispatch: %v, want the ctx's DeadlineExceeded (bug 44)", err)
		}
		// The abandoned dispatch stays persisted and recoverable: Queued, or
		// WaitingQueue when the deadline already hit its Queued write.
		// In a cluster the node's fetcher may have claimed the buffered
		// task (InProgress, like the blocked one).
		statuses, want := []store.Status{store.StatusQueued, store.StatusWaitingQueue}, 2
		if _, ok := f.store.(store.Cluster); ok {
			statuses, want = append(statuses, store.StatusInProgress), 3
		}
		page, _ := f.store.List(context.Background(), store.Filter{Statuses: statuses})
		if len(page.Tasks) != want {
			t.Errorf("unfinished rows = %d, want %d: the blocked and buffered tasks and the abandoned dispatch", len(page.Tasks), want)
		}
	})
	t.Run("TimedTaskIntoFullQueueDoesNotBlockOthers", func(t *testing.T) {
		t.Parallel()
		f, release := fill(t, evertask.FullQueueWait)
		defer close(release)
		stuck := f.dispatch(Job{N: 1}, &evertask.DispatchOpts{Delay: time.Millisecond})
		// A timed task on another queue is not held up (bug 43).
		other := f.dispatch(Job{N: 2}, &evertask.DispatchOpts{Delay: 5 * time.Millisecond, Queue: evertask.DefaultQueue})
		f.waitStatus(other, store.StatusCompleted)
		if row := f.get(stuck); row.Status == store.StatusCompleted {
			t.Errorf("task on the stuck queue completed")
		}
	})
}
