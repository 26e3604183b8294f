package evertask

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/evertask/evertask/schedule"
	"github.com/evertask/evertask/store"
)

// series is the in-memory state of a recurring task between its runs.
type series struct {
	sched       schedule.Schedule
	scheduledAt time.Time // the occurrence this job runs: the next one is computed from it (drift-free)
	runCount    int       // real executions before this one
}

// prepareSeries fills a recurring dispatch: the stored schedule, its
// description and limits, and the first run.
func (e *Engine) prepareSeries(d *dispatch, s schedule.Schedule, now time.Time) error {
	if err := s.Validate(); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidDispatch, err)
	}
	first, err := s.First(now)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidDispatch, err)
	}
	raw, err := s.Encode()
	if err != nil {
		return fmt.Errorf("%w: encode schedule: %v", ErrInvalidDispatch, err)
	}
	r := &d.row
	r.Recurring = true
	r.Schedule = raw
	r.ScheduleInfo = s.String()
	r.MaxRuns = s.MaxRuns
	r.RunUntil = s.RunUntil
	r.ScheduledAt = first
	r.NextRunAt = first
	r.Status = store.StatusWaitingQueue
	d.job.persistedQueued = false
	d.job.series = &series{sched: s, scheduledAt: first}
	// Every occurrence, the first included, goes through the timer heap.
	d.due = first
	return nil
}

// updateSeries re-registers a series by key (reference section 2): same row,
// same history and run count, new definition. A stored future next run is
// kept, so restarts never shift the series; a past one follows the downtime
// rule. A cancelled series stays cancelled.
func (e *Engine) updateSeries(ctx context.Context, old *store.Task, d *dispatch) (uuid.UUID, bool, error) {
	// A run ending meanwhile advances the row (run count, next run): take
	// the series' lock and read it again, so neither write loses the other.
	unlock := e.seriesMu.Lock(old.ID.String())
	defer unlock()
	old, err := e.store.Get(ctx, old.ID)
	if err != nil {
		return uuid.Nil, true, fmt.Errorf("read series: %w", err)
	}
	s := d.job.series.sched
	now := e.now()
	if e.node != nil && sameSeries(old, &d.row) {
		// Every node registers the series on every start: an unchanged
		// definition writes nothing, so no registration can race an
		// occurrence another node is running or has just counted.
		return old.ID, true, nil
	}
	next := old.NextRunAt
	switch {
	case next.IsZero():
		// An ended series starts again from its new first run, unless the
		// new definition's run limit is used up already: the row would
		// show a next run that never comes.
		if d.row.MaxRuns == 0 || old.RunCount < d.row.MaxRuns {
			next = d.row.NextRunAt
		}
	case !next.After(now):
		next = s.Resume(next, now)
	}
	e.live.mark(old.ID, old.CreatedAt)
	r := &d.row
	r.ID, r.CreatedAt, r.NextRunAt = old.ID, old.CreatedAt, next
	if err := e.store.UpdateDefinition(ctx, r); err != nil {
		return uuid.Nil, true, fmt.Errorf("update series %s: %w", old.ID, err)
	}
	if e.node != nil {
		// The row says when it is due; its fetchers see the new time.
		if old.Status != store.StatusCancelled && !next.IsZero() {
			e.node.due(old.Queue, next)
		}
		return old.ID, true, nil
	}
	if e.deliveries.inFlight(old.ID) {
		// An occurrence is queued or running here: when it ends it parks the
		// next one, so scheduling one now could run an occurrence twice.
		return old.ID, true, nil
	}
	e.unschedule(old.ID)
	if old.Status == store.StatusCancelled || next.IsZero() {
		return old.ID, true, nil
	}
	j := d.job.successor()
	j.id = old.ID
	j.series = &series{sched: s, scheduledAt: next, runCount: old.RunCount}
	e.schedule(j, next)
	return old.ID, true, nil
}

// recoverSeries decides when a recovered series runs next. A stored future
// next run is kept as is, and the start options are never applied again
// (bugs 4, 5). end means the series has nothing left to run.
func (e *Engine) recoverSeries(j *job, row *store.Task) (due time.Time, end bool, err error) {
	s, err := schedule.Decode(row.Schedule)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("unreadable schedule: %v", err)
	}
	next := row.NextRunAt
	if next.IsZero() {
		return time.Time{}, true, nil
	}
	now := e.now()
	if !next.After(now) {
		// Downtime rule: one missed occurrence runs once, now; more are
		// skipped to the first future one (no catch-up burst).
		next = s.Resume(next, now)
		if next.IsZero() {
			return time.Time{}, true, nil
		}
	}
	j.series = &series{sched: s, scheduledAt: next, runCount: row.RunCount}
	return next, false, nil
}

// finishRun records one run of a series and parks its next occurrence, in
// one atomic store step (run count and next run move with the outcome: bug
// 21). A failed run does not end the series.
func (e *Engine) finishRun(ctx context.Context, j *job, out outcome, now time.Time, errText, heldBy string) (bool, error) {
	s := j.series
	runs := store.IncRunCount(s.runCount)
	// Drift-free: from the slot, not the run's end; a run that overran
	// later slots is followed by one run, not a burst.
	next := s.sched.Advance(s.scheduledAt, now, runs)
	unlock := e.seriesMu.Lock(j.id.String())
	defer unlock()
	var applied bool
	err := e.retryStore(ctx, func() error {
		var err error
		applied, err = store.CompleteRecurringRun(ctx, e.store, store.RunParams{
			ID: j.id, Now: now, Status: out.status, Error: errText, ExecutionTime: out.elapsed,
			NextRunAt: next, AuditLevel: j.audit, HeldBy: heldBy,
		})
		return err
	})
	if err != nil || !applied || next.IsZero() {
		return applied, err
	}
	if e.node != nil {
		// The next occurrence is a due row in the store: whichever node is
		// free then claims it.
		e.node.due(j.queue.cfg.Name, next)
		return true, nil
	}
	nj := j.successor()
	nj.series = &series{sched: s.sched, scheduledAt: next, runCount: runs}
	e.schedule(nj, next)
	return true, nil
}

// sameSeries reports whether a re-registration changes nothing of a
// stored series' definition.
func sameSeries(old, row *store.Task) bool {
	return old.Kind == row.Kind && bytes.Equal(old.Payload, row.Payload) && old.Queue == row.Queue &&
		old.AuditLevel == row.AuditLevel && bytes.Equal(old.Schedule, row.Schedule) &&
		old.MaxRuns == row.MaxRuns && old.RunUntil.Equal(store.NormalizeTime(row.RunUntil)) &&
		old.Handler == row.Handler && old.ScheduleInfo == row.ScheduleInfo
}
