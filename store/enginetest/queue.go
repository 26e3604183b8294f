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
		// With store.Cluster a fetcher whose claim was sized before the
		// queue filled (its room is read, then the claim runs) may take a
		// task that was dispatched meanwhile: that dispatch is accepted,
		// the task is this node's claim and waits for the worker. The
		// fetcher then has no room, so the next dispatch must be refused.
		_, cluster := f.store.(store.Cluster)
		var err error
		for n := range 3 {
			var id uuid.UUID
			id, err = f.eng.Dispatch(context.Background(), Job{N: n}, nil)
			if err != nil {
				break
			}
			if row := f.get(id); !cluster || row.Status != store.StatusInProgress {
				t.Fatalf("Dispatch into a full queue: accepted, task %s; want ErrQueueFull (or, in a cluster, the task claimed by a fetcher)", row.Status)
			}
			t.Logf("dispatch %d was claimed by the fetcher; dispatching again", n)
		}
		if !errors.Is(err, evertask.ErrQueueFull) {
			t.Fatalf("Dispatch into a full queue: %v, want ErrQueueFull", err)
		}
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
	t.Run("WaitIsAcknowledgedOnceDurable", func(t *testing.T) {
		t.Parallel()
		f, release := fill(t, evertask.FullQueueWait)
		if _, ok := f.store.(store.Cluster); !ok {
			t.Skip("without store.Cluster a full queue takes an overflow first: see the root package's TestDispatchOverflow")
		}
		// The queue's buffer is full and its worker busy: the dispatch
		// returns once its row is committed, it does not wait for room
		// (a process killed in that wait would run a task whose Dispatch
		// never returned). The deadline only bounds a wrong wait.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		var ids []uuid.UUID
		for n := range 3 {
			id, err := f.eng.Dispatch(ctx, Job{N: n}, nil)
			if err != nil {
				t.Fatalf("Dispatch into a full queue: %v, want it acknowledged once persisted", err)
			}
			ids = append(ids, id)
		}
		for _, id := range ids {
			if row := f.get(id); row.Status != store.StatusQueued && row.Status != store.StatusInProgress {
				t.Errorf("task %s is %s, want persisted Queued (or claimed)", id, row.Status)
			}
		}
		close(release)
		for _, id := range ids {
			f.waitStatus(id, store.StatusCompleted)
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
