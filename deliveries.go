package evertask

import (
	"context"
	"sync"
	"time"

	"github.com/google/uuid"
)

// A delivery is this process's hold on one task, from the moment a path
// (dispatch, a timer, recovery, the fetcher) hands it towards a worker
// until its outcome is written. Its states, all guarded by deliveries.mu:
//
//	(none) ──begin──────────► delivered   in a queue buffer; the row is Queued
//	(none) ──beginClaimed───► claimed     the fetcher claimed the row (cluster)
//	(none) ──beginIdle──────► delivered   a dispatch took an idle worker and
//	                                      writes the row claimed (cluster);
//	                                      not in a buffer until that write
//	                                      committed (beginIdleAll: a batch
//	                                      of DispatchMany, all or none)
//	delivered ──claim───────► claimed     the worker's claim, the fetcher's
//	                                      claim of the same row (adopted), or
//	                                      the committed write of beginIdle's
//	                                      dispatch, which then puts it in the
//	                                      buffer
//	claimed ──running───────► running     exec set: the handler runs
//	any ──markCancelled─────► + cancelled a Cancel; a running context ends
//	                                      (a claim made before the Cancelled
//	                                      write but registered after it
//	                                      begins cancelled: cancelledInStore)
//	any ──markLost──────────► + lost      the lease went to another node; a
//	                                      running context ends, and nothing of
//	                                      the outcome is written; running
//	                                      marks it too, and starts nothing,
//	                                      when the lease is too old to start on
//	claimed ──settle────────► + settling  the outcome is being written, fenced
//	                                      on the lease: from here the fence,
//	                                      not a renewal's report, decides
//	any ──end───────────────► (none)      the outcome (or the give-up) is written
//
// A task has at most one delivery in a process (begin refuses a second), so
// one process never runs a task twice at once; across processes the lease
// does that. In the single-process path (a store without store.Cluster)
// "claimed" means only that recovery moved the row to InProgress.

// deliveries tracks the tasks this process has in a queue buffer or running,
// so one process never runs the same task twice at once (reference 13). The
// state of a delivery lives on its job, guarded by mu, so a running task
// costs two map operations: begin and end.
type deliveries struct {
	mu sync.Mutex
	m  map[uuid.UUID]*job
	// cancels remembers, for a while, when this node learnt that a task's
	// Cancelled status was written (by a Cancel here, or another node's,
	// told by a notice). A fetcher registers the rows of a claim after the
	// claim returned (and after waiting for room for the rows before
	// them), so a claim that took a row before the Cancelled write can
	// begin its delivery after the cancel flagged the others: a claim made
	// before the cancel was learnt begins cancelled. (One made after it
	// cannot hold the row unless the task was retried since, and runs.)
	cancels map[uuid.UUID]time.Time
	// cancelsFor is how long cancels keeps an id: past the lease, a claim
	// would not start anyway (running refuses a lease that old).
	cancelsFor time.Duration
	pruneAt    int // the size of cancels at which old entries are dropped
}

// begin registers j and reports false when its task is already delivered.
func (d *deliveries) begin(j *job) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.m == nil {
		d.m = map[uuid.UUID]*job{}
	}
	if _, ok := d.m[j.id]; ok {
		return false
	}
	j.exec, j.cancelled = nil, false
	d.m[j.id] = j
	j.queue.load.Add(1)
	return true
}

// beginIdle registers j as begin does, but only while its queue has an
// idle worker: fewer deliveries in its buffer or running than workers. The
// check and the registration are one step (every increment of the load is
// made under mu), so two dispatches cannot both count the last idle worker.
// The dispatch fast path then stores the row claimed for j.
func (d *deliveries) beginIdle(j *job) bool {
	q := j.queue
	d.mu.Lock()
	defer d.mu.Unlock()
	if q.load.Load() >= int64(q.cfg.Workers) {
		return false
	}
	if d.m == nil {
		d.m = map[uuid.UUID]*job{}
	}
	if _, ok := d.m[j.id]; ok {
		return false
	}
	j.exec, j.cancelled = nil, false
	d.m[j.id] = j
	q.load.Add(1)
	return true
}

