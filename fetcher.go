package evertask

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/evertask/evertask/schedule"
	"github.com/evertask/evertask/store"
)

// claimStore is what a fetcher calls of the store.
type claimStore interface {
	Claim(ctx context.Context, params store.ClaimParams) (store.ClaimResult, error)
}

// fetcherDeps is everything a fetcher reaches besides its queue; the
// fetchers of a node share one.
type fetcherDeps struct {
	st       claimStore
	self     string // this node's id, the claims' owner
	cfg      ClusterConfig
	peers    *peers
	claims   *claims // takes over the claimed rows
	now      func() time.Time
	log      *slog.Logger
	storeErr func(op string, err error)
}

// fetcher claims the due rows of one queue for this node: whenever the
// queue has room (its workers plus a prefetch), as many as fit, in one
// store call. It wakes on a poke (a dispatch here or a notice from another
// node, a worker freed while rows were left), at the store's next due time
// it learnt from its last claim, and every PollInterval.
type fetcher struct {
	*fetcherDeps
	loop
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

func newFetcher(deps *fetcherDeps, q *queue) *fetcher {
	f := &fetcher{fetcherDeps: deps, q: q, wake: make(chan struct{}, 1)}
	switch p := deps.cfg.Prefetch; {
	case p > 0:
		f.alone, f.shared = q.cfg.Workers+p, q.cfg.Workers+p
	case p < 0:
		f.alone, f.shared = q.cfg.Workers, q.cfg.Workers
	default:
		f.alone, f.shared = q.cfg.Workers+q.cfg.Capacity, 2*q.cfg.Workers
	}
	return f
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
	if f.peers.any() {
		return f.shared
	}
	return f.alone
}

func (f *fetcher) start() { f.run(f.fetchLoop) }

func (f *fetcher) fetchLoop(stop context.Context) {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-stop.Done():
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
	poll := f.cfg.PollInterval
	if f.q.paused.Load() {
		// Nothing starts on a paused queue: its rows wait in the store,
		// and the resume pokes this fetcher.
		f.backlog.Store(false)
		return poll
	}
	// Not ended by Shutdown: a claim cancelled in flight may still have
	// applied, and its rows would wait out their lease. One that completes
	// hands its rows over, and Shutdown releases what it cannot run.
	ctx, cancel := context.WithTimeout(context.Background(), max(f.cfg.LeaseDuration/2, time.Second))
	defer cancel()
	capacity := f.shared
	if f.alone > f.shared && f.q.load.Load() < int64(f.alone-f.shared) && f.peers.alone(ctx) {
		capacity = f.alone
	}
	room := capacity - int(f.q.load.Load())
	if room <= 0 {
		f.backlog.Store(true)
		return poll
	}
	limit := min(room, maxClaim)
	began := f.now()
	res, err := f.st.Claim(ctx, store.ClaimParams{
		Owner: f.self, Queue: f.q.cfg.Name, Limit: limit, LeaseFor: f.cfg.LeaseDuration, Now: began,
		// A hint (a lone node's claim on PostgreSQL takes no row locks), so
		// the last count of peers does: no registry read for it.
		Alone: !f.peers.any(),
	})
	if err != nil {
		f.storeErr("claim", err)
		f.log.Warn("claim due tasks", "queue", f.q.cfg.Name, "err", err)
		return poll
	}
	full := len(res.Tasks) == limit
	f.backlog.Store(full)
	for _, row := range res.Tasks {
		f.claims.run(row, f.q, began)
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

// claimsStore is what the claims call of the store.
type claimsStore interface {
	UpdateDefinition(ctx context.Context, t *store.Task) error
	Transition(ctx context.Context, p store.TransitionParams) (bool, error)
}

// claims hands the rows this node claimed to its queues, settles those that
// cannot run, and gives back the claims nobody will run: what the fetchers
// (and, for a give-back, the dispatch and worker paths and Shutdown) need
// of the engine, and nothing more.
type claims struct {
	st        claimsStore
	self      string    // this node's id, the claims' owner
	startedAt time.Time // the node's start: rows dispatched before are recovered
	leaseFor  time.Duration
	// transition is the engine's batched status write (writer.transition).
	transition func(ctx context.Context, p store.TransitionParams) (bool, error)
	kind       func(name string) *kind // the registered kind of a name, or nil
	endSeries  func(ctx context.Context, row *store.Task, status store.Status, reason string) bool
	emit       func(Event)
	due        func(queue string, at time.Time) // node.due
	deliveries *deliveries
	stopIntake <-chan struct{} // closed when Shutdown begins
	now        func() time.Time
	log        *slog.Logger
	releases   *releaseGroup // Shutdown waits for these (releaseAbandoned)
}

// run hands a row this node claimed to its queue. The delivery is
// registered with its lease before anything can fail, so the keeper renews
// it; a row that cannot run (unknown kind, unreadable payload or schedule,
// a series with nothing left) is settled here.
func (c *claims) run(row *store.Task, q *queue, claimedAt time.Time) {
	k := c.kind(row.Kind)
	if k == nil {
		c.poison(row, fmt.Sprintf("no handler is registered for kind %q", row.Kind))
		return
	}
	value, err := k.decode(row.Payload)
	if err != nil {
		// Left claimed and not renewed: the rescuer takes it back once the
		// lease expired and counts it (at its look every LeaseDuration, see
		// rescuer.sweepDue), so an unreadable payload is retried one to two
		// leases apart and poisoned at the recovery limit.
		c.log.Warn("claimed task's payload does not decode; it is retried when its lease expires", "task_id", row.ID, "err", err)
		return
	}
	j := &job{id: row.ID, kind: k, task: value, queue: q, audit: row.AuditLevel, claimed: true,
		meta: row.Metadata, readyAt: unixNano(row.DueAt())}
	if row.Recurring {
		s, err := schedule.Decode(row.Schedule)
		if err != nil {
			c.poison(row, "unreadable schedule: "+err.Error())
			return
		}
		next := row.NextRunAt
		if next.IsZero() {
			c.endSeries(context.Background(), row, store.StatusCompleted, "")
			return
		}
		now := c.now()
		if !next.After(now) {
			// Downtime rule: one missed occurrence runs once, now; more are
			// skipped to the first future one.
			resumed := s.Resume(next, now)
			switch {
			case resumed.IsZero():
				c.endSeries(context.Background(), row, store.StatusCompleted, "")
				return
			case resumed.After(now):
				c.skipTo(row, resumed)
				return
			}
			next = resumed
		}
		j.series = &series{sched: s, scheduledAt: next, runCount: row.RunCount}
	}
	if row.CreatedAt.Before(c.startedAt) || row.RecoveryFailures > 0 {
		// Dispatched before this engine started (left by an earlier run or
		// by another node), or taken over from a node that lost it since
		// its last finished work: picked up again now. This claim is the
		// one announcement of it (the rescue that re-queued it sends none).
		c.emit(Event{Type: EventRecovered, TaskID: row.ID, Kind: row.Kind, Queue: row.Queue})
	}
	if !c.deliveries.beginClaimed(j, claimedAt) {
		// A dispatch of this node holds the task's delivery and now owns the
		// claim (see beginClaimed).
		return
	}
	select {
	case q.ch <- j:
	default:
		// The fetcher claims no more than the room it read before its
		// claim; a fallback from a full queue, or a dispatch of this node
		// that landed while the claim ran, can have filled it since: wait
		// for room (the keeper renews the lease meanwhile).
		select {
		case q.ch <- j:
		case <-c.stopIntake:
			c.drop(j)
		}
	}
}

// skipTo moves a claimed series whose missed occurrences are skipped to its
// next one and gives the claim back.
func (c *claims) skipTo(row *store.Task, next time.Time) {
	ctx := context.Background()
	r := row.Clone()
	r.NextRunAt = next
	if err := c.st.UpdateDefinition(ctx, r); err != nil {
		c.log.Warn("skip missed occurrences", "task_id", row.ID, "err", err)
	}
	_, err := c.transition(ctx, store.TransitionParams{
		ID: row.ID, To: store.StatusQueued, From: fromInProgress, HeldBy: c.self,
		Now: c.now(), AuditLevel: row.AuditLevel,
	})
	if err != nil {
		c.log.Warn("release skipped series", "task_id", row.ID, "err", err)
	}
	c.due(row.Queue, next)
}

// poison ends a claimed row that cannot run as Failed.
func (c *claims) poison(row *store.Task, reason string) {
	c.log.Error("gave up on task", "task_id", row.ID, "kind", row.Kind, "reason", reason)
	var applied bool
	if row.Recurring {
		applied = c.endSeries(context.Background(), row, store.StatusFailed, reason)
	} else {
		var err error
		applied, err = c.transition(context.Background(), store.TransitionParams{
			ID: row.ID, To: store.StatusFailed, From: fromInProgress, HeldBy: c.self, Now: c.now(),
			Error: "poisoned: " + reason, AuditLevel: row.AuditLevel,
		})
		if err != nil {
			c.log.Error("mark poisoned task failed", "task_id", row.ID, "err", err)
		}
	}
	if applied { // announced only by the write that made it (see Event)
		c.emit(Event{Type: EventPoisoned, TaskID: row.ID, Kind: row.Kind, Queue: row.Queue, Err: errors.New(reason)})
	}
}

// release gives a claimed task back to the store (Queued) so another node
// may take it at once rather than after its lease expired.
func (c *claims) release(j *job) {
	if !c.deliveries.leased(j) {
		return
	}
	_, err := c.transition(context.Background(), store.TransitionParams{
		ID: j.id, To: store.StatusQueued, From: fromInProgress, HeldBy: c.self,
		Now: c.now(), AuditLevel: j.audit,
	})
	if err != nil {
		c.log.Warn("release claimed task; it is taken over when its lease expires", "task_id", j.id, "err", err)
	}
}

// drop ends a claimed delivery nobody will run, and gives its claim back.
func (c *claims) drop(j *job) {
	c.release(j)
	c.deliveries.end(j)
}

// releaseAbandoned gives back a row the dispatch fast path wrote claimed
// after its caller had stopped waiting (see writer.enableClaims): nothing
// runs it here, so it goes back to Queued at once, fenced on this node's
// lease, and a fetcher (of any node) takes it; else it would wait out its
// lease and count a recovery failure. The caller was told the dispatch
// failed, as when a plain persist lands after its caller left; the task
// exists and runs. The writer must not block, so the release runs on a
// goroutine that Shutdown waits for (releases); a write that lands after
// Shutdown stopped waiting is given back on the writer's goroutine, and the
// other nodes find it at their next poll.
func (c *claims) releaseAbandoned(t *store.Task) {
	late := !c.releases.add()
	release := func() {
		ctx, cancel := context.WithTimeout(context.Background(), c.leaseFor)
		defer cancel()
		ok, err := c.st.Transition(ctx, store.TransitionParams{
			ID: t.ID, To: store.StatusQueued, From: fromInProgress, HeldBy: c.self,
			Now: c.now(), AuditLevel: t.AuditLevel,
		})
		switch {
		case errors.Is(err, store.ErrNotFound):
			// The write did not land after all (see groupCommit.abandoned).
		case err != nil:
			c.log.Warn("give back a task claimed for a dispatch whose caller left; it is taken over when its lease expires", "task_id", t.ID, "err", err)
		case ok && !late:
			c.due(t.Queue, time.Time{})
		}
	}
	if late {
		release()
		return
	}
	go func() {
		defer c.releases.done()
		release()
	}()
}

// releaseGroup tracks the goroutines of releaseAbandoned, so Shutdown can
// wait for them; once closed it counts no more (they run on their caller).
type releaseGroup struct {
	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup
}

// add counts one more release, unless the group is closed.
func (g *releaseGroup) add() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return false
	}
	g.wg.Add(1)
	return true
}

func (g *releaseGroup) done() { g.wg.Done() }

// close stops counting and waits for the releases counted.
func (g *releaseGroup) close() {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
	g.wg.Wait()
}
