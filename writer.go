package evertask

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/evertask/evertask/store"
)

// writer sends status transitions to the store. With batching on and a
// store.BatchStore, the transitions that workers submit at the same time are
// grouped into one TransitionMany call: no timer, the flusher takes whatever
// is waiting when it becomes free, so a lone write goes out at once and a
// busy engine makes few round trips. Each caller still waits for its own
// write to commit before it reports the task's outcome.
type writer struct {
	store   store.Store
	batch   store.BatchStore // nil: every write is its own call
	reqs    chan *writeReq
	wg      sync.WaitGroup
	running atomic.Bool // flushers are running: before Start and after stop, writes go direct
	stopped chan struct{}
	once    sync.Once
}

type writeReq struct {
	ctx     context.Context
	params  store.TransitionParams
	applied bool
	err     error
	done    chan struct{}
}

// maxWriteBatch bounds one TransitionMany call.
const maxWriteBatch = 256

// writeFlushers is how many batches may be in flight at once: one forms
// while another commits.
const writeFlushers = 2

var writeReqPool = sync.Pool{New: func() any { return &writeReq{done: make(chan struct{}, 1)} }}

func newWriter(st store.Store, batching bool) *writer {
	w := &writer{store: st, stopped: make(chan struct{})}
	if bs, ok := st.(store.BatchStore); ok && batching {
		w.batch = bs
		w.reqs = make(chan *writeReq, maxWriteBatch*writeFlushers)
	}
	return w
}

func (w *writer) start() {
	if w.batch == nil {
		return
	}
	w.running.Store(true)
	for range writeFlushers {
		w.wg.Add(1)
		go w.flushLoop()
	}
}

// stop ends the flushers after the writes already submitted. Callers must
// not submit after stop.
func (w *writer) stop() {
	w.once.Do(func() {
		w.running.Store(false)
		close(w.stopped)
		w.wg.Wait()
	})
}

// transition applies p, batched when possible.
func (w *writer) transition(ctx context.Context, p store.TransitionParams) (bool, error) {
	if w.batch == nil || !w.running.Load() {
		return w.store.Transition(ctx, p)
	}
	r := writeReqPool.Get().(*writeReq)
	r.ctx, r.params = ctx, p
	select {
	case w.reqs <- r:
	case <-w.stopped:
		writeReqPool.Put(r)
		return w.store.Transition(ctx, p)
	}
	<-r.done
	applied, err := r.applied, r.err
	*r = writeReq{done: r.done}
	writeReqPool.Put(r)
	if err != nil {
		// The batch failed as a whole; retry this one alone so the caller
		// gets its own error (ErrNotFound, a ctx error) and not a neighbour's.
		return w.store.Transition(ctx, p)
	}
	return applied, nil
}

func (w *writer) flushLoop() {
	defer w.wg.Done()
	batch := make([]*writeReq, 0, maxWriteBatch)
	params := make([]store.TransitionParams, 0, maxWriteBatch)
	for {
		var first *writeReq
		select {
		case first = <-w.reqs:
		case <-w.stopped:
			// Drain what was submitted before stop.
			for {
				select {
				case r := <-w.reqs:
					w.flush([]*writeReq{r}, params[:0])
				default:
					return
				}
			}
		}
		batch = append(batch[:0], first)
	fill:
		for len(batch) < maxWriteBatch {
			select {
			case r := <-w.reqs:
				batch = append(batch, r)
			default:
				break fill
			}
		}
		w.flush(batch, params[:0])
	}
}

func (w *writer) flush(batch []*writeReq, params []store.TransitionParams) {
	if len(batch) == 1 {
		r := batch[0]
		r.applied, r.err = w.store.Transition(r.ctx, r.params)
		r.done <- struct{}{}
		return
	}
	for _, r := range batch {
		params = append(params, r.params)
	}
	// The batch is not tied to any one caller's ctx: a caller that gives up
	// must not cancel its neighbours' writes.
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