// beginIdleAll registers every job of js as beginIdle does, only if each
// has an idle worker of its queue, counting the others of js: all or none,
// for a batch whose rows are stored claimed in one write.
func (d *deliveries) beginIdleAll(js []*job) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.m == nil {
		d.m = map[uuid.UUID]*job{}
	}
	wanted := make(map[*queue]int64, 1)
	for _, j := range js {
		if _, ok := d.m[j.id]; ok {
			return false
		}
		wanted[j.queue]++
	}
	for q, n := range wanted {
		if q.load.Load()+n > int64(q.cfg.Workers) {
			return false
		}
	}
	for _, j := range js {
		j.exec, j.cancelled = nil, false
		d.m[j.id] = j
		j.queue.load.Add(1)
	}
	return true
}

// beginClaimed registers j, whose row this node claimed at claimedAt, with
// its lease. When a dispatch of this node already delivers the task (its
// job waits in the buffer, not yet claimed), that job takes the claim over
// and j is dropped (false): one delivery, and its worker skips the claim.
func (d *deliveries) beginClaimed(j *job, claimedAt time.Time) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.m == nil {
		d.m = map[uuid.UUID]*job{}
	}
	cancelled := d.cancelledBefore(j.id, claimedAt)
	if old, ok := d.m[j.id]; ok {
		if !old.leased {
			old.claimed, old.leased, old.leaseBase = true, true, claimedAt
			old.cancelled = old.cancelled || cancelled
		}
		return false
	}
	j.exec, j.cancelled = nil, cancelled
	j.leased, j.leaseBase = true, claimedAt
	d.m[j.id] = j
	j.queue.load.Add(1)
	return true
}

// claimedNow reports whether j holds its row's claim already, and records
// a claim the worker just made when at is not zero.
func (d *deliveries) claim(j *job, at time.Time) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !at.IsZero() && !j.leased {
		j.claimed, j.leased, j.leaseBase = true, true, at
	}
	return j.claimed
}

// leased reports whether this node holds j's lease (and has not lost it).
func (d *deliveries) leased(j *job) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return j.leased && !j.lost
}

// leases returns the deliveries whose leases to renew, and those whose
// lease was last granted before cutoff: it may have expired in the store,
// so they are given up. A renewal's answer is about these deliveries, not
// about whatever delivery of the same task runs by the time it comes back.
//
// Only the leases granted before renewBefore are returned to renew: a lease
// needs renewing a few times per LeaseDuration, not at every tick.
func (d *deliveries) leases(cutoff, renewBefore time.Time) (held, expired []*job) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, j := range d.m {
		switch {
		case !j.leased || j.lost:
		case j.leaseBase.Before(cutoff):
			expired = append(expired, j)
		case j.leaseBase.Before(renewBefore):
			held = append(held, j)
		}
	}
	return held, expired
}

// renewed moves the lease base of the renewed ids (all of ids but lost) to
// began.
func (d *deliveries) renewed(ids, lost []uuid.UUID, began time.Time) {
	gone := make(map[uuid.UUID]bool, len(lost))
	for _, id := range lost {
		gone[id] = true
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, id := range ids {
		if j := d.m[id]; j != nil && j.leased && !gone[id] && j.leaseBase.Before(began) {
			j.leaseBase = began
		}
	}
}

// markLost flags a delivery whose lease is gone and stops it as a cancel
// would; its outcome is not recorded. It does nothing, and reports false,
// when j is no longer its task's delivery (its outcome ended it; a later
// occurrence of a series may be running under a new lease) or is writing
// its outcome (the write's fence decides): a renewal racing the outcome's
// write reports the lease lost because that write released it.
func (d *deliveries) markLost(j *job) bool {
	d.mu.Lock()
	if d.m[j.id] != j || j.settling {
		d.mu.Unlock()
		return false
	}
	j.lost = true
	x := j.exec
	d.mu.Unlock()
	x.stop()
	return true
}

// current reports whether j is still its task's delivery and has not begun
// writing its outcome.
func (d *deliveries) current(j *job) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.m[j.id] == j && !j.settling
}

// settle marks j as writing its outcome and reports, in the same step,
// whether it holds its lease (the write is fenced on it) and whether it
// lost it (nothing may be written). One step, so a lease lost between the
// two answers cannot make the write go out unfenced.
func (d *deliveries) settle(j *job) (leased, lost bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if j.lost {
		return false, true
	}
	j.settling = true
	return j.leased, false
}

