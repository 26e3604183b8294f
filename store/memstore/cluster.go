package memstore

import (
	"cmp"
	"context"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/evertask/evertask/store"
	"github.com/google/uuid"
)

// Cluster mode in one process: several engines sharing one Store (tests of
// the cluster engine, or a program that runs more than one engine). The
// store's clock is the process clock, and a node of the registry is never
// proven gone: it lives in this process, so it ends when the process does,
// with the store.
//
// Claim and Rescue read two indexes the single-process engine never needs,
// so they are built on the first call of either and maintained from then
// on; until then no write pays for them:
//
//   - per queue (queueCount.due), the rows that may be claimed (not
//     InProgress, recoverable but for RunUntil) by (DueAt, ID). The tree's
//     key has room for one time, so rows tied on DueAt are put in
//     (CreatedAt, ID) order by Claim itself;
//   - Store.held, the InProgress rows, which Rescue walks.

var (
	stQueued     = uint8(statusIndex(store.StatusQueued))
	stInProgress = uint8(statusIndex(store.StatusInProgress))
	stFailed     = uint8(statusIndex(store.StatusFailed))
)

// clock is the store's clock, as the stores keep times.
func clock() time.Time { return store.NormalizeTime(time.Now()) }

// dueAt is Task.DueAt in microseconds.
func (r *row) dueAt() int64 {
	switch {
	case r.nextRun != noTime:
		return r.nextRun
	case r.scheduled != noTime:
		return r.scheduled
	}
	return r.created
}

// dueKey is the row's position in its queue's due tree.
func (r *row) dueKey() ikey {
	k := r.key()
	k.us = r.dueUs
	return k
}

// mayClaim reports whether the row belongs in its queue's due tree: Claim
// may take it once due, if its RunUntil has not passed.
func (r *row) mayClaim() bool { return r.st != stInProgress && r.mayRecover() }

// enableCluster builds the cluster indexes on first use. Every row they can
// hold is open or may recover, so the pending index has them all.
func (s *Store) enableCluster() {
	if s.cluster {
		return
	}
	s.cluster = true
	s.pending.ascend(minKey, true, func(e *entry) bool {
		s.reindexCluster(e.r)
		return true
	})
}

// reindexCluster puts the row in or out of the cluster indexes after any
// change of its status, queue or of the fields DueAt and mayClaim read.
func (s *Store) reindexCluster(r *row) {
	if want := r.st == stInProgress; want != r.inHeld {
		if want {
			s.held.insert(entry{k: r.key(), r: r})
		} else {
			s.held.delete(r.key())
		}
		r.inHeld = want
	}
	want := r.mayClaim()
	if r.inDue && (!want || r.dueUs != r.dueAt()) {
		r.q.due.delete(r.dueKey())
		r.inDue = false
	}
	if want && !r.inDue {
		if r.q.due == nil {
			r.q.due = new(btree)
		}
		r.dueUs = r.dueAt()
		r.q.due.insert(entry{k: r.dueKey(), r: r})
		r.inDue = true
	}
}

// unindexCluster takes the row out of the cluster indexes, before it is
// deleted or moves to another queue.
func (s *Store) unindexCluster(r *row) {
	if r.inHeld {
		s.held.delete(r.key())
		r.inHeld = false
	}
	if r.inDue {
		r.q.due.delete(r.dueKey())
		r.inDue = false
	}
}

// Now implements store.Cluster: the process clock.
func (s *Store) Now(ctx context.Context) (time.Time, error) {
	if err := begin(ctx); err != nil {
		return time.Time{}, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return time.Time{}, store.ErrClosed
	}
	return clock(), nil
}

