package evertask

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/evertask/evertask/schedule"
	"github.com/evertask/evertask/store"
)

// fetcher claims the due rows of one queue for this node: whenever the
// queue has room (its workers plus a prefetch), as many as fit, in one
// store call. It wakes on a poke (a dispatch here or a notice from another
// node, a worker freed while rows were left), at the store's next due time
// it learnt from its last claim, and every PollInterval.
type fetcher struct {
	n *node
	q *queue
	// alone and shared are the most the queue holds (running plus
	// prefetched) while this node is the only one, and while it has peers:
	// by default a lone node fills its buffer, so claims come in large
	// batches, and a node with peers prefetches one task per worker, so a
	// backlog spreads over the nodes.
	alone, shared int
	wake          chan struct{} // capacity 1: pokes coalesce
	// backlog is set when the last claim filled the room: rows may be left,
	// so a worker that frees a slot pokes the fetcher.
	backlog atomic.Bool
}

// maxClaim bounds one claim: on PostgreSQL a claim of 1,000 rows cost 30 µs
// a row, 200 rows 70 µs; one of 10,000 held its locks for 300 ms.
const maxClaim = 1000

func (f *fetcher) poke() {
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// freed is called when a delivery of the queue ends. With rows left in the
// store, the fetcher is woken once a quarter of its room is free: one claim
// then brings many rows, not one round trip per finished task, while the
// prefetched rows keep the workers busy.
func (f *fetcher) freed() {
	if !f.backlog.Load() {
		return
	}
	if c := f.capacity(); c-int(f.q.load.Load()) >= max(1, c/4) {
		f.poke()
	}
}

func (f *fetcher) capacity() int {
	if f.n.peers.Load() > 0 {
		return f.shared
	}
	return f.alone
}

func (f *fetcher) run() {
	defer f.n.stages.Done()
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-f.n.stop:
			return
		case <-f.wake:
		case <-t.C:
		}
		next := f.fetch()
		if !t.Stop() {
			select {
			case <-t.C:
			default:
			}
		}
		t.Reset(next)
	}
}

// fetch claims what fits and returns how long to sleep before the next
// look.
func (f *fetcher) fetch() time.Duration {
	n, e := f.n, f.n.e
	poll := n.cfg.PollInterval
	if f.q.paused.Load() {
		// Nothing starts on a paused queue: its rows wait in the store,
		// and the resume pokes this fetcher.
		f.backlog.Store(false)
		return poll
	}
	// Not ended by Shutdown: a claim cancelled in flight may still have
	// applied, and its rows would wait out their lease. One that completes
	// hands its rows over, and Shutdown releases what it cannot run.
	ctx, cancel := context.WithTimeout(context.Background(), max(n.cfg.LeaseDuration/2, time.Second))
	defer cancel()
	capacity := f.shared
	if f.alone > f.shared && f.q.load.Load() < int64(f.alone-f.shared) && n.alone(ctx) {
		capacity = f.alone
	}
	room := capacity - int(f.q.load.Load())
	if room <= 0 {
		f.backlog.Store(true)
		return poll
	}
	limit := min(room, maxClaim)
	began := e.now()
	res, err := n.st.Claim(ctx, store.ClaimParams{
		Owner: n.info.ID, Queue: f.q.cfg.Name, Limit: limit, LeaseFor: n.cfg.LeaseDuration, Now: began,
	})
	if err != nil {
		e.storeErr("claim", err)
		e.log.Warn("claim due tasks", "queue", f.q.cfg.Name, "err", err)
		return poll
	}
	full := len(res.Tasks) == limit
	f.backlog.Store(full)
	for _, row := range res.Tasks {
		e.runClaimed(row, f.q, began)
	}
	if full && room-limit >= max(1, capacity/4) {
		return 0 // more is due and fits: claim again at once
	}
	if !res.NextDue.IsZero() {
		// Both times are the store's: the wait needs no agreement between
		// this node's clock and the store's.
		if d := res.NextDue.Sub(res.StoreNow); d < poll {
			poll = max(d, time.Millisecond)
		}
	}
	return poll
}