// lease reports whether this node holds j's lease and whether it lost it,
// in one step, for a fenced write that is not the outcome.
func (d *deliveries) lease(j *job) (leased, lost bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return j.leased && !j.lost, j.lost
}

func (d *deliveries) isLost(j *job) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return j.lost
}

// end is the last act of every delivery. It removes j's registration only,
// never a later delivery's of the same task.
func (d *deliveries) end(j *job) {
	d.mu.Lock()
	removed := d.remove(j)
	d.mu.Unlock()
	d.released(j, removed)
}

// endUnclaimed ends j as end does, unless this node's fetcher claimed j's
// row meanwhile and adopted j (see beginClaimed): then it leaves j, which
// runs with that claim, and reports false. A dispatch or a worker whose own
// write found the row already claimed calls it: the check and the end are
// one step, so an adoption cannot slip in between and be dropped with the
// delivery (the row would then sit InProgress under a lease nobody renews,
// and run only after the lease expired and a rescue).
func (d *deliveries) endUnclaimed(j *job) bool {
	d.mu.Lock()
	if j.claimed {
		d.mu.Unlock()
		return false
	}
	removed := d.remove(j)
	d.mu.Unlock()
	d.released(j, removed)
	return true
}

// remove unregisters j if it is its task's delivery; d.mu is held.
func (d *deliveries) remove(j *job) bool {
	if d.m[j.id] != j {
		return false
	}
	delete(d.m, j.id)
	if j.ended != nil {
		close(j.ended)
	}
	return true
}

// released frees j's slot in its queue once remove removed it.
func (d *deliveries) released(j *job, removed bool) {
	if removed {
		j.queue.load.Add(-1)
		if f := j.queue.fetch; f != nil {
			f.freed()
		}
	}
}

// waitEnd waits until the delivery of id in flight, if any, ends, or ctx
// does; it reports whether none is in flight.
func (d *deliveries) waitEnd(ctx context.Context, id uuid.UUID) bool {
	d.mu.Lock()
	j := d.m[id]
	if j == nil {
		d.mu.Unlock()
		return true
	}
	if j.ended == nil {
		j.ended = make(chan struct{})
	}
	ch := j.ended
	d.mu.Unlock()
	select {
	case <-ch:
		return true
	case <-ctx.Done():
		return false
	}
}

func (d *deliveries) inFlight(id uuid.UUID) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	_, ok := d.m[id]
	return ok
}

// startState is what running found about a starting execution.
type startState int

const (
	startRun       startState = iota // registered: the handler may run
	startCancelled                   // cancelled before it started
	startLost                        // its lease is lost or too old: it must not start
)

// running records a starting execution, unless the task was cancelled or
// its lease is lost. A lease granted before staleBefore (zero: no check)
// counts as lost here: the lease keeper gives a lease up only at its
// ticks, and a node that was starved past them would otherwise start a
// handler on a lease the store may already have let expire, while another
// node runs the task.
func (d *deliveries) running(j *job, x *execution, staleBefore time.Time) startState {
	d.mu.Lock()
	defer d.mu.Unlock()
	if j.leased && !j.lost && j.leaseBase.Before(staleBefore) {
		j.lost = true
	}
	switch {
	case j.lost:
		return startLost
	case j.cancelled:
		return startCancelled
	}
	j.exec = x
	return startRun
}

// markCancelled flags a delivered task as cancelled by the user and, if it
// runs, cancels its context and starts its watchdog, so even a handler that
// ignores the cancel stops holding its worker.
func (d *deliveries) markCancelled(id uuid.UUID) {
	d.mu.Lock()
	x := d.flagCancelled(id, true)
	d.mu.Unlock()
	x.stop()
}

// flagCancelled flags id's delivery cancelled and returns its running
// execution, if any, for the caller to stop; a delivery flagged already is
// returned again only with again. d.mu is held.
func (d *deliveries) flagCancelled(id uuid.UUID, again bool) *execution {
	j := d.m[id]
	if j == nil || j.cancelled && !again {
		return nil
	}
	j.cancelled = true
	return j.exec
}

