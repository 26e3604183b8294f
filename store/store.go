package store

import (
	"context"
	"time"

	"github.com/google/uuid"
)

// Store persists tasks. It is the core contract every provider implements;
// the optional interfaces in capability.go add batches, atomic recurring
// steps, counts, retention and the recovery counter.
//
// Rules for every method unless its comment says otherwise:
//   - It is safe for concurrent use.
//   - ctx bounds the call. When ctx ends first the method returns ctx.Err()
//     (possibly wrapped); a write may or may not have been applied, exactly
//     as after ErrUnavailable.
//   - Returned values are copies: the caller may keep and modify them.
//   - Times are returned as NormalizeTime gives them.
//   - A store that owns resources has a Close() error method (not part of
//     the interface: a store over a pool the caller gave does not close
//     it); after Close every method returns ErrClosed.
type Store interface {
	// Persist writes a new row. task.Validate must pass (else ErrInvalid).
	// A task key another row holds gives ErrDuplicateKey and writes nothing;
	// an id that already exists gives ErrInvalid and changes nothing.
	// Persist writes no audit row: the initial status is not audited.
	Persist(ctx context.Context, task *Task) error

	// UpdateDefinition overwrites the definition fields of an existing row
	// (see DefinitionFields) and nothing else: status, counters, audits and
	// logs are kept. ErrNotFound when the row does not exist; ErrDuplicateKey
	// when the new key belongs to another row.
	UpdateDefinition(ctx context.Context, task *Task) error

	// Remove deletes a row with its audits and logs, atomically.
	// ErrNotFound when the row does not exist.
	Remove(ctx context.Context, id uuid.UUID) error

	// Get returns the row with the id, or ErrNotFound.
	Get(ctx context.Context, id uuid.UUID) (*Task, error)

	// GetByKey returns the row holding the task key, or ErrNotFound (also for
	// the empty key).
	GetByKey(ctx context.Context, key string) (*Task, error)

	// List returns one page of the rows matching the filter, in keyset order
	// over (CreatedAt, ID): newest first unless Filter.Oldest.
	List(ctx context.Context, filter Filter) (Page, error)

	// RetrievePending returns up to Limit rows that are recoverable at
	// params.Now (Task.Recoverable), strictly after params.After in
	// ascending (CreatedAt, ID) order, ties on CreatedAt broken by ID. Rows
	// created at or after CreatedBefore (when set) are left out.
	RetrievePending(ctx context.Context, params PendingParams) ([]*Task, error)

	// Transition changes a row's status when its conditions hold, writing
	// the row and the status audit (when StatusAuditRequired says so) in one
	// atomic step. It reports whether it applied: false, nil means a
	// condition did not hold and nothing was written. ErrNotFound when the
	// row does not exist. See TransitionParams for what is written.
	Transition(ctx context.Context, params TransitionParams) (applied bool, err error)

	// RunCount returns the row's real executions so far; ErrNotFound when
	// the row does not exist.
	RunCount(ctx context.Context, id uuid.UUID) (int, error)

	// UpdateCurrentRun records one execution of a recurring series without
	// changing its status: RunCount+1 (saturating at MaxRunCount), NextRunAt
	// set to params.NextRunAt (zero ends the series), and a runs audit per
	// RunsAuditRequired with the row's current status and error, all in one
	// atomic step. LastExecutionAt is not touched and params.Status and
	// params.Error are ignored. ErrNotFound when the row does not exist.
	UpdateCurrentRun(ctx context.Context, params RunParams) error

	// SaveLogs appends captured execution logs of a task. An empty slice
	// writes nothing and touches nothing. The task must exist (ErrNotFound).
	SaveLogs(ctx context.Context, taskID uuid.UUID, logs []ExecutionLog) error

	// Logs returns every execution log of a task ordered by (ID, Seq). For
	// a task that does not exist it returns either no logs or ErrNotFound
	// (both are allowed; this holds for the audit reads too).
	Logs(ctx context.Context, taskID uuid.UUID) ([]ExecutionLog, error)

	// LogsPage returns one page of a task's logs in the order of Logs, and
	// the count of logs matching the level filter.
	LogsPage(ctx context.Context, query LogQuery) (LogPage, error)

	// StatusAudits returns the status audits of a task, newest first.
	StatusAudits(ctx context.Context, taskID uuid.UUID) ([]StatusAudit, error)

	// RunsAudits returns the runs audits of a task, newest first.
	RunsAudits(ctx context.Context, taskID uuid.UUID) ([]RunsAudit, error)
}

