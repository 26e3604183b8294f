package evertask_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/evertask/evertask"
	"github.com/evertask/evertask/store"
	"github.com/evertask/evertask/store/memstore"
)

// soloStore hides the memory store's optional capabilities: the engine
// runs as the only process on it, with in-memory queues and no fetcher.
type soloStore struct{ store.Store }

// TestDispatchOverflow checks a store without store.Cluster: a dispatch
// into a full queue is acknowledged once persisted and waits in the
// queue's overflow; once the overflow holds a buffer's worth too, the next
// dispatch waits before it writes, and its ctx ending leaves nothing
// written.
func TestDispatchOverflow(t *testing.T) {
	t.Parallel()
	st := soloStore{memstore.New()}
	release, running := make(chan struct{}), make(chan struct{}, 1)
	eng, err := evertask.New(st, &evertask.Config{Logger: quiet(), Queues: []evertask.QueueConfig{{Name: "q", Workers: 1, Capacity: 2, WhenFull: evertask.FullQueueWait}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = eng.Shutdown(ctx)
	})
	err = evertask.Register[noteJob](eng, evertask.HandlerFunc[noteJob](func(ctx context.Context, j noteJob) error {
		if j.Note == "block" {
			running <- struct{}{}
			select {
			case <-release:
			case <-ctx.Done():
			}
		}
		return nil
	}), &evertask.HandlerOpts{Queue: "q"})
	if err != nil {
		t.Fatal(err)
	}
	if err := eng.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	dispatch := func(ctx context.Context, note string) (uuid.UUID, error) {
		return eng.Dispatch(ctx, noteJob{Note: note}, &evertask.DispatchOpts{Queue: "q"})
	}
	var ids []uuid.UUID
	id, err := dispatch(context.Background(), "block")
	if err != nil {
		t.Fatal(err)
	}
	ids = append(ids, id)
	<-running
	// 2 in the buffer, then 2 in the overflow: acknowledged at once (the
	// deadline only bounds a wrong wait).
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for range 4 {
		id, err := dispatch(ctx, "")
		if err != nil {
			t.Fatalf("dispatch %d into a full buffer: %v, want it acknowledged once persisted", len(ids), err)
		}
		ids = append(ids, id)
		if row, err := st.Get(context.Background(), id); err != nil || row.Status != store.StatusQueued {
			t.Fatalf("acknowledged task: %v, %v; want it persisted Queued", row, err)
		}
	}
	// Buffer and overflow full: back-pressure, before anything is written.
	short, cancelShort := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancelShort()
	if _, err := dispatch(short, "late"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("dispatch into a full buffer and overflow: %v, want the ctx's DeadlineExceeded", err)
	}
	if n := rows(t, st); n != len(ids) {
		t.Errorf("%d rows, want %d: the dispatch that gave up wrote nothing", n, len(ids))
	}
	// A dispatch waiting for room goes on once a worker takes a task.
	waited := make(chan error, 1)
	go func() {
		_, err := dispatch(context.Background(), "waited")
		waited <- err
	}()
	close(release)
	if err := <-waited; err != nil {
		t.Errorf("dispatch that waited for room: %v", err)
	}
	for _, id := range ids {
		deadline := time.Now().Add(5 * time.Second)
		for {
			row, err := st.Get(context.Background(), id)
			if err == nil && row.Status == store.StatusCompleted {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("task %s: %v, %v; want Completed", id, row, err)
			}
			time.Sleep(2 * time.Millisecond)
		}
	}
}
