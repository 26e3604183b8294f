package storetest

import (
	"fmt"
	"time"

	"github.com/evertask/evertask/store"
)

// recurringOps is one way to reach the compound steps of a series: the
// store's own RecurringStore methods, the package functions as the engine
// calls them, or the package fallbacks over the core methods only.
type recurringOps struct {
	name      string
	complete  func(t tb, s store.Store, p store.RunParams) (bool, error)
	endSeries func(t tb, s store.Store, p store.EndSeriesParams) (bool, error)
	// atomic is true when EndSeries is the store's own: it keeps
	// LastExecutionAt, where the documented fallback stamps it.
	atomic bool
}

var directRecurring = recurringOps{
	name: "RecurringStore",
	complete: func(t tb, s store.Store, p store.RunParams) (bool, error) {
		return s.(store.RecurringStore).CompleteRecurringRun(t.Context(), p)
	},
	endSeries: func(t tb, s store.Store, p store.EndSeriesParams) (bool, error) {
		return s.(store.RecurringStore).EndSeries(t.Context(), p)
	},
	atomic: true,
}

var packageRecurring = recurringOps{
	name: "store package",
	complete: func(t tb, s store.Store, p store.RunParams) (bool, error) {
		return store.CompleteRecurringRun(t.Context(), s, p)
	},
	endSeries: func(t tb, s store.Store, p store.EndSeriesParams) (bool, error) {
		return store.EndSeries(t.Context(), s, p)
	},
}

var fallbackRecurring = recurringOps{
	name: "fallback",
	complete: func(t tb, s store.Store, p store.RunParams) (bool, error) {
		return store.CompleteRecurringRun(t.Context(), coreOnly{s}, p)
	},
	endSeries: func(t tb, s store.Store, p store.EndSeriesParams) (bool, error) {
		return store.EndSeries(t.Context(), coreOnly{s}, p)
	},
}

// coreOnly hides every optional capability of a store, so the package
// functions take their fallback paths.
type coreOnly struct{ store.Store }

