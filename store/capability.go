package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// The optional capabilities. A store implements any of them to do the step
// atomically or in fewer round trips; the package functions of the same name
// detect them and otherwise fall back to the documented core calls.

// RecurringStore does the compound steps of a recurring series atomically.
// Every built-in store implements it.
type RecurringStore interface {
	// CompleteRecurringRun ends one execution of a series in one atomic step:
	// the transition to params.Status (Completed or Failed) with
	// LastExecutionAt, ExecutionTime and Error as Transition writes them,
	// RunCount+1 (saturating), NextRunAt = params.NextRunAt, the status audit
	// and the runs audit as the policy says. It applies only while the row is
	// InProgress (a cancel that landed meanwhile wins) and reports whether it
	// applied. params.Status must be Completed or Failed (else ErrInvalid);
	// ErrNotFound when the row does not exist.
	CompleteRecurringRun(ctx context.Context, params RunParams) (applied bool, err error)

	// EndSeries ends a series without counting a run: Status = params.Status
	// (Completed for a series that ran out, Failed for a poisoned one),
	// Error = params.Error, NextRunAt cleared, a status audit as the policy
	// says, in one atomic step; LastExecutionAt and ExecutionTime are kept,
	// since no execution happened. A Cancelled row is left as it is (applied
	// is false). ErrNotFound when the row does not exist.
	EndSeries(ctx context.Context, params EndSeriesParams) (applied bool, err error)
}

// EndSeriesParams describes the end of a recurring series.
type EndSeriesParams struct {
	ID         uuid.UUID
	Status     Status // Completed or Failed
	Error      string
	Now        time.Time
	AuditLevel AuditLevel
}

// Validate checks the params; the error wraps ErrInvalid.
func (p *EndSeriesParams) Validate() error {
	if p.ID == uuid.Nil {
		return errInvalid("zero task id")
	}
	if p.Status != StatusCompleted && p.Status != StatusFailed {
		return errInvalid("a series ends Completed or Failed, not %q", p.Status)
	}
	if p.Now.IsZero() {
		return errInvalid("end of series %s has no time", p.ID)
	}
	if !p.AuditLevel.Valid() {
		return errInvalid("unknown audit level %d", p.AuditLevel)
	}
	return nil
}

// BatchStore writes many rows or transitions in one round trip.
type BatchStore interface {
	// PersistMany writes new rows, all or none: one invalid task is
	// ErrInvalid, one held key is ErrDuplicateKey, and nothing is written.
	PersistMany(ctx context.Context, tasks []*Task) error

	// TransitionMany applies transitions, each atomic with its audit as in
	// Transition, in as few round trips as the store can. applied[i] tells
	// whether params[i] applied; a missing row reports false. After an error
	// any subset may have applied; the conditional ones are safe to retry.
	TransitionMany(ctx context.Context, params []TransitionParams) (applied []bool, err error)
}

// WriteConcurrency tells the engine how many batched writes of one kind it
// should keep in flight at once: 1 for a store that serializes writes (a
// single-writer database, an in-process lock), more for a server that runs
// transactions in parallel. A store without it gets 1.
type WriteConcurrency interface {
	MaxConcurrentWrites() int
}

// RecoveryCounter keeps the poison counter of startup recovery on the row.
// Without it the engine counts in its own memory, so the count starts again
// at 0 with each process: failures in successive starts do not add up to
// Config.MaxRecoveryFailures.
type RecoveryCounter interface {
	// IncrementRecoveryFailures adds one to RecoveryFailures and returns the
	// new value, atomically. ErrNotFound when the row does not exist.
	IncrementRecoveryFailures(ctx context.Context, id uuid.UUID) (int, error)
	// ClearRecoveryFailures sets RecoveryFailures to 0. ErrNotFound when the
	// row does not exist.
	ClearRecoveryFailures(ctx context.Context, id uuid.UUID) error
}

