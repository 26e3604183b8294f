package memstore

import (
	"encoding/binary"
	"maps"
	"math"
	"sync"
	"time"

	"github.com/evertask/evertask/store"
	"github.com/google/uuid"
)

// row is one task as the store keeps it, with its child collections and
// index bookkeeping.
//
// It is a compact copy of store.Task, not a store.Task, because its size is
// what a big store costs: every persist allocates one and every garbage
// collection scans every live one. Times are Unix microseconds (exact at
// the precision stores keep) and the status is a small index, which takes
// the row from 448 to 320 bytes and from about 20 pointer words to 12. The
// pointer-holding fields come first so the collector's scan of a row stays
// in its first cache lines. The rarely used collections live behind a
// pointer.
type row struct {
	Kind, Handler, Queue, Key, Error, ScheduleInfo, Owner string
	Payload, Schedule                                     []byte
	q                                                     *queueCount
	statusAudits                                          []store.StatusAudit
	more                                                  *rowHistory // nil until a runs audit or log is written

	ID uuid.UUID
	// Unix microseconds, noTime for the zero time.
	created, scheduled, lastExec, runUntil, nextRun, leaseUntil int64
	dueUs                                                       int64 // the DueAt the row is indexed under in its queue's due tree
	ExecutionTime                                               time.Duration
	RunCount, MaxRuns, RecoveryFailures                         int
	st                                                          uint8 // statusIndex of the status
	AuditLevel                                                  store.AuditLevel
	Recurring                                                   bool
	pending                                                     bool // in Store.pending
	inDue, inHeld                                               bool // in queueCount.due, in Store.held (see cluster.go)
}

// rowHistory holds the collections one-shot tasks rarely have, and the
// metadata, which most tasks have not either.
type rowHistory struct {
	metadata   map[string]string // never empty: nil for no entries
	runsAudits []store.RunsAudit
	logs       []store.ExecutionLog // ordered by (ID, Seq)
	attempts   []store.Attempt      // ordered by ID
}

// noTime stands for the zero time.Time ("not set"); no time a store keeps
// is that far back.
const noTime = math.MinInt64

// micros is NormalizeTime as a number: UnixMicro rounds down, as
// Truncate(time.Microsecond) does.
func micros(t time.Time) int64 {
	if t.IsZero() {
		return noTime
	}
	return t.UnixMicro()
}

// at is the time.Time of a micros value, as NormalizeTime gives it.
func at(us int64) time.Time {
	if us == noTime {
		return time.Time{}
	}
	return time.UnixMicro(us).UTC()
}

func (r *row) status() store.Status { return indexStatus[r.st] }

func (r *row) createdAt() time.Time { return at(r.created) }

// key is the row's position in keyset order; CreatedAt and ID never change.
func (r *row) key() ikey {
	return ikey{
		us: r.created,
		hi: binary.BigEndian.Uint64(r.ID[:8]),
		lo: binary.BigEndian.Uint64(r.ID[8:]),
	}
}

func (r *row) history() *rowHistory {
	if r.more == nil {
		r.more = &rowHistory{}
	}
	return r.more
}

// rowPool recycles the rows Remove and Purge delete. A store under steady
// churn, retention deleting old rows while new ones arrive, then allocates
// almost nothing per task, which matters most for big stores, where every
// allocation lands on cold memory and brings the next collection of a large
// heap closer. sync.Pool drops what stays unused across collections, so an
// idle store holds no spare rows.
var rowPool = sync.Pool{New: func() any { return new(row) }}

// Recycled buffers up to these sizes are kept with a recycled row.
const (
	keepPayload = 1024
	keepAudits  = 8
)

// newRow copies a validated task into a row, outside the lock.
func newRow(t *store.Task) *row {
	r := rowPool.Get().(*row)
	payload, audits := r.Payload, r.statusAudits
	r.assign(t)
	r.Payload = appendBytes(payload, t.Payload)
	r.Schedule = cloneBytes(t.Schedule)
	if r.more != nil {
		r.more.metadata = maps.Clone(r.more.metadata)
	}
	r.statusAudits = audits
	return r
}

// recycle returns a row no index refers to any more to the pool, keeping
// its small buffers. The store never hands out its rows or their slices
// (every method copies), so nothing outside can see the reuse.
func recycle(r *row) {
	payload, audits := r.Payload, r.statusAudits
	clear(audits)
	*r = row{}
	if cap(payload) <= keepPayload {
		r.Payload = payload[:0]
	}
	if cap(audits) <= keepAudits {
		r.statusAudits = audits[:0]
	}
	rowPool.Put(r)
}

// appendBytes copies b into buf's memory when it fits; like cloneBytes it
// gives nil for an empty b.
func appendBytes(buf, b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return append(buf[:0], b...)
}

func cloneBytes(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte(nil), b...)
}