// coreRecurringChecks cover the recurring methods of the core interface.
func coreRecurringChecks() []check {
	return []check{
		{"RunCount", func(t tb, s store.Store) {
			task := recurringTask(1)
			task.RunCount = 41
			persist(t, s, task)
			n, err := s.RunCount(t.Context(), task.ID)
			if err != nil || n != 41 {
				t.Errorf("RunCount = %d, %v; want 41", n, err)
			}
			fresh := recurringTask(3) // never ran: a count of 0, not a missing row
			persist(t, s, fresh)
			if n, err := s.RunCount(t.Context(), fresh.ID); err != nil || n != 0 {
				t.Errorf("RunCount of a task that never ran = %d, %v; want 0", n, err)
			}
			_, err = s.RunCount(t.Context(), tid(2))
			wantErr(t, "RunCount(unknown)", err, store.ErrNotFound)
		}},
		{"UpdateCurrentRunCountsWithoutChangingStatus", func(t tb, s store.Store) {
			task := fullTask(1) // every field set: only the documented ones may change
			task.Status = store.StatusFailed
			task.Error = "the run failed"
			task.RunCount = 3
			task.LastExecutionAt = at(-time.Minute)
			persist(t, s, task)
			next := time.Date(2026, 1, 2, 9, 10, 0, 999, elsewhere)
			p := store.RunParams{ID: task.ID, Now: at(time.Second), ExecutionTime: time.Second, NextRunAt: next}
			if err := s.UpdateCurrentRun(t.Context(), p); err != nil {
				t.Fatalf("UpdateCurrentRun: %v", err)
			}
			got := get(t, s, task.ID)
			want := task.Clone()
			want.RunCount = 4
			want.NextRunAt = next
			// Whether UpdateCurrentRun stamps LastExecutionAt is left to the
			// store (the preceding transition already did).
			want.LastExecutionAt = got.LastExecutionAt
			wantTask(t, "after UpdateCurrentRun", got, want)
			wantRunsAudits(t, s, "after UpdateCurrentRun", task.ID, []store.RunsAudit{
				{ExecutedAt: p.Now, ExecutionTime: time.Second, Status: store.StatusFailed, Error: "the run failed"},
			})
			// A zero next run ends the series.
			p.NextRunAt = time.Time{}
			p.Now = at(2 * time.Second)
			if err := s.UpdateCurrentRun(t.Context(), p); err != nil {
				t.Fatalf("UpdateCurrentRun: %v", err)
			}
			got = get(t, s, task.ID)
			if got.RunCount != 5 || !got.NextRunAt.IsZero() || got.Status != store.StatusFailed {
				t.Errorf("after the last UpdateCurrentRun: RunCount %d, NextRunAt %s, Status %s; want 5, zero, Failed",
					got.RunCount, fmtTime(got.NextRunAt), got.Status)
			}
			if a := runsAudits(t, s, task.ID); len(a) != 2 || !sameTime(a[0].ExecutedAt, at(2*time.Second)) {
				t.Errorf("runs audits are not newest first: %v", a)
			}
			if a := statusAudits(t, s, task.ID); len(a) != 0 {
				t.Errorf("UpdateCurrentRun wrote status audits: %v", a)
			}
		}},
		{"UpdateCurrentRunSaturatesRunCount", func(t tb, s store.Store) {
			for i, from := range []int{store.MaxRunCount - 1, store.MaxRunCount} {
				task := recurringTask(i + 1)
				task.RunCount = from
				persist(t, s, task)
				if err := s.UpdateCurrentRun(t.Context(), store.RunParams{ID: task.ID, Now: base, NextRunAt: at(time.Hour)}); err != nil {
					t.Fatalf("UpdateCurrentRun: %v", err)
				}
				if got := get(t, s, task.ID); got.RunCount != store.MaxRunCount {
					t.Errorf("RunCount %d after one run = %d, want MaxRunCount %d", from, got.RunCount, store.MaxRunCount)
				}
			}
		}},
		{"UpdateCurrentRunOfUnknownRowIsNotFound", func(t tb, s store.Store) {
			err := s.UpdateCurrentRun(t.Context(), store.RunParams{ID: tid(1), Now: base})
			wantErr(t, "UpdateCurrentRun(unknown)", err, store.ErrNotFound)
			wantRowCount(t, s, 0)
		}},
	}
}

