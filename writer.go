package evertask

import (
	"context"
	"sync"

	"github.com/evertask/evertask/store"
)

// writer sends status transitions to the store with group commit: a writer
// that finds no write in flight writes directly; writers that arrive while
// one is in flight queue up, and when it returns, the leader sends the whole
// queue in one TransitionMany call and hands each caller its own result.
// A quiet engine pays nothing (one direct call per write); a busy one makes
// one round trip for many workers. Every caller still waits until its own
// write committed before it reports the task's outcome.
type writer struct {
	store store.Store
	batch store.BatchStore // nil: no batching

	mu       sync.Mutex
	flushing bool
	pending  []*writeReq
}

type writeReq struct {
	params  store.TransitionParams
	applied bool
	err     error
	done    chan struct{}
}

// maxWriteBatch bounds one TransitionMany call.
const maxWriteBatch = 256

var writeReqPool = sync.Pool{New: func() any { return &writeReq{done: make(chan struct{}, 1)} }}

func newWriter(st store.Store, batching bool) *writer {
	w := &writer{store: st}
	if bs, ok := st.(store.BatchStore); ok && batching {
		w.batch = bs
	}
	return w
}

// transition applies p.
func (w *writer) transition(ctx context.Context, p store.TransitionParams) (bool, error) {
	if w.batch == nil {
		return w.store.Transition(ctx, p)
	}
	w.mu.Lock()
	if w.flushing {
		r := writeReqPool.Get().(*writeReq)
		r.params = p
		w.pending = append(w.pending, r)
		w.mu.Unlock()
		select {
		case <-r.done:
		case <-ctx.Done():
			// The leader still owns r and will finish the write; this caller
			// stops waiting, as a direct call would on ctx.
			return false, ctx.Err()
		}
		applied, err := r.applied, r.err
		*r = writeReq{done: r.done}
		writeReqPool.Put(r)
		if err != nil {
			// The batch failed as a whole; retry alone so the caller gets its
			// own error (ErrNotFound, a ctx error), not a neighbour's.
			return w.store.Transition(ctx, p)
		}
		return applied, nil
	}
	w.flushing = true
	w.mu.Unlock()

	applied, err := w.store.Transition(ctx, p)
	w.drain()
	return applied, err
}

// drain sends what queued up behind the leader's write, until nothing is
// left, then releases the leadership.
func (w *writer) drain() {
	var params []store.TransitionParams
	for {
		w.mu.Lock()
		batch := w.pending
		if len(batch) > maxWriteBatch {
			batch, w.pending = batch[:maxWriteBatch], append([]*writeReq(nil), batch[maxWriteBatch:]...)
		} else {
			w.pending = nil
		}
		if len(batch) == 0 {
			w.flushing = false
			w.mu.Unlock()
			return
		}
		w.mu.Unlock()

		params = params[:0]
		for _, r := range batch {
			params = append(params, r.params)
		}
		// Not tied to any caller's ctx: a caller that gives up must not
		// cancel its neighbours' writes.
		applied, err := w.batch.TransitionMany(context.Background(), params)
		for i, r := range batch {
			if err != nil {
				r.err = err
			} else {
				r.applied = applied[i]
			}
			r.done <- struct{}{}
		}
	}
}