// Counter gives the dashboard counts without reading rows.
type Counter interface {
	// CountByStatus counts rows per status; only statuses with rows appear.
	CountByStatus(ctx context.Context, params CountParams) (map[Status]int, error)
	// CountByQueue counts rows per queue and status.
	CountByQueue(ctx context.Context, params CountParams) (map[string]map[Status]int, error)
}

// CountParams narrows the counts.
type CountParams struct {
	CreatedFrom time.Time // when set, only rows created at or after it
}

// Retainer deletes old history in bounded batches.
type Retainer interface {
	// Purge deletes what the policy says is old, in batches of
	// policy.BatchSize rows per statement, until nothing is left to delete
	// or ctx ends. Ages of zero or less disable their rule: they never mean
	// "delete everything".
	Purge(ctx context.Context, policy RetentionPolicy) (PurgeResult, error)
}

// RetentionPolicy says which history is old enough to delete. Every age <= 0
// disables its rule.
type RetentionPolicy struct {
	Now time.Time

	// StatusAuditAge and RunsAuditAge delete audit rows older than them.
	StatusAuditAge time.Duration
	RunsAuditAge   time.Duration
	// ErrorAuditAge, when set, replaces the two ages above for audit rows
	// that carry an error, so failures can be kept longer.
	ErrorAuditAge time.Duration
	// LogAge deletes execution logs older than it.
	LogAge time.Duration
	// CompletedTaskAge deletes Completed one-shot rows whose last execution
	// (or creation) is older than it, with their audits and logs.
	CompletedTaskAge time.Duration
	// FailedTaskAge does the same for Failed and Cancelled one-shot rows.
	FailedTaskAge time.Duration
	// StatsAge deletes the counters of a Stats store whose minute is older
	// than it: overviews of older windows then count nothing.
	StatsAge time.Duration

	// BatchSize is the most rows one delete statement touches: 0 means
	// DefaultPurgeBatch.
	BatchSize int

	// Progress, when set, is called by Purge after each batch with what it
	// has deleted so far, from the goroutine that called Purge. It must not
	// call the store.
	Progress func(PurgeResult)
}

// PurgeCounter counts what a purge would delete, so a caller can show how
// far a long purge has come (the CLI's progress bar). The counts are those
// Purge would report if nothing changed in between: history rows by the
// history rules, then rows by the row rules (the history that goes with a
// row is not counted, as Purge does not count it).
type PurgeCounter interface {
	CountPurge(ctx context.Context, policy RetentionPolicy) (PurgeResult, error)
}

// Total is the number of rows r counts.
func (r PurgeResult) Total() int {
	return r.StatusAudits + r.RunsAudits + r.Attempts + r.Logs + r.Tasks + r.Stats
}

// DefaultPurgeBatch bounds each delete of Purge.
const DefaultPurgeBatch = 100

// PurgeResult counts what Purge deleted.
type PurgeResult struct {
	StatusAudits int
	RunsAudits   int
	Attempts     int
	Logs         int
	Tasks        int
	// Stats counts deleted counter rows of a Stats store, in the store's
	// own granularity (a row per minute and kind, or finer).
	Stats int
}

// Cutoff returns Now-age, and false when the age disables the rule.
func (p *RetentionPolicy) Cutoff(age time.Duration) (time.Time, bool) {
	if age <= 0 {
		return time.Time{}, false
	}
	return p.Now.Add(-age), true
}

// ErrUnsupported is returned by the package functions when a store lacks a
// capability that has no fallback (Purge).
var ErrUnsupported = errors.New("store: capability not supported by this store")

// CompleteRecurringRun ends one recurring execution. With a RecurringStore it
// is one atomic step. The fallback is two writes, a Transition from
// InProgress then UpdateCurrentRun: a crash between them leaves the run
// uncounted, so the occurrence runs again after recovery (at least once).
func CompleteRecurringRun(ctx context.Context, s Store, p RunParams) (bool, error) {
	if rs, ok := s.(RecurringStore); ok {
		return rs.CompleteRecurringRun(ctx, p)
	}
	applied, err := s.Transition(ctx, TransitionParams{
		ID: p.ID, To: p.Status, From: []Status{StatusInProgress},
		Now: p.Now, Error: p.Error, ExecutionTime: p.ExecutionTime, AuditLevel: p.AuditLevel,
	})
	if err != nil || !applied {
		return applied, err
	}
	return true, s.UpdateCurrentRun(ctx, p)
}