// recurringChecks cover CompleteRecurringRun and EndSeries through ops.
func recurringChecks(ops recurringOps) []check {
	return []check{
		{"CompleteRecurringRunWritesEverything", func(t tb, s store.Store) {
			task := fullTask(1) // every field set: only the documented ones may change
			task.Status = store.StatusInProgress
			task.MaxRuns = 0
			task.RunCount = 2
			task.Error = "previous run failed"
			persist(t, s, task)
			now := time.Date(2026, 1, 2, 9, 0, 0, 987654321, elsewhere)
			next := at(2 * time.Minute)
			p := store.RunParams{ID: task.ID, Now: now, Status: store.StatusCompleted, ExecutionTime: 1234567 * time.Nanosecond, NextRunAt: next}
			applied, err := ops.complete(t, s, p)
			if err != nil || !applied {
				t.Fatalf("CompleteRecurringRun: applied %v, err %v", applied, err)
			}
			want := task.Clone()
			want.Status = store.StatusCompleted
			want.Error = ""
			want.LastExecutionAt = now
			want.ExecutionTime = p.ExecutionTime
			want.RunCount = 3
			want.NextRunAt = next
			wantLeaseReleased(t, s, want)
			wantRow(t, s, "after CompleteRecurringRun", want)
			wantStatusAudits(t, s, "after CompleteRecurringRun", task.ID, []store.StatusAudit{{At: now, Status: store.StatusCompleted}})
			wantRunsAudits(t, s, "after CompleteRecurringRun", task.ID, []store.RunsAudit{{ExecutedAt: now, ExecutionTime: p.ExecutionTime, Status: store.StatusCompleted}})

			// A failed run with no next occurrence ends the series.
			transition(t, s, store.TransitionParams{ID: task.ID, To: store.StatusInProgress, Now: at(time.Hour), AuditLevel: store.AuditNone})
			p = store.RunParams{ID: task.ID, Now: at(2 * time.Hour), Status: store.StatusFailed, Error: "boom", ExecutionTime: time.Second}
			if applied, err := ops.complete(t, s, p); err != nil || !applied {
				t.Fatalf("CompleteRecurringRun(Failed): applied %v, err %v", applied, err)
			}
			want.Status = store.StatusFailed
			want.Error = "boom"
			want.LastExecutionAt = p.Now
			want.ExecutionTime = time.Second
			want.RunCount = 4
			want.NextRunAt = time.Time{}
			wantRow(t, s, "after the failed last run", want)
			wantRunsAudits(t, s, "after the failed last run", task.ID, []store.RunsAudit{
				{ExecutedAt: p.Now, ExecutionTime: time.Second, Status: store.StatusFailed, Error: "boom"},
				{ExecutedAt: now, ExecutionTime: 1234567 * time.Nanosecond, Status: store.StatusCompleted},
			})
		}},
		{"CompleteRecurringRunAppliesOnlyInProgress", func(t tb, s store.Store) {
			for i, status := range store.Statuses {
				if status == store.StatusInProgress {
					continue
				}
				task := recurringTask(i + 1)
				task.Status = status
				task.RunCount = 1
				persist(t, s, task)
				applied, err := ops.complete(t, s, store.RunParams{ID: task.ID, Now: base, Status: store.StatusCompleted, NextRunAt: at(time.Hour), Error: "x"})
				if err != nil || applied {
					t.Errorf("CompleteRecurringRun of a %s row: applied %v, err %v; want false, nil", status, applied, err)
				}
				wantRow(t, s, "CompleteRecurringRun of a "+string(status)+" row", task)
				if a := statusAudits(t, s, task.ID); len(a) != 0 {
					t.Errorf("refused CompleteRecurringRun of a %s row wrote status audits %v", status, a)
				}
				if a := runsAudits(t, s, task.ID); len(a) != 0 {
					t.Errorf("refused CompleteRecurringRun of a %s row wrote runs audits %v", status, a)
				}
			}
		}},
		{"CompleteRecurringRunOfUnknownRowIsNotFound", func(t tb, s store.Store) {
			applied, err := ops.complete(t, s, store.RunParams{ID: tid(1), Now: base, Status: store.StatusCompleted})
			wantErr(t, "CompleteRecurringRun(unknown)", err, store.ErrNotFound)
			if applied {
				t.Errorf("CompleteRecurringRun(unknown) reports applied")
			}
			wantRowCount(t, s, 0)
		}},
		{"CompleteRecurringRunSaturatesRunCount", func(t tb, s store.Store) {
			task := recurringTask(1)
			task.RunCount = store.MaxRunCount
			persist(t, s, task)
			if applied, err := ops.complete(t, s, store.RunParams{ID: task.ID, Now: base, Status: store.StatusCompleted, NextRunAt: at(time.Hour)}); err != nil || !applied {
				t.Fatalf("CompleteRecurringRun: applied %v, err %v", applied, err)
			}
			if got := get(t, s, task.ID); got.RunCount != store.MaxRunCount {
				t.Errorf("RunCount = %d, want MaxRunCount %d", got.RunCount, store.MaxRunCount)
			}
		}},
		{"CompleteRecurringRunHasExactlyOneWinner", func(t tb, s store.Store) {
			task := recurringTask(1)
			persist(t, s, task)
			applied := raceApplied(t, "CompleteRecurringRun", 32, func(i int) (bool, error) {
				return ops.complete(t, s, store.RunParams{ID: task.ID, Now: at(time.Duration(i) * time.Millisecond),
					Status: store.StatusCompleted, NextRunAt: at(time.Hour)})
			})
			if winners := countTrue(applied); winners != 1 {
				t.Errorf("%d concurrent CompleteRecurringRun applied, want exactly 1", winners)
			}
			got := get(t, s, task.ID)
			if got.RunCount != 1 {
				t.Errorf("RunCount after the race = %d, want 1", got.RunCount)
			}
			if a := runsAudits(t, s, task.ID); len(a) != 1 {
				t.Errorf("%d runs audits after the race, want 1", len(a))
			}
			if a := statusAudits(t, s, task.ID); len(a) != 1 {
				t.Errorf("%d status audits after the race, want 1", len(a))
			}
		}},
		{"EndSeriesClearsNextRunWithoutCounting", func(t tb, s store.Store) {
			for i, outcome := range []store.Status{store.StatusCompleted, store.StatusFailed} {
				task := fullTask(i + 1) // every field set: only the documented ones may change
				task.Key = fmt.Sprint("key-", i)
				task.Status = store.StatusQueued
				task.RunCount = 5
				task.LastExecutionAt = at(-time.Hour)
				task.ExecutionTime = 3 * time.Second
				persist(t, s, task)
				now := at(time.Duration(i+1) * time.Second)
				errText := ""
				if outcome == store.StatusFailed {
					errText = "poisoned: recovery failed 3 times"
				}
				applied, err := ops.endSeries(t, s, store.EndSeriesParams{ID: task.ID, Status: outcome, Error: errText, Now: now})
				if err != nil || !applied {
					t.Fatalf("EndSeries(%s): applied %v, err %v", outcome, applied, err)
				}
				got := get(t, s, task.ID)
				want := task.Clone()
				want.Status = outcome
				want.Error = errText
				want.NextRunAt = time.Time{}
				wantLeaseReleased(t, s, want)
				if !ops.atomic {
					// The documented fallback stamps these.
					want.LastExecutionAt, want.ExecutionTime = got.LastExecutionAt, got.ExecutionTime
				}
				wantTask(t, "after EndSeries("+string(outcome)+")", got, want)
				wantStatusAudits(t, s, "after EndSeries("+string(outcome)+")", task.ID, []store.StatusAudit{{At: now, Status: outcome, Error: errText}})
				if a := runsAudits(t, s, task.ID); len(a) != 0 {
					t.Errorf("EndSeries wrote runs audits: %v", a)
				}
				if got.Recoverable(at(time.Minute)) {
					t.Errorf("a row whose series ended is still recoverable")
				}
			}
		}},
		{"EndSeriesLeavesCancelledRows", func(t tb, s store.Store) {
			task := recurringTask(1)
			task.Status = store.StatusCancelled
			task.Error = "cancelled by user"
			persist(t, s, task)
			applied, err := ops.endSeries(t, s, store.EndSeriesParams{ID: task.ID, Status: store.StatusCompleted, Now: base})
			if err != nil || applied {
				t.Errorf("EndSeries of a Cancelled row: applied %v, err %v; want false, nil", applied, err)
			}
			wantRow(t, s, "the Cancelled row", task)
			if a := statusAudits(t, s, task.ID); len(a) != 0 {
				t.Errorf("EndSeries of a Cancelled row wrote audits: %v", a)
			}
		}},
		{"EndSeriesOfUnknownRowIsNotFound", func(t tb, s store.Store) {
			applied, err := ops.endSeries(t, s, store.EndSeriesParams{ID: tid(1), Status: store.StatusCompleted, Now: base})
			wantErr(t, "EndSeries(unknown)", err, store.ErrNotFound)
			if applied {
				t.Errorf("EndSeries(unknown) reports applied")
			}
			wantRowCount(t, s, 0)
		}},
		{"CompleteRecurringRunEveryAuditCell", func(t tb, s store.Store) { completeRunCells(t, s, ops) }},
		{"EndSeriesEveryAuditCell", func(t tb, s store.Store) { endSeriesCells(t, s, ops) }},
	}
}
