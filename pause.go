package evertask

import (
	"context"
	"fmt"
	"time"

	"github.com/evertask/evertask/store"
)

// Paused queues. The pause set lives in the store (store.QueuePauser), so
// every node sharing it and every later start see the same pauses; package
// inspect writes it. The engine reads it at Start, at every PollInterval
// and at once on a store.NoticePause, and honours it where work begins:
//
//   - a fetcher claims nothing for a paused queue (cluster mode);
//   - a dispatch to a paused queue is stored and not handed to a worker
//     (cluster mode: the row is claimed once the queue is resumed);
//   - a worker that takes a task of a paused queue does not start it: in
//     cluster mode it gives the claim back (the row goes back to Queued for
//     whichever node claims it after the resume), alone it parks the task
//     in memory until the resume.
//
// Tasks running when the pause lands finish. A store without QueuePauser
// has no paused queues.

// pauses is the engine's view of the pause set.
type pauses struct {
	st   store.QueuePauser // nil: the store has none
	wake chan struct{}     // capacity 1: a notice asks for a read now
}

// readPauses reads the pause set and applies it to the queues. A queue the
// engine does not run is ignored.
func (e *Engine) readPauses(ctx context.Context) error {
	if e.pauses.st == nil {
		return nil
	}
	list, err := e.pauses.st.PausedQueues(ctx)
	if err != nil {
		return fmt.Errorf("read paused queues: %w", err)
	}
	paused := make(map[string]bool, len(list))
	for _, p := range list {
		paused[p.Queue] = true
	}
	for name, q := range e.queues {
		e.setPaused(q, paused[name])
	}
	return nil
}

// setPaused records a queue's pause; a resume wakes its fetcher (cluster)
// or hands back the tasks parked meanwhile (alone).
func (e *Engine) setPaused(q *queue, paused bool) {
	if q.paused.Swap(paused) == paused {
		return
	}
	if paused {
		e.log.Info("queue paused: its tasks wait until it is resumed", "queue", q.cfg.Name)
		return
	}
	e.log.Info("queue resumed", "queue", q.cfg.Name)
	if q.fetch != nil {
		q.fetch.poke() // cluster mode: the rows wait in the store
		return
	}
	q.parkMu.Lock()
	parked := q.parked
	q.parked = nil
	q.parkMu.Unlock()
	if len(parked) == 0 {
		return
	}
	e.background.Add(1)
	go func() {
		defer e.background.Done()
		for _, j := range parked {
			select {
			case j.queue.ch <- j:
			case <-e.stopIntake:
				// Queued in the store: the next start recovers them.
				for _, j := range parked {
					e.deliveries.end(j)
				}
				return
			}
		}
	}()
}

// pokePauses asks the watcher to read the pause set now.
func (e *Engine) pokePauses() {
	select {
	case e.pauses.wake <- struct{}{}:
	default:
	}
}

// watchPausesStart starts the watcher when the store keeps pauses.
func (e *Engine) watchPausesStart() {
	if e.pauses.st != nil {
		e.background.Add(1)
		go e.watchPauses(e.cfg.Cluster.PollInterval)
	}
}

// watchPauses reads the pause set every interval and when poked, until
// Shutdown begins.
func (e *Engine) watchPauses(interval time.Duration) {
	defer e.background.Done()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-e.stopIntake:
			return
		case <-t.C:
		case <-e.pauses.wake:
		}
		ctx, cancel := context.WithTimeout(e.runCtx, max(interval, 5*time.Second))
		if err := e.readPauses(ctx); err != nil {
			e.log.Warn("read paused queues; keeping the last known pauses", "err", err)
		}
		cancel()
	}
}

// holdPaused is called by a worker that took j: when j's queue is paused it
// does not start it and reports true. In cluster mode the claim goes back
// to the store (the row is Queued again, claimable after the resume);
// alone the job is parked in memory until the resume.
func (e *Engine) holdPaused(j *job) bool {
	q := j.queue
	if !q.paused.Load() {
		return false
	}
	if e.node != nil {
		e.dropDelivery(j)
		return true
	}
	q.parkMu.Lock()
	if !q.paused.Load() {
		// Resumed meanwhile: setPaused has handed back the parked jobs
		// already, so this one runs now.
		q.parkMu.Unlock()
		return false
	}
	q.parked = append(q.parked, j)
	q.parkMu.Unlock()
	return true
}

// QueuePaused reports whether this engine holds the queue paused, as it
// last read the store's pause set (at Start, every Cluster.PollInterval and
// at once on a pause notice). It is false for a queue the engine does not
// run. Pause and resume queues with package inspect.
func (e *Engine) QueuePaused(name string) bool {
	q := e.queues[name]
	return q != nil && q.paused.Load()
}
