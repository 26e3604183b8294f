package memstore_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/evertask/evertask/store"
	"github.com/evertask/evertask/store/memstore"
	"github.com/google/uuid"
)

func newTask(t testing.TB, key string) *store.Task {
	t.Helper()
	return &store.Task{
		ID: uuid.Must(uuid.NewV7()), CreatedAt: time.Now(), Kind: "test", Queue: "default",
		Key: key, Status: store.StatusWaitingQueue, Payload: []byte(`{"n":1}`),
	}
}

func TestCopiesInAndOut(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := memstore.New()
	task := newTask(t, "")
	if err := s.Persist(ctx, task); err != nil {
		t.Fatal(err)
	}
	task.Payload[0] = 'X' // the caller's slice is not the store's
	got, err := s.Get(ctx, task.ID)
	if err != nil {
		t.Fatal(err)
	}
	if string(got.Payload) != `{"n":1}` {
		t.Fatalf("store shares the persisted payload: %s", got.Payload)
	}
	got.Payload[0] = 'Y'
	got.Status = store.StatusFailed
	again, _ := s.Get(ctx, task.ID)
	if string(again.Payload) != `{"n":1}` || again.Status != store.StatusWaitingQueue {
		t.Fatalf("store shares the returned row: %+v", again)
	}
}

// TestConcurrentLifecycles runs whole lifecycles from many goroutines while
// others race on the same rows with conditional transitions; run with -race.
func TestConcurrentLifecycles(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := memstore.New()
	const workers, perWorker = 8, 200
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range perWorker {
				task := newTask(t, fmt.Sprintf("w%d-%d", w, i%50))
				err := s.Persist(ctx, task)
				if errors.Is(err, store.ErrDuplicateKey) {
					continue
				}
				if err != nil {
					t.Error(err)
					return
				}
				now := time.Now()
				for _, step := range []store.TransitionParams{
					{ID: task.ID, To: store.StatusQueued, From: []store.Status{store.StatusWaitingQueue}, Now: now},
					{ID: task.ID, To: store.StatusInProgress, From: []store.Status{store.StatusQueued}, Now: now},
					{ID: task.ID, To: store.StatusCompleted, From: []store.Status{store.StatusInProgress}, Now: now},
				} {
					if ok, err := s.Transition(ctx, step); !ok || err != nil {
						t.Errorf("%s to %s: %v, %v", task.ID, step.To, ok, err)
						return
					}
				}
				if i%10 == 0 {
					if _, err := s.List(ctx, store.Filter{Statuses: []store.Status{store.StatusCompleted}}); err != nil {
						t.Error(err)
					}
					if _, err := s.RetrievePending(ctx, store.PendingParams{Now: now}); err != nil {
						t.Error(err)
					}
				}
			}
		})
	}
	wg.Wait()
	counts, err := s.CountByStatus(ctx, store.CountParams{})
	if err != nil {
		t.Fatal(err)
	}
	// Each worker's keys repeat every 50 tasks, so 50 rows per worker made it.
	if counts[store.StatusCompleted] != workers*50 || len(counts) != 1 {
		t.Fatalf("counts %v, want %d Completed only", counts, workers*50)
	}
}

// TestRecycledRowsShareNothing removes rows (which the store recycles) and
// persists new ones, then checks that what callers got earlier is intact.
func TestRecycledRowsShareNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := memstore.New()
	var kept []*store.Task
	for i := range 200 {
		task := newTask(t, fmt.Sprintf("key-%d", i))
		task.Payload = []byte(fmt.Sprintf(`{"n":%d}`, i))
		if err := s.Persist(ctx, task); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Transition(ctx, store.TransitionParams{ID: task.ID, To: store.StatusFailed, Error: "e", Now: time.Now()}); err != nil {
			t.Fatal(err)
		}
		got, err := s.Get(ctx, task.ID)
		if err != nil {
			t.Fatal(err)
		}
		kept = append(kept, got)
		if err := s.Remove(ctx, task.ID); err != nil {
			t.Fatal(err)
		}
	}
	for i, got := range kept {
		if string(got.Payload) != fmt.Sprintf(`{"n":%d}`, i) || got.Key != fmt.Sprintf("key-%d", i) || got.Status != store.StatusFailed {
			t.Fatalf("task %d changed after its row was recycled: %+v", i, got)
		}
		if _, err := s.StatusAudits(ctx, got.ID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("removed task %d still has audits: %v", i, err)
		}
	}
}