// EndSeries ends a recurring series. With a RecurringStore it is one atomic
// step. The fallback reads the row, clears NextRunAt with UpdateDefinition,
// then transitions from any status but Cancelled: a crash between them
// leaves a row that recovery finalizes again. The fallback's transition also
// stamps LastExecutionAt.
func EndSeries(ctx context.Context, s Store, p EndSeriesParams) (bool, error) {
	if rs, ok := s.(RecurringStore); ok {
		return rs.EndSeries(ctx, p)
	}
	t, err := s.Get(ctx, p.ID)
	if err != nil {
		return false, err
	}
	if t.Status == StatusCancelled {
		return false, nil
	}
	t.NextRunAt = time.Time{}
	if err := s.UpdateDefinition(ctx, t); err != nil {
		return false, err
	}
	from := make([]Status, 0, len(Statuses))
	for _, st := range Statuses {
		if st != StatusCancelled {
			from = append(from, st)
		}
	}
	return s.Transition(ctx, TransitionParams{
		ID: p.ID, To: p.Status, From: from, Now: p.Now, Error: p.Error, AuditLevel: p.AuditLevel,
	})
}

// PersistMany writes new rows. With a BatchStore it is one all-or-none
// round trip; the fallback persists one by one and stops at the first error,
// so the rows before it stay written.
func PersistMany(ctx context.Context, s Store, tasks []*Task) error {
	if bs, ok := s.(BatchStore); ok {
		return bs.PersistMany(ctx, tasks)
	}
	for _, t := range tasks {
		if err := s.Persist(ctx, t); err != nil {
			return err
		}
	}
	return nil
}

// TransitionMany applies transitions. With a BatchStore it takes few round
// trips; the fallback calls Transition for each, reporting a missing row as
// not applied.
func TransitionMany(ctx context.Context, s Store, params []TransitionParams) ([]bool, error) {
	if bs, ok := s.(BatchStore); ok {
		return bs.TransitionMany(ctx, params)
	}
	applied := make([]bool, len(params))
	for i := range params {
		ok, err := s.Transition(ctx, params[i])
		if err != nil && !errors.Is(err, ErrNotFound) {
			return applied, err
		}
		applied[i] = ok
	}
	return applied, nil
}

// CountByStatus counts rows per status. The fallback pages through List,
// which reads every row: fine for small stores, slow for big ones.
func CountByStatus(ctx context.Context, s Store, p CountParams) (map[Status]int, error) {
	if c, ok := s.(Counter); ok {
		return c.CountByStatus(ctx, p)
	}
	out := map[Status]int{}
	err := scanAll(ctx, s, p, func(t *Task) { out[t.Status]++ })
	return out, err
}

// CountByQueue counts rows per queue and status, with the same fallback as
// CountByStatus.
func CountByQueue(ctx context.Context, s Store, p CountParams) (map[string]map[Status]int, error) {
	if c, ok := s.(Counter); ok {
		return c.CountByQueue(ctx, p)
	}
	out := map[string]map[Status]int{}
	err := scanAll(ctx, s, p, func(t *Task) {
		if out[t.Queue] == nil {
			out[t.Queue] = map[Status]int{}
		}
		out[t.Queue][t.Status]++
	})
	return out, err
}

func scanAll(ctx context.Context, s Store, p CountParams, fn func(*Task)) error {
	f := Filter{CreatedFrom: p.CreatedFrom, Limit: MaxListLimit, Oldest: true}
	for {
		page, err := s.List(ctx, f)
		if err != nil {
			return err
		}
		for _, t := range page.Tasks {
			fn(t)
		}
		if page.Next == nil {
			return nil
		}
		f.After = *page.Next
	}
}

