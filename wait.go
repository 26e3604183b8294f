package evertask

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/evertask/evertask/store"
)

// The polling of Wait: from waitPollMin, doubling up to waitPollMax. It is
// what finds an outcome another node wrote; an outcome this engine writes
// wakes the waiter at once.
const (
	waitPollMin = 10 * time.Millisecond
	waitPollMax = 500 * time.Millisecond
)

// Wait blocks until the task reaches a final status and returns its row:
// Completed, Failed or Cancelled, for a recurring task once its series
// ended (ran out, was cancelled, or failed for good). ServiceStopped is not
// final: the task runs again. It works for a task that runs on any node of
// the store: an outcome this engine writes wakes it at once, one written
// elsewhere is found by reading the row (every 10 ms at first, then less
// often, at least every 500 ms). When this engine ran the task, Wait returns
// once its captured logs are stored too; the logs of a task another node
// ran may land just after. It returns ctx.Err() when ctx ends first,
// and ErrNotFound when no row has the id (or the row was removed while it
// waited). A store that is briefly unavailable does not end the wait.
func (e *Engine) Wait(ctx context.Context, id uuid.UUID) (*store.Task, error) {
	wake, done := e.waiters.add(id)
	defer done()
	delay := waitPollMin
	for {
		t, err := e.store.Get(ctx, id)
		switch {
		case ctx.Err() != nil:
			return nil, ctx.Err()
		case err == nil && final(t, e.now()):
			// The row is written before the execution's logs: when this
			// engine ran it, wait for the rest of its delivery too, so the
			// logs are there for a read right after.
			if !e.deliveries.waitEnd(ctx, id) {
				return nil, ctx.Err()
			}
			return t, nil
		case err != nil && !errors.Is(err, store.ErrUnavailable):
			return nil, fmt.Errorf("wait for task %s: %w", id, err)
		}
		timer := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil, ctx.Err()
		case <-wake:
			timer.Stop()
		case <-timer.C:
			delay = min(2*delay, waitPollMax)
		}
	}
}

// final reports whether a row will not change on its own any more: a
// finished status and, for a recurring row, no occurrence left.
func final(t *store.Task, now time.Time) bool {
	switch t.Status {
	case store.StatusCompleted, store.StatusFailed, store.StatusCancelled:
		return t.Status == store.StatusCancelled || !t.Recoverable(now)
	}
	return false
}

// waiters wakes the Wait calls of a task when this engine announces
// something about it. The count keeps emit free of the lock while nobody
// waits, the common case.
type waiters struct {
	n  atomic.Int32
	mu sync.Mutex
	m  map[uuid.UUID]map[chan struct{}]struct{}
}

func (w *waiters) add(id uuid.UUID) (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	w.mu.Lock()
	if w.m == nil {
		w.m = map[uuid.UUID]map[chan struct{}]struct{}{}
	}
	if w.m[id] == nil {
		w.m[id] = map[chan struct{}]struct{}{}
	}
	w.m[id][ch] = struct{}{}
	w.n.Add(1)
	w.mu.Unlock()
	return ch, func() {
		w.mu.Lock()
		delete(w.m[id], ch)
		if len(w.m[id]) == 0 {
			delete(w.m, id)
		}
		w.n.Add(-1)
		w.mu.Unlock()
	}
}

// wake tells the waiters of id to read the row again; it never blocks.
func (w *waiters) wake(id uuid.UUID) {
	if w.n.Load() == 0 {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for ch := range w.m[id] {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}
