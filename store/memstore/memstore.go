package memstore

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/evertask/evertask/store"
	"github.com/google/uuid"
)

var (
	_ store.Store             = (*Store)(nil)
	_ store.RecurringStore    = (*Store)(nil)
	_ store.BatchStore        = (*Store)(nil)
	_ store.RecoveryCounter   = (*Store)(nil)
	_ store.Counter           = (*Store)(nil)
	_ store.Retainer          = (*Store)(nil)
	_ store.Cluster           = (*Store)(nil)
	_ store.ClaimingPersister = (*Store)(nil)
	_ store.Notifier          = (*Store)(nil)
	_ store.Stats             = (*Store)(nil)
	_ store.AttemptStore      = (*Store)(nil)
	_ store.LogTrimmer        = (*Store)(nil)
)

// Store is the in-memory store. The zero value is not usable; call New.
type Store struct {
	mu     sync.RWMutex
	closed bool

	byID     map[uuid.UUID]*row
	byKey    map[string]*row
	all      btree            // every row
	byStatus [numStatus]btree // rows per final status (see statusTree)
	pending  btree            // rows open or that may be recoverable (see inPending)
	queues   map[string]*queueCount

	auditSeq int64 // last StatusAudit/RunsAudit/Attempt id handed out

	// Cluster mode (cluster.go): the claim indexes, built on first use,
	// and the node registry.
	cluster bool
	held    btree // InProgress rows, in keyset order
	nodes   map[string]*store.Node

	hub hub // the Notifier's subscriptions

	paused map[string]time.Time // QueuePauser: paused queue -> since

	// stats holds the counters of store.Stats (stats.go) by Unix minute.
	stats map[int64]map[statsKey]statsCount
}

// queueCount counts a queue's rows per status.
type queueCount struct {
	n     [numStatus]int
	total int
	// due holds the queue's claimable rows by due time once Claim or
	// Rescue was called (see cluster.go); nil before, so a queue that
	// empties and fills again costs no more than without it.
	due *btree
}

const numStatus = 8

// statusIndex maps a valid status to its slot in Store.byStatus.
func statusIndex(s store.Status) int {
	switch s {
	case store.StatusWaitingQueue:
		return 0
	case store.StatusQueued:
		return 1
	case store.StatusInProgress:
		return 2
	case store.StatusPending:
		return 3
	case store.StatusCancelled:
		return 4
	case store.StatusCompleted:
		return 5
	case store.StatusFailed:
		return 6
	case store.StatusServiceStopped:
		return 7
	}
	panic("memstore: unknown status " + string(s)) // callers validate first
}

// statusTree is the index of the rows of status slot i in keyset order:
// byStatus for the final statuses, and for the statuses a row passes
// through before it finishes, the pending index, which holds every such row
// (see inPending). A claim (Queued -> InProgress) thus moves no index
// entry, and a completion one less; List by one of them filters the pending
// index by status. Counts come from the queue counters.
func (s *Store) statusTree(i uint8) *btree {
	if openStatus(i) {
		return &s.pending
	}
	return &s.byStatus[i]
}

// openStatus reports whether status slot i is one a row passes through
// before it finishes.
func openStatus(i uint8) bool { return indexStatus[i].Open() }

var indexStatus = [numStatus]store.Status{
	store.StatusWaitingQueue, store.StatusQueued, store.StatusInProgress, store.StatusPending,
	store.StatusCancelled, store.StatusCompleted, store.StatusFailed, store.StatusServiceStopped,
}

// New returns an empty store.
func New() *Store {
	return &Store{
		byID:   make(map[uuid.UUID]*row),
		byKey:  make(map[string]*row),
		queues: make(map[string]*queueCount),
	}
}

// Close makes every later call return store.ErrClosed, drops the rows and
// ends the Notifier's subscriptions. Closing twice is safe.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	s.byID, s.byKey, s.queues = nil, nil, nil
	s.all, s.pending, s.byStatus = btree{}, btree{}, [numStatus]btree{}
	s.cluster, s.held, s.nodes, s.paused = false, btree{}, nil, nil
	s.stats = nil
	s.hub.close()
	return nil
}

// begin checks what every call checks before taking the lock.
func begin(ctx context.Context) error {
	return ctx.Err()
}

// checkNew reports why r cannot be inserted. Callers hold the lock.
func (s *Store) checkNew(r *row) error {
	if _, ok := s.byID[r.ID]; ok {
		return fmt.Errorf("%w: task %s already exists", store.ErrInvalid, r.ID)
	}
	if r.Key != "" {
		if _, ok := s.byKey[r.Key]; ok {
			return fmt.Errorf("persist task %s: %w", r.ID, store.ErrDuplicateKey)
		}
	}
	return nil
}