// Claim implements store.Cluster. The lock makes it atomic: a claimer never
// sees a row another one is taking.
func (s *Store) Claim(ctx context.Context, p store.ClaimParams) (store.ClaimResult, error) {
	if err := begin(ctx); err != nil {
		return store.ClaimResult{}, err
	}
	if err := p.Validate(); err != nil {
		return store.ClaimResult{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return store.ClaimResult{}, store.ErrClosed
	}
	s.enableCluster()
	now := clock()
	res := store.ClaimResult{StoreNow: now}
	q := s.queues[p.Queue]
	if q == nil || q.due == nil {
		return res, nil
	}
	nowUs := micros(now)
	// Due rows in (DueAt, ID) order; past the limit, only those tied with
	// the last one on DueAt, which the sort below may put first.
	var due, expired []*row
	q.due.ascend(minKey, true, func(e *entry) bool {
		r := e.r
		switch {
		case r.dueUs > nowUs || len(due) >= p.Limit && r.dueUs != due[len(due)-1].dueUs:
			return false
		case !r.recoverable(now):
			expired = append(expired, r)
		default:
			due = append(due, r)
		}
		return true
	})
	slices.SortStableFunc(due, func(a, b *row) int {
		if c := cmp.Compare(a.dueUs, b.dueUs); c != 0 {
			return c
		}
		return compareKeys(a.key(), b.key())
	})
	due = due[:min(len(due), p.Limit)]
	// The earliest row not due yet that is claimable.
	q.due.ascend(ikey{us: nowUs + 1}, true, func(e *entry) bool {
		if !e.r.recoverable(now) {
			expired = append(expired, e.r)
			return true
		}
		res.NextDue = at(e.r.dueUs)
		return false
	})
	// A row past its RunUntil stays unclaimable, since the clock only moves
	// on: it leaves the tree until a change of its definition puts it back.
	for _, r := range expired {
		q.due.delete(r.dueKey())
		r.inDue = false
	}
	until := micros(now.Add(p.LeaseFor))
	res.Tasks = make([]*store.Task, 0, len(due))
	for _, r := range due {
		if r.st != stQueued && store.StatusAuditRequired(r.AuditLevel, store.StatusQueued, "") {
			s.addStatusAudit(r, p.Now, store.StatusQueued, "")
		}
		old := r.st
		r.st = stInProgress
		r.Owner, r.leaseUntil = p.Owner, until
		s.statusChanged(r, old)
		if store.StatusAuditRequired(r.AuditLevel, store.StatusInProgress, "") {
			s.addStatusAudit(r, p.Now, store.StatusInProgress, "")
		}
		res.Tasks = append(res.Tasks, r.task())
	}
	return res, nil
}

// Renew implements store.Cluster.
func (s *Store) Renew(ctx context.Context, p store.RenewParams) ([]uuid.UUID, error) {
	if err := begin(ctx); err != nil {
		return nil, err
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, store.ErrClosed
	}
	now := clock()
	nowUs, until := micros(now), micros(now.Add(p.LeaseFor))
	var lost []uuid.UUID
	for _, id := range p.IDs {
		r := s.byID[id]
		if r == nil || r.st != stInProgress || r.Owner != p.Owner || r.leaseUntil <= nowUs {
			lost = append(lost, id)
			continue
		}
		r.leaseUntil = until
	}
	return lost, nil
}

// Rescue implements store.Cluster.
func (s *Store) Rescue(ctx context.Context, p store.RescueParams) ([]*store.Task, error) {
	if err := begin(ctx); err != nil {
		return nil, err
	}
	if err := p.Normalize(); err != nil {
		return nil, err
	}
	limit := p.Limit
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, store.ErrClosed
	}
	s.enableCluster()
	nowUs := micros(clock())
	var rows []*row
	s.held.ascend(minKey, true, func(e *entry) bool {
		r := e.r
		if r.Owner == "" || r.leaseUntil <= nowUs || slices.Contains(p.Owners, r.Owner) {
			rows = append(rows, r)
		}
		return len(rows) < limit
	})
	out := make([]*store.Task, 0, len(rows))
	for _, r := range rows {
		old := r.st
		r.RecoveryFailures++
		r.Owner, r.leaseUntil = "", noTime
		errText := ""
		if p.MaxFailures > 0 && r.RecoveryFailures >= p.MaxFailures {
			r.st, r.Error, errText = stFailed, p.PoisonError, p.PoisonError
			if r.Recurring {
				r.nextRun = noTime
			}
		} else {
			r.st = stQueued
		}
		s.statusChanged(r, old)
		if st := r.status(); store.StatusAuditRequired(r.AuditLevel, st, errText) {
			s.addStatusAudit(r, p.Now, st, errText)
		}
		out = append(out, r.task())
	}
	return out, nil
}