// DefinitionFields names what UpdateDefinition overwrites: Kind, Payload,
// Handler, Queue, Key, Metadata, AuditLevel, ScheduledAt, Recurring, Schedule,
// ScheduleInfo, MaxRuns, RunUntil and NextRunAt. (Unlike the original, the
// audit level of a re-dispatch is kept: it is part of the definition.)
const DefinitionFields = "Kind Payload Handler Queue Key Metadata AuditLevel ScheduledAt Recurring Schedule ScheduleInfo MaxRuns RunUntil NextRunAt"

// ApplyDefinition copies the definition fields of src onto dst; stores
// without SQL use it so they agree with DefinitionFields.
func ApplyDefinition(dst, src *Task) {
	dst.Kind = src.Kind
	dst.Payload = cloneBytes(src.Payload)
	dst.Handler = src.Handler
	dst.Queue = src.Queue
	dst.Key = src.Key
	dst.Metadata = cloneMetadata(src.Metadata)
	dst.AuditLevel = src.AuditLevel
	dst.ScheduledAt = NormalizeTime(src.ScheduledAt)
	dst.Recurring = src.Recurring
	dst.Schedule = cloneBytes(src.Schedule)
	dst.ScheduleInfo = src.ScheduleInfo
	dst.MaxRuns = src.MaxRuns
	dst.RunUntil = NormalizeTime(src.RunUntil)
	dst.NextRunAt = NormalizeTime(src.NextRunAt)
}

// TransitionParams describes one status change.
//
// What is written when it applies:
//   - Status = To;
//   - when To is Completed, Failed or ServiceStopped: LastExecutionAt = Now
//     and ExecutionTime = ExecutionTime;
//   - when To is terminal (those three and Cancelled): Error = Error, so a
//     success clears the error of an earlier run; other statuses keep it;
//   - a status audit {Now, To, Error} when StatusAuditRequired(AuditLevel,
//     To, Error).
type TransitionParams struct {
	ID uuid.UUID
	To Status

	// From, when not empty, makes the change conditional on the row's
	// current status being one of these (compare-and-set).
	From []Status
	// IfRecoverable makes the change conditional on Task.Recoverable(Now).
	// With From, both must hold.
	IfRecoverable bool

	Now           time.Time
	Error         string
	ExecutionTime time.Duration
	AuditLevel    AuditLevel

	// Lease, with To InProgress, claims the row: Owner = Lease.Owner and
	// LeaseUntil = store clock + Lease.For. Cluster stores only (see
	// Cluster); a transition to any other status clears Owner and
	// LeaseUntil.
	Lease *Lease
	// HeldBy fences the write: it applies only while HeldBy holds the row's
	// lease at the store's clock (Task.Holds). A fenced write that applies
	// also sets RecoveryFailures to 0: the holder finished its work, so the
	// take-overs before it were no poison pill. Cluster stores only.
	HeldBy string
}

// Validate checks the params; the error wraps ErrInvalid.
func (p *TransitionParams) Validate() error {
	if p.ID == uuid.Nil {
		return errInvalid("zero task id")
	}
	if !p.To.Valid() {
		return errInvalid("unknown target status %q", p.To)
	}
	for _, s := range p.From {
		if !s.Valid() {
			return errInvalid("unknown from status %q", s)
		}
	}
	if !p.AuditLevel.Valid() {
		return errInvalid("unknown audit level %d", p.AuditLevel)
	}
	if p.Now.IsZero() {
		return errInvalid("transition of %s has no time", p.ID)
	}
	if p.Lease != nil && (p.To != StatusInProgress || p.Lease.Owner == "" || p.Lease.For <= 0) {
		return errInvalid("a lease claims a row InProgress for an owner and a positive time")
	}
	return nil
}