// assign copies every field of t onto r, normalizing as Task.Normalize
// does; the byte slices and the metadata map are shared, so callers clone
// them when t is not theirs.
func (r *row) assign(t *store.Task) {
	r.Kind, r.Handler, r.Queue, r.Key = t.Kind, t.Handler, t.Queue, t.Key
	r.Error, r.ScheduleInfo, r.Owner = t.Error, t.ScheduleInfo, t.Owner
	r.Payload, r.Schedule = t.Payload, t.Schedule
	r.ID = t.ID
	r.created, r.scheduled, r.lastExec = micros(t.CreatedAt), micros(t.ScheduledAt), micros(t.LastExecutionAt)
	r.runUntil, r.nextRun, r.leaseUntil = micros(t.RunUntil), micros(t.NextRunAt), micros(t.LeaseUntil)
	r.ExecutionTime = t.ExecutionTime.Truncate(time.Microsecond)
	r.RunCount, r.MaxRuns, r.RecoveryFailures = t.RunCount, t.MaxRuns, t.RecoveryFailures
	r.st = uint8(statusIndex(t.Status))
	r.AuditLevel = t.AuditLevel
	r.Recurring = t.Recurring
	switch {
	case len(t.Metadata) > 0:
		r.history().metadata = t.Metadata
	case r.more != nil:
		r.more.metadata = nil
	}
}

// fill writes every field of r onto t, sharing the byte slices.
func (r *row) fill(t *store.Task) {
	*t = store.Task{
		ID: r.ID, CreatedAt: at(r.created),
		Kind: r.Kind, Payload: r.Payload, Handler: r.Handler, Queue: r.Queue, Key: r.Key,
		Status: r.status(), AuditLevel: r.AuditLevel,
		ScheduledAt: at(r.scheduled), LastExecutionAt: at(r.lastExec),
		ExecutionTime: r.ExecutionTime, Error: r.Error,
		Recurring: r.Recurring, Schedule: r.Schedule, ScheduleInfo: r.ScheduleInfo,
		RunCount: r.RunCount, MaxRuns: r.MaxRuns, RunUntil: at(r.runUntil), NextRunAt: at(r.nextRun),
		RecoveryFailures: r.RecoveryFailures, Owner: r.Owner, LeaseUntil: at(r.leaseUntil),
	}
	if r.more != nil {
		t.Metadata = r.more.metadata
	}
}

// task returns a copy of the row for a caller.
func (r *row) task() *store.Task {
	t := new(store.Task)
	r.fill(t)
	t.Payload = cloneBytes(t.Payload)
	t.Schedule = cloneBytes(t.Schedule)
	if t.Metadata != nil {
		t.Metadata = maps.Clone(t.Metadata)
	}
	return t
}

// state returns the fields TransitionParams.AllowsAt reads (the status,
// those of Task.Recoverable and the lease) and those ApplyAt writes, so a
// transition runs the contract's own code without building the whole task.
func (r *row) state() store.Task {
	return store.Task{
		ID: r.ID, Status: r.status(), Recurring: r.Recurring, RunCount: r.RunCount, MaxRuns: r.MaxRuns,
		RunUntil: at(r.runUntil), NextRunAt: at(r.nextRun),
		LastExecutionAt: at(r.lastExec), ExecutionTime: r.ExecutionTime, Error: r.Error,
		RecoveryFailures: r.RecoveryFailures, Owner: r.Owner, LeaseUntil: at(r.leaseUntil),
	}
}

// applyState copies back what TransitionParams.ApplyAt writes: Status,
// LastExecutionAt, ExecutionTime, Error, RecoveryFailures and the lease.
func (r *row) applyState(t *store.Task) {
	r.st = uint8(statusIndex(t.Status))
	r.lastExec = micros(t.LastExecutionAt)
	r.ExecutionTime = t.ExecutionTime
	r.Error = t.Error
	r.RecoveryFailures = t.RecoveryFailures
	r.Owner, r.leaseUntil = t.Owner, micros(t.LeaseUntil)
}

// recoverable is Task.Recoverable on the row.
func (r *row) recoverable(now time.Time) bool {
	return store.Recoverable(r.status(), r.Recurring, r.RunCount, r.MaxRuns, at(r.runUntil), at(r.nextRun), now)
}

// mayRecover reports whether a row can be recoverable at some time: the
// recoverable predicate without its RunUntil rule, the only part that
// depends on the clock. The pending index holds exactly these rows, so
// RetrievePending evaluates RunUntil on them and never sees finished rows.
// inPending reports whether the row belongs in the pending index: it may
// be recoverable (RetrievePending checks the rest at its time), or its
// status is open (List by such a status walks that index).
func (r *row) inPending() bool {
	return openStatus(r.st) || r.mayRecover()
}

func (r *row) mayRecover() bool {
	return store.Recoverable(r.status(), r.Recurring, r.RunCount, r.MaxRuns, time.Time{}, at(r.nextRun), time.Time{})
}