// insert indexes a new row. Callers hold the lock and ran checkNew.
func (s *Store) insert(r *row) {
	s.byID[r.ID] = r
	if r.Key != "" {
		s.byKey[r.Key] = r
	}
	e := entry{k: r.key(), r: r}
	s.all.insert(e)
	if !openStatus(r.st) {
		s.byStatus[r.st].insert(e)
	}
	s.countQueue(r)
	s.reindexPending(r)
}

// delete drops a row and its children from every index and recycles it;
// callers hold no reference to r afterwards.
func (s *Store) delete(r *row) {
	delete(s.byID, r.ID)
	if r.Key != "" {
		delete(s.byKey, r.Key)
	}
	k := r.key()
	s.all.delete(k)
	if !openStatus(r.st) {
		s.byStatus[r.st].delete(k)
	}
	if s.cluster {
		s.unindexCluster(r)
	}
	s.uncountQueue(r)
	if r.pending {
		s.pending.delete(k)
		r.pending = false
	}
	recycle(r)
}

func (s *Store) countQueue(r *row) {
	q := s.queues[r.Queue]
	if q == nil {
		q = &queueCount{}
		s.queues[r.Queue] = q
	}
	q.n[r.st]++
	q.total++
	r.q = q
}

func (s *Store) uncountQueue(r *row) {
	r.q.n[r.st]--
	r.q.total--
	if r.q.total == 0 {
		delete(s.queues, r.Queue)
	}
	r.q = nil
}

// statusChanged moves a row whose status index went from oi to r.st.
func (s *Store) statusChanged(r *row, oi uint8) {
	if ni := r.st; oi != ni {
		if !openStatus(oi) {
			s.byStatus[oi].delete(r.key())
		}
		if !openStatus(ni) {
			s.byStatus[ni].insert(entry{k: r.key(), r: r})
		}
		r.q.n[oi]--
		r.q.n[ni]++
	}
	s.reindexPending(r)
}

// reindexPending puts the row in or out of the pending index after any
// change of its status or of the fields mayRecover reads, and does the same
// for the cluster indexes once they are in use (see reindexCluster).
func (s *Store) reindexPending(r *row) {
	if want := r.inPending(); want != r.pending {
		if want {
			s.pending.insert(entry{k: r.key(), r: r})
		} else {
			s.pending.delete(r.key())
		}
		r.pending = want
	}
	if s.cluster {
		s.reindexCluster(r)
	}
}

func (s *Store) addStatusAudit(r *row, at time.Time, st store.Status, errText string) {
	s.auditSeq++
	if r.statusAudits == nil {
		r.statusAudits = make([]store.StatusAudit, 0, 3) // a clean run at Full writes 3
	}
	r.statusAudits = append(r.statusAudits, store.StatusAudit{
		ID: s.auditSeq, TaskID: r.ID, At: store.NormalizeTime(at), Status: st, Error: errText,
	})
}

func (s *Store) addRunsAudit(r *row, at time.Time, d time.Duration, st store.Status, errText string) {
	s.auditSeq++
	h := r.history()
	h.runsAudits = append(h.runsAudits, store.RunsAudit{
		ID: s.auditSeq, TaskID: r.ID, ExecutedAt: store.NormalizeTime(at),
		ExecutionTime: d.Truncate(time.Microsecond), Status: st, Error: errText,
	})
}

// lookup returns the row of id under a held lock.
func (s *Store) lookup(id uuid.UUID) (*row, error) {
	if s.closed {
		return nil, store.ErrClosed
	}
	r := s.byID[id]
	if r == nil {
		return nil, fmt.Errorf("task %s: %w", id, store.ErrNotFound)
	}
	return r, nil
}

// transition applies p to r when its conditions hold. Callers hold the lock.
//
// The clock is read only when a lease rule needs it: a fence, a lease, or
// IfRecoverable on a row that has an owner (without one, no lease is live).
// Otherwise AllowsAt and ApplyAt get the zero time and work as Allows and
// Apply, plus the release of the lease fields.
func (s *Store) transition(r *row, p *store.TransitionParams) bool {
	t := r.state()
	var now time.Time
	if p.HeldBy != "" || p.Lease != nil || p.IfRecoverable && r.Owner != "" {
		now = clock()
	}
	if !p.AllowsAt(&t, now) {
		return false
	}
	old := r.st
	p.ApplyAt(&t, now)
	r.applyState(&t)
	s.statusChanged(r, old)
	s.countEnd(r.Kind, p.To, p.Now, p.ExecutionTime)
	if store.StatusAuditRequired(p.AuditLevel, p.To, p.Error) {
		s.addStatusAudit(r, p.Now, p.To, p.Error)
	}
	return true
}
