package memstore

import (
	"context"
	"time"

	"github.com/evertask/evertask/store"
)

// purgeScan bounds how many rows one lock hold of Purge looks at, so a
// sweep over a large store with little to delete still lets writers in
// often.
const purgeScan = 1024

// Purge implements store.Retainer. It walks every row in keyset order, a
// few at a time: each lock hold deletes at most BatchSize audits, logs or
// tasks (like one bounded DELETE statement) and looks at most purgeScan
// rows, and the lock is released between holds. For each row it deletes
// its old status audits, runs audits, logs and attempts first, then the row itself
// when a task rule says so; what the row's deletion cascades is not counted
// again. The old counters of store.Stats go first, in one lock hold (there
// is one map entry per minute).
func (s *Store) Purge(ctx context.Context, p store.RetentionPolicy) (store.PurgeResult, error) {
	var res store.PurgeResult
	if err := begin(ctx); err != nil {
		return res, err
	}
	if err := p.Normalize(); err != nil {
		return res, err
	}
	if cut, ok := p.Cutoff(p.StatsAge); ok {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return res, store.ErrClosed
		}
		res.Stats = s.purgeStats(cut)
		s.mu.Unlock()
	}
	batch := p.BatchSize
	var pr purger
	pr.statusCut, pr.status = p.Cutoff(p.StatusAuditAge)
	pr.runsCut, pr.runs = p.Cutoff(p.RunsAuditAge)
	pr.errCut, pr.errs = p.Cutoff(p.ErrorAuditAge)
	pr.logCut, pr.log = p.Cutoff(p.LogAge)
	pr.attemptCut, pr.attempt = p.AttemptCutoff()
	pr.doneCut, pr.done = p.Cutoff(p.CompletedTaskAge)
	pr.failCut, pr.fail = p.Cutoff(p.FailedTaskAge)
	if !pr.status && !pr.runs && !pr.errs && !pr.log && !pr.attempt && !pr.done && !pr.fail {
		return res, nil
	}

	from, incl := minKey, true
	for {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return res, store.ErrClosed
		}
		budget, scanned, more := batch, 0, false
		var doomed []*row
		s.all.ascend(from, incl, func(e *entry) bool {
			complete, kill := pr.row(e.r, &budget, &res)
			if !complete {
				from, incl, more = e.k, true, true // resume on this row
				return false
			}
			if kill {
				doomed = append(doomed, e.r)
			}
			from, incl = e.k, false
			scanned++
			if budget == 0 || scanned >= purgeScan {
				more = true
				return false
			}
			return true
		})
		// Deleting while walking would break the walk.
		for _, r := range doomed {
			s.delete(r)
		}
		s.mu.Unlock()
		if p.Progress != nil {
			p.Progress(res)
		}
		if !more {
			return res, nil
		}
	}
}

type purger struct {
	statusCut, runsCut, errCut, logCut, attemptCut, doneCut, failCut time.Time
	status, runs, errs, log, attempt, done, fail                     bool
}

// auditOld applies the audit rules: an audit with an error follows
// ErrorAuditAge when set, else the age of its kind.
func (pr *purger) auditOld(at time.Time, errText string, cut time.Time, on bool) bool {
	if errText != "" && pr.errs {
		return at.Before(pr.errCut)
	}
	return on && at.Before(cut)
}

// row deletes what is old in r's children within the budget. It reports
// whether r was fully handled and whether r itself is to be deleted (which
// has been charged to the budget).
func (pr *purger) row(r *row, budget *int, res *store.PurgeResult) (complete, kill bool) {
	var ok bool
	var n int
	r.statusAudits, n, ok = purgeSlice(r.statusAudits, budget, func(a *store.StatusAudit) bool {
		return pr.auditOld(a.At, a.Error, pr.statusCut, pr.status)
	})
	res.StatusAudits += n
	if !ok {
		return false, false
	}
	if r.more == nil {
		return pr.finish(r, budget, res)
	}
	h := r.more
	h.runsAudits, n, ok = purgeSlice(h.runsAudits, budget, func(a *store.RunsAudit) bool {
		return pr.auditOld(a.ExecutedAt, a.Error, pr.runsCut, pr.runs)
	})
	res.RunsAudits += n
	if !ok {
		return false, false
	}
	if pr.log {
		h.logs, n, ok = purgeSlice(h.logs, budget, func(l *store.ExecutionLog) bool {
			return l.At.Before(pr.logCut)
		})
		res.Logs += n
		if !ok {
			return false, false
		}
	}
	if pr.attempt {
		h.attempts, n, ok = purgeSlice(h.attempts, budget, func(a *store.Attempt) bool {
			return a.StartedAt.Before(pr.attemptCut)
		})
		res.Attempts += n
		if !ok {
			return false, false
		}
	}
	return pr.finish(r, budget, res)
}

// finish applies the task rules to r once its children are handled.
func (pr *purger) finish(r *row, budget *int, res *store.PurgeResult) (complete, kill bool) {
	if !pr.taskOld(r) {
		return true, false
	}
	if *budget == 0 {
		return false, false
	}
	*budget--
	res.Tasks++
	return true, true
}

// taskOld applies the task rules to one-shot rows: Completed after
// CompletedTaskAge, Failed and Cancelled after FailedTaskAge, measured from
// the last execution, or the creation when it never ran.
func (pr *purger) taskOld(r *row) bool {
	if r.Recurring {
		return false
	}
	ref := at(r.lastExec)
	if ref.IsZero() {
		ref = r.createdAt()
	}
	switch r.status() {
	case store.StatusCompleted:
		return pr.done && ref.Before(pr.doneCut)
	case store.StatusFailed, store.StatusCancelled:
		return pr.fail && ref.Before(pr.failCut)
	}
	return false
}

// purgeSlice drops the old items of xs in place, at most *budget of them.
// It returns the kept items, how many it dropped, and false when an old
// item was left for lack of budget.
func purgeSlice[T any](xs []T, budget *int, old func(*T) bool) ([]T, int, bool) {
	kept, complete := 0, true
	for i := range xs {
		if old(&xs[i]) {
			if *budget > 0 {
				*budget--
				continue
			}
			complete = false
		}
		xs[kept] = xs[i]
		kept++
	}
	n := len(xs) - kept
	clear(xs[kept:])
	return xs[:kept], n, complete
}