// cancelledInStore flags, as markCancelled does, a task whose Cancelled
// status is written, learnt at at: a claim of it made before at that begins its
// delivery later begins cancelled (see cancels).
func (d *deliveries) cancelledInStore(id uuid.UUID, at time.Time) {
	d.mu.Lock()
	if d.cancels == nil {
		d.cancels = map[uuid.UUID]time.Time{}
	}
	keep := d.cancelsFor
	if keep <= 0 {
		keep = time.Minute
	}
	if len(d.cancels) >= d.pruneAt {
		// Amortised: a mass cancel does not scan the map per task.
		for old, t := range d.cancels {
			if at.Sub(t) > keep {
				delete(d.cancels, old)
			}
		}
		d.pruneAt = 2*len(d.cancels) + 64
	}
	d.cancels[id] = at
	// A delivery begun since the Cancel's first flag is flagged now. One
	// flagged already is left alone: its cancel and watchdog are started.
	x := d.flagCancelled(id, false)
	d.mu.Unlock()
	x.stop()
}

// cancelledBefore reports whether id's Cancelled status was learnt after a
// claim made at claimedAt (see cancels); d.mu is held.
func (d *deliveries) cancelledBefore(id uuid.UUID, claimedAt time.Time) bool {
	if len(d.cancels) == 0 {
		return false
	}
	at, ok := d.cancels[id]
	return ok && !at.Before(claimedAt)
}

func (d *deliveries) cancelled(j *job) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return j.cancelled
}

// abandonRunning cancels every running execution and starts its watchdog,
// once Shutdown's grace period ended.
func (d *deliveries) abandonRunning() {
	d.mu.Lock()
	var running []*execution
	for _, j := range d.m {
		if j.exec != nil {
			running = append(running, j.exec)
		}
	}
	d.mu.Unlock()
	for _, x := range running {
		x.stop()
	}
}

// timedJobs remembers the latest timed job of each task from the moment it
// is parked until its promotion starts. The heap replaces an earlier entry
// for the same task, but an entry it already released may still be on its
// way to promote; that one is stale when a newer job was parked meanwhile,
// and must not run (it would run a series occurrence twice).
type timedJobs struct {
	mu sync.Mutex
	m  map[uuid.UUID]*job
}

// schedule parks j until at, replacing any earlier timed job of its task.
func (e *Engine) schedule(j *job, at time.Time) {
	e.timed.mu.Lock()
	if e.timed.m == nil {
		e.timed.m = map[uuid.UUID]*job{}
	}
	e.timed.m[j.id] = j
	e.timed.mu.Unlock()
	e.timers.Schedule(j.id, at, j)
}

// unschedule drops the timed job of a task, parked or on its way.
func (e *Engine) unschedule(id uuid.UUID) {
	e.timed.mu.Lock()
	delete(e.timed.m, id)
	e.timed.mu.Unlock()
	e.timers.Remove(id)
}

// takeTimed reports whether j is still its task's latest timed job, and
// forgets it: the caller now promotes it.
func (e *Engine) takeTimed(j *job) bool {
	e.timed.mu.Lock()
	defer e.timed.mu.Unlock()
	if e.timed.m[j.id] != j {
		return false
	}
	delete(e.timed.m, j.id)
	return true
}

// liveSet records the tasks the live paths (dispatch, re-registration) took
// in hand until startup recovery is over, so recovery, which works from
// pages read earlier, leaves them alone: a page read before a series ran
// would otherwise run that occurrence again (a recurring row stays
// recoverable after a run). Only rows created before recovery's cutoff can
// be on its pages, so only those are recorded: the set holds what the live
// paths touched of the old rows, never the backlog, and is dropped when
// recovery ends.
type liveSet struct {
	mu     sync.Mutex
	m      map[uuid.UUID]struct{}
	cutoff time.Time // recovery's cutoff, once Start set it
	done   bool      // recovery finished: nothing to record
}

// mark records that a live path took the task whose row was created at
// created.
func (l *liveSet) mark(id uuid.UUID, created time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.done || (!l.cutoff.IsZero() && !created.Before(l.cutoff)) {
		return
	}
	if l.m == nil {
		l.m = map[uuid.UUID]struct{}{}
	}
	l.m[id] = struct{}{}
}

// taken is recovery's side: whether a live path took the task.
func (l *liveSet) taken(id uuid.UUID) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, ok := l.m[id]
	return ok
}

func (l *liveSet) start(cutoff time.Time) {
	l.mu.Lock()
	l.cutoff = cutoff
	l.mu.Unlock()
}

func (l *liveSet) finish() {
	l.mu.Lock()
	l.m, l.done = nil, true
	l.mu.Unlock()
}