// Purge deletes old history with a Retainer, and returns ErrUnsupported for
// a store without one.
func Purge(ctx context.Context, s Store, p RetentionPolicy) (PurgeResult, error) {
	if r, ok := s.(Retainer); ok {
		return r.Purge(ctx, p)
	}
	return PurgeResult{}, ErrUnsupported
}

// Capabilities names the optional interfaces s implements, for logs and the
// conformance suite.
func Capabilities(s Store) []string {
	var out []string
	if _, ok := s.(RecurringStore); ok {
		out = append(out, "RecurringStore")
	}
	if _, ok := s.(BatchStore); ok {
		out = append(out, "BatchStore")
	}
	if _, ok := s.(RecoveryCounter); ok {
		out = append(out, "RecoveryCounter")
	}
	if _, ok := s.(Counter); ok {
		out = append(out, "Counter")
	}
	if _, ok := s.(Retainer); ok {
		out = append(out, "Retainer")
	}
	if _, ok := s.(WriteConcurrency); ok {
		out = append(out, "WriteConcurrency")
	}
	if _, ok := s.(Cluster); ok {
		out = append(out, "Cluster")
	}
	if _, ok := s.(Notifier); ok {
		out = append(out, "Notifier")
	}
	if _, ok := s.(ClaimingPersister); ok {
		out = append(out, "ClaimingPersister")
	}
	if _, ok := s.(AttemptStore); ok {
		out = append(out, "AttemptStore")
	}
	if _, ok := s.(QueuePauser); ok {
		out = append(out, "QueuePauser")
	}
	if _, ok := s.(Stats); ok {
		out = append(out, "Stats")
	}
	if _, ok := s.(LogTrimmer); ok {
		out = append(out, "LogTrimmer")
	}
	return out
}

func errInvalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// History names a table of a task's history that Purge trims by age.
type History int

// The history tables.
const (
	StatusAuditHistory History = iota
	RunsAuditHistory
	LogHistory
	AttemptHistory
)

// Rows says which rows of an audit table a HistoryRule deletes.
type Rows int

// The row filters: with an ErrorAuditAge, audits with an error follow that
// age and the other ages cover only the audits without one.
const (
	AllRows Rows = iota
	RowsWithoutError
	RowsWithError
)

// HistoryRule is one delete of Purge over a history table: its rows
// (filtered by Rows) older than Cutoff.
type HistoryRule struct {
	Table  History
	Rows   Rows
	Cutoff time.Time
}

// HistoryRules lists the deletes the policy asks of the history tables, in
// the order SQL stores run them; the row rules (CompletedTaskAge,
// FailedTaskAge) are not in it. Stores that purge with one statement per
// rule map each to theirs, so they agree on how the ages combine.
func (p *RetentionPolicy) HistoryRules() []HistoryRule {
	var out []HistoryRule
	errCut, errRule := p.Cutoff(p.ErrorAuditAge)
	ageRows := AllRows
	if errRule {
		ageRows = RowsWithoutError
	}
	if cut, on := p.Cutoff(p.StatusAuditAge); on {
		out = append(out, HistoryRule{StatusAuditHistory, ageRows, cut})
	}
	if cut, on := p.Cutoff(p.RunsAuditAge); on {
		out = append(out, HistoryRule{RunsAuditHistory, ageRows, cut})
	}
	if errRule {
		out = append(out, HistoryRule{StatusAuditHistory, RowsWithError, errCut},
			HistoryRule{RunsAuditHistory, RowsWithError, errCut})
	}
	if cut, on := p.Cutoff(p.LogAge); on {
		out = append(out, HistoryRule{LogHistory, AllRows, cut})
	}
	if cut, on := p.AttemptCutoff(); on {
		out = append(out, HistoryRule{AttemptHistory, AllRows, cut})
	}
	return out
}
