package evertask

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// A dispatch is acknowledged once its row is committed: nothing it does
// after the write may wait for a worker, or a process killed during that
// wait would run a task whose Dispatch never returned. A task that finds
// its queue's buffer full after the write therefore waits elsewhere:
//
//   - in a cluster (a store with store.Cluster, as every built-in store) it
//     waits in the store, Queued, and a fetcher claims it when a worker of
//     some node is free: the store is the queue, and Dispatch never waits
//     for room;
//   - on a store without store.Cluster it waits in the queue's overflow, in
//     memory, from which one feeder goroutine moves it into the buffer as
//     workers take tasks. The overflow is bounded by back-pressure before
//     the write: with FullQueueWait, Dispatch waits, before it writes
//     anything, while the buffer is full and the overflow holds a buffer's
//     worth too (Capacity tasks). If ctx ends during that wait nothing was
//     written. DispatchMany does not wait: its rows are written, and what
//     does not fit waits in the overflow.
//
// Either way the row is Queued in the store: a crash loses nothing, and the
// task is recovered at the next start or claimed by another node.

// overflow holds the tasks of a queue, persisted and Queued, waiting for
// room in its buffer. Its zero value is ready.
type overflow struct {
	mu      sync.Mutex
	jobs    []*job
	feeding bool         // a feeder goroutine runs
	n       atomic.Int64 // tasks in jobs or held by the feeder
	// room is closed, and replaced, when a worker takes a task from the
	// buffer while a dispatch waits for room (waiters > 0).
	room    chan struct{}
	waiters atomic.Int32
}

// full reports whether a dispatch must wait before it writes: the buffer is
// full and the overflow holds as many tasks as the buffer.
func (q *queue) full() bool {
	return len(q.ch) >= cap(q.ch) && q.over.n.Load() >= int64(cap(q.ch))
}

// took is called by a worker that took a task from the buffer: it wakes the
// dispatches waiting for room, if any (an atomic load when none waits).
func (q *queue) took() {
	if q.over.waiters.Load() == 0 {
		return
	}
	q.over.mu.Lock()
	if q.over.room != nil {
		close(q.over.room)
		q.over.room = nil
	}
	q.over.mu.Unlock()
}

// waitRoom waits until q is not full, ctx ends or the engine shuts down.
func (e *Engine) waitRoom(ctx context.Context, q *queue) error {
	for q.full() {
		q.over.mu.Lock()
		if q.over.room == nil {
			q.over.room = make(chan struct{})
		}
		room := q.over.room
		q.over.waiters.Add(1)
		q.over.mu.Unlock()
		// Checked again once registered: a worker that took a task before
		// the registration saw no waiter and woke nobody.
		if !q.full() {
			q.over.waiters.Add(-1)
			return nil
		}
		select {
		case <-room:
			q.over.waiters.Add(-1)
		case <-ctx.Done():
			q.over.waiters.Add(-1)
			return fmt.Errorf("wait for room in queue %q (nothing was written): %w", q.cfg.Name, ctx.Err())
		case <-e.stopIntake:
			q.over.waiters.Add(-1)
			return ErrShutdown
		}
	}
	return nil
}

// backPressure is a dispatch's wait, before its write, for room in the
// queue its task goes to (see the top of this file). Only a store without
// store.Cluster and FullQueueWait (or FullQueueFallback to a full
// "default") wait.
func (e *Engine) backPressure(ctx context.Context, q *queue) error {
	if e.node != nil {
		return nil
	}
	switch q.cfg.WhenFull {
	case FullQueueError:
		return nil
	case FullQueueFallback:
		if !q.full() {
			return nil
		}
		q = e.queues[DefaultQueue]
	}
	return e.waitRoom(ctx, q)
}

// send puts a persisted, Queued job into the buffer of q (its own queue, or
// "default" for a fallback) without waiting: when the buffer is full (or
// earlier tasks wait in the overflow, which keeps their order), the job
// waits in the store for a fetcher (cluster) or in q's overflow.
func (e *Engine) send(q *queue, j *job) {
	if q.over.n.Load() == 0 {
		select {
		case q.ch <- j:
			return
		default:
		}
	}
	if e.node != nil {
		// The row is Queued: a fetcher claims it when a worker is free.
		e.dropDelivery(j)
		e.node.due(j.queue.cfg.Name, time.Time{})
		return
	}
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.stopping {
		// Shutdown began: the row stays Queued for the next start.
		e.deliveries.end(j)
		return
	}
	q.over.mu.Lock()
	q.over.jobs = append(q.over.jobs, j)
	q.over.n.Add(1)
	start := !q.over.feeding
	q.over.feeding = true
	q.over.mu.Unlock()
	if start {
		// Added under e.mu before Shutdown sets stopping, so before its
		// background.Wait.
		e.background.Add(1)
		go e.feed(q)
	}
}

// feed moves q's overflow into its buffer, oldest first, until the
// overflow is empty or the engine shuts down (the rows stay Queued then,
// for the next start).
func (e *Engine) feed(q *queue) {
	defer e.background.Done()
	for {
		q.over.mu.Lock()
		if len(q.over.jobs) == 0 {
			q.over.feeding = false
			q.over.mu.Unlock()
			return
		}
		j := q.over.jobs[0]
		q.over.jobs[0] = nil
		q.over.jobs = q.over.jobs[1:]
		q.over.mu.Unlock()
		select {
		case q.ch <- j:
			q.over.n.Add(-1)
		case <-e.stopIntake:
			q.over.mu.Lock()
			rest := append([]*job{j}, q.over.jobs...)
			q.over.jobs, q.over.feeding = nil, false
			q.over.n.Add(-int64(len(rest)))
			q.over.mu.Unlock()
			for _, r := range rest {
				e.deliveries.end(r)
			}
			return
		}
	}
}