// Allows reports whether a row in its current state satisfies the
// conditions of p. Stores that evaluate conditions in Go use it.
func (p *TransitionParams) Allows(t *Task) bool {
	if len(p.From) > 0 {
		ok := false
		for _, s := range p.From {
			if t.Status == s {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return !p.IfRecoverable || t.Recoverable(p.Now)
}

// AllowsAt is Allows with the lease rules of a Cluster store, at the
// store's clock storeNow: IfRecoverable also needs no live lease on the row,
// and HeldBy needs HeldBy to hold it.
func (p *TransitionParams) AllowsAt(t *Task, storeNow time.Time) bool {
	if !p.Allows(t) {
		return false
	}
	if p.IfRecoverable && t.LeaseLive(storeNow) {
		return false
	}
	return p.HeldBy == "" || t.Holds(p.HeldBy, storeNow)
}

// ApplyAt is Apply with the lease fields of a Cluster store: a Lease claims
// the row until storeNow + Lease.For, any other transition clears Owner and
// LeaseUntil, and a fenced write clears RecoveryFailures.
func (p *TransitionParams) ApplyAt(t *Task, storeNow time.Time) {
	p.Apply(t)
	if p.Lease != nil {
		t.Owner, t.LeaseUntil = p.Lease.Owner, NormalizeTime(storeNow.Add(p.Lease.For))
	} else if p.To != StatusInProgress {
		t.Owner, t.LeaseUntil = "", time.Time{}
	}
	if p.HeldBy != "" {
		t.RecoveryFailures = 0
	}
}

// Apply writes the row changes of p onto t (not the audit). Stores that
// evaluate transitions in Go use it so they agree with the rules above.
func (p *TransitionParams) Apply(t *Task) {
	t.Status = p.To
	if p.To.stampsLastExecution() {
		t.LastExecutionAt = NormalizeTime(p.Now)
		t.ExecutionTime = p.ExecutionTime.Truncate(time.Microsecond)
	}
	if p.To.Terminal() {
		t.Error = p.Error
	}
}

// RunParams describes the accounting of one recurring execution.
type RunParams struct {
	ID  uuid.UUID
	Now time.Time // time of the run's end: audit time and LastExecutionAt

	// Status is the outcome for CompleteRecurringRun: Completed or Failed.
	// UpdateCurrentRun ignores it and audits the row's current status.
	Status        Status
	Error         string
	ExecutionTime time.Duration
	// NextRunAt is the next occurrence; zero ends the series.
	NextRunAt  time.Time
	AuditLevel AuditLevel
	// HeldBy fences CompleteRecurringRun as TransitionParams.HeldBy fences
	// a transition (Cluster stores only; UpdateCurrentRun ignores it).
	HeldBy string
}

// Validate checks the params; the error wraps ErrInvalid.
func (p *RunParams) Validate() error {
	if p.ID == uuid.Nil {
		return errInvalid("zero task id")
	}
	if p.Now.IsZero() {
		return errInvalid("run of %s has no time", p.ID)
	}
	if !p.AuditLevel.Valid() {
		return errInvalid("unknown audit level %d", p.AuditLevel)
	}
	return nil
}

// ValidateEnd checks the params of CompleteRecurringRun: Validate, and a
// Status that ends a run (Completed or Failed).
func (p *RunParams) ValidateEnd() error {
	if err := p.Validate(); err != nil {
		return err
	}
	if p.Status != StatusCompleted && p.Status != StatusFailed {
		return errInvalid("a run of %s ends Completed or Failed, not %q", p.ID, p.Status)
	}
	return nil
}

// Cursor is a position in keyset order over (CreatedAt, ID).
type Cursor struct {
	CreatedAt time.Time
	ID        uuid.UUID
}

// IsZero reports whether c is the start position.
func (c Cursor) IsZero() bool { return c.CreatedAt.IsZero() && c.ID == uuid.Nil }

// CursorOf returns the position of a task.
func CursorOf(t *Task) Cursor { return Cursor{CreatedAt: t.CreatedAt, ID: t.ID} }

// Less reports whether a sorts before b in ascending (CreatedAt, ID) order.
// IDs compare as their 16 bytes, which for UUIDv7 is creation order.
func (a Cursor) Less(b Cursor) bool {
	if !a.CreatedAt.Equal(b.CreatedAt) {
		return a.CreatedAt.Before(b.CreatedAt)
	}
	return compareIDs(a.ID, b.ID) < 0
}

func compareIDs(a, b uuid.UUID) int {
	for i := range a {
		if a[i] != b[i] {
			if a[i] < b[i] {
				return -1
			}
			return 1
		}
	}
	return 0
}

// Filter selects rows for List. Empty fields do not filter.
type Filter struct {
	Statuses  []Status
	Queue     string // exact
	Kind      string // exact
	Key       string // exact
	Recurring *bool
	// CreatedFrom (inclusive) and CreatedBefore (exclusive) bound CreatedAt.
	CreatedFrom   time.Time
	CreatedBefore time.Time
	// Search matches rows whose Kind, Handler or Key contains it, ignoring
	// case (simple Unicode case folding). It is plain text, never a pattern.
	// No index serves it: a search that matches little reads every row the
	// other filters select, unless ScanLimit bounds it.
	Search string
	// ScanLimit, when positive and Search is set, bounds the rows one List
	// call tests against Search: at most the first ScanLimit rows past After,
	// in the page's order, that pass the other filters (a store may test
	// fewer; rows written during the call may add a few). When the call stops there before the page is full, the page
	// holds the matches found, Page.ScanLimited is set and Next continues
	// after the last row tested, even when the page is empty; paging on
	// finds every match once, in order. Zero or negative: no bound.
	ScanLimit int

	// Limit is the page size: 0 means DefaultListLimit, more than
	// MaxListLimit is clipped, negative is ErrInvalid.
	Limit int
	// After continues after this position (the Next of a previous page).
	After Cursor
	// Oldest orders ascending; the default is newest first.
	Oldest bool
}

// Page sizes for List.
const (
	DefaultListLimit = 50
	MaxListLimit     = 1000
)

// Page is one page of List.
type Page struct {
	Tasks []*Task
	// Next is the cursor to pass as Filter.After for the following page, or
	// nil when this page is the last one.
	Next *Cursor
	// ScanLimited reports that the page ended at Filter.ScanLimit, not at
	// Limit: rows past Next were not searched yet (Next is set).
	ScanLimited bool
}

// Page is the page of a List read that asked for f.Limit+1 rows in f's
// order, after Normalize: the first Limit rows, and a Next cursor at the
// last of them when the row more came (so a next page exists).
func (f *Filter) Page(tasks []*Task) Page {
	if len(tasks) <= f.Limit {
		return Page{Tasks: tasks}
	}
	tasks = tasks[:f.Limit]
	next := CursorOf(tasks[len(tasks)-1])
	return Page{Tasks: tasks, Next: &next}
}

// PendingParams selects a page for RetrievePending.
type PendingParams struct {
	After         Cursor    // start after this position; zero: from the start
	Limit         int       // 0 means DefaultPendingLimit; negative is ErrInvalid
	Now           time.Time // the time Recoverable is evaluated at
	CreatedBefore time.Time // when set, only rows created strictly before it
}

// DefaultPendingLimit is the recovery page size.
const DefaultPendingLimit = 100

// LogQuery selects a page of a task's execution logs.
type LogQuery struct {
	TaskID uuid.UUID
	Offset int    // rows to skip; negative is ErrInvalid
	Limit  int    // 0 means DefaultLogLimit; negative is ErrInvalid
	Level  string // when set, only logs of this level (exact, ignoring case)
}

// DefaultLogLimit is the default page size of LogsPage.
const DefaultLogLimit = 100

// LogPage is one page of LogsPage.
type LogPage struct {
	Logs  []ExecutionLog
	Total int // logs matching the level filter, over all pages
}

// NormalizeLimit applies the default and the bounds of a page size.
func NormalizeLimit(limit, def, maxLimit int) (int, error) {
	switch {
	case limit < 0:
		return 0, errInvalid("negative limit %d", limit)
	case limit == 0:
		return def, nil
	case maxLimit > 0 && limit > maxLimit:
		return maxLimit, nil
	}
	return limit, nil
}