// runClaimed hands a row this node claimed to its queue. The delivery is
// registered with its lease before anything can fail, so the keeper renews
// it; a row that cannot run (unknown kind, unreadable payload or schedule,
// a series with nothing left) is settled here.
func (e *Engine) runClaimed(row *store.Task, q *queue, claimedAt time.Time) {
	k := e.kindByName(row.Kind)
	if k == nil {
		e.poisonClaimed(row, fmt.Sprintf("no handler is registered for kind %q", row.Kind))
		return
	}
	value, err := k.decode(row.Payload)
	if err != nil {
		// Left claimed and not renewed: the rescuer takes it back once the
		// lease expires and counts it, so an unreadable payload is retried
		// a lease apart and poisoned at the recovery limit.
		e.log.Warn("claimed task's payload does not decode; it is retried when its lease expires", "task_id", row.ID, "err", err)
		return
	}
	j := &job{id: row.ID, kind: k, task: value, queue: q, audit: row.AuditLevel, claimed: true,
		meta: row.Metadata, readyAt: unixNano(row.DueAt())}
	if row.Recurring {
		s, err := schedule.Decode(row.Schedule)
		if err != nil {
			e.poisonClaimed(row, "unreadable schedule: "+err.Error())
			return
		}
		next := row.NextRunAt
		if next.IsZero() {
			e.endSeries(context.Background(), row, store.StatusCompleted, "")
			return
		}
		now := e.now()
		if !next.After(now) {
			// Downtime rule: one missed occurrence runs once, now; more are
			// skipped to the first future one.
			resumed := s.Resume(next, now)
			switch {
			case resumed.IsZero():
				e.endSeries(context.Background(), row, store.StatusCompleted, "")
				return
			case resumed.After(now):
				e.skipTo(row, resumed)
				return
			}
			next = resumed
		}
		j.series = &series{sched: s, scheduledAt: next, runCount: row.RunCount}
	}
	if row.CreatedAt.Before(e.node.info.StartedAt) || row.RecoveryFailures > 0 {
		// Dispatched before this engine started (left by an earlier run or
		// by another node), or taken over from a node that lost it since
		// its last finished work: picked up again now. This claim is the
		// one announcement of it (the rescue that re-queued it sends none).
		e.emit(Event{Type: EventRecovered, TaskID: row.ID, Kind: row.Kind, Queue: row.Queue})
	}
	if !e.deliveries.beginClaimed(j, claimedAt) {
		// A dispatch of this node holds the task's delivery and now owns the
		// claim (see beginClaimed).
		return
	}
	select {
	case q.ch <- j:
	default:
		// The fetcher claims no more than the queue has room for, so only a
		// fallback from a full queue can have filled it: wait for room.
		select {
		case q.ch <- j:
		case <-e.stopIntake:
			e.node.release(j)
			e.deliveries.end(j)
		}
	}
}

// skipTo moves a claimed series whose missed occurrences are skipped to its
// next one and gives the claim back.
func (e *Engine) skipTo(row *store.Task, next time.Time) {
	ctx := context.Background()
	r := row.Clone()
	r.NextRunAt = next
	if err := e.store.UpdateDefinition(ctx, r); err != nil {
		e.log.Warn("skip missed occurrences", "task_id", row.ID, "err", err)
	}
	_, err := e.writer.transition(ctx, store.TransitionParams{
		ID: row.ID, To: store.StatusQueued, From: fromInProgress, HeldBy: e.node.info.ID,
		Now: e.now(), AuditLevel: row.AuditLevel,
	})
	if err != nil {
		e.log.Warn("release skipped series", "task_id", row.ID, "err", err)
	}
	e.node.due(row.Queue, next)
}

// poisonClaimed ends a claimed row that cannot run as Failed.
func (e *Engine) poisonClaimed(row *store.Task, reason string) {
	e.log.Error("gave up on task", "task_id", row.ID, "kind", row.Kind, "reason", reason)
	var applied bool
	if row.Recurring {
		applied = e.endSeries(context.Background(), row, store.StatusFailed, reason)
	} else {
		var err error
		applied, err = e.writer.transition(context.Background(), store.TransitionParams{
			ID: row.ID, To: store.StatusFailed, From: fromInProgress, HeldBy: e.node.info.ID, Now: e.now(),
			Error: "poisoned: " + reason, AuditLevel: row.AuditLevel,
		})
		if err != nil {
			e.log.Error("mark poisoned task failed", "task_id", row.ID, "err", err)
		}
	}
	if applied { // announced only by the write that made it (see Event)
		e.emit(Event{Type: EventPoisoned, TaskID: row.ID, Kind: row.Kind, Queue: row.Queue, Err: errors.New(reason)})
	}
}