// JoinCluster implements store.Cluster. Nothing needs opening: the node
// lives in this process.
func (s *Store) JoinCluster(ctx context.Context, node store.Node) error {
	if err := begin(ctx); err != nil {
		return err
	}
	if err := node.Validate(); err != nil {
		return err
	}
	n := node
	n.StartedAt = store.NormalizeTime(n.StartedAt)
	n.Queues = maps.Clone(n.Queues)
	n.Gone = false
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return store.ErrClosed
	}
	if s.nodes == nil {
		s.nodes = make(map[string]*store.Node)
	}
	n.LastHeartbeat = clock()
	s.nodes[n.ID] = &n
	return nil
}

// LeaveCluster implements store.Cluster.
func (s *Store) LeaveCluster(ctx context.Context, nodeID string) error {
	if err := begin(ctx); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return store.ErrClosed
	}
	delete(s.nodes, nodeID)
	return nil
}

// Nodes implements store.Cluster, oldest first by StartedAt (then ID). No
// node is ever Gone: see the top of this file.
func (s *Store) Nodes(ctx context.Context) ([]store.Node, error) {
	if err := begin(ctx); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, store.ErrClosed
	}
	out := make([]store.Node, 0, len(s.nodes))
	for _, n := range s.nodes {
		c := *n
		c.Queues = maps.Clone(n.Queues)
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b store.Node) int {
		if c := a.StartedAt.Compare(b.StartedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out, nil
}

// subscriptionBuffer is how many notices a subscriber may fall behind
// before it loses some.
const subscriptionBuffer = 128

// hub fans notices out to the subscriptions of this process. It has its own
// lock, so notices never wait for the rows' lock.
type hub struct {
	mu     sync.Mutex
	closed bool
	// subs maps each subscription to the stop of its context.AfterFunc.
	subs map[chan store.Notice]func() bool
}

// close ends every subscription: Store.Close calls it.
func (h *hub) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for ch, stop := range h.subs {
		stop()
		close(ch)
	}
	h.subs = nil
}

// Publish implements store.Notifier. A subscriber whose buffer is full
// loses the notice: a slow reader never blocks a publisher.
func (s *Store) Publish(ctx context.Context, notices []store.Notice) error {
	if err := begin(ctx); err != nil {
		return err
	}
	h := &s.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return store.ErrClosed
	}
	for ch := range h.subs {
		for _, n := range notices {
			select {
			case ch <- n:
			default:
			}
		}
	}
	return nil
}

// Subscribe implements store.Notifier. The subscription is registered
// before it returns, and ends with ctx or with Close.
func (s *Store) Subscribe(ctx context.Context) (<-chan store.Notice, error) {
	if err := begin(ctx); err != nil {
		return nil, err
	}
	h := &s.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, store.ErrClosed
	}
	if h.subs == nil {
		h.subs = make(map[chan store.Notice]func() bool)
	}
	ch := make(chan store.Notice, subscriptionBuffer)
	h.subs[ch] = context.AfterFunc(ctx, func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		if _, ok := h.subs[ch]; ok { // Close may have ended it first
			delete(h.subs, ch)
			close(ch)
		}
	})
	return ch, nil
}

// PersistClaimed implements store.ClaimingPersister: the rows go in as
// PersistMany puts them, already InProgress under the lease, under one lock
// hold (all or none).
func (s *Store) PersistClaimed(ctx context.Context, p store.PersistClaimedParams) error {
	if err := begin(ctx); err != nil {
		return err
	}
	if err := p.Validate(); err != nil {
		return err
	}
	rows := make([]*row, len(p.Tasks))
	for i, t := range p.Tasks {
		rows[i] = newRow(t)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return store.ErrClosed
	}
	s.enableCluster()
	until := micros(clock().Add(p.LeaseFor))
	for i, r := range rows {
		if err := s.checkNew(r); err != nil {
			for _, done := range rows[:i] {
				s.delete(done)
			}
			return err
		}
		was := p.Tasks[i].Status
		r.st, r.Owner, r.leaseUntil = stInProgress, p.Owner, until
		s.insert(r)
		for _, st := range store.ClaimedAudits(r.AuditLevel, was) {
			s.addStatusAudit(r, p.Now, st, "")
		}
	}
	return nil
}
