package storetest

import (
	"fmt"
	"time"

	"github.com/evertask/evertask/store"
)

// errorCases are the two error columns of the audit policy.
var errorCases = []string{"", "handler failed"}

func auditPolicyChecks() []check {
	return []check{
		{"TransitionEveryCell", func(t tb, s store.Store) {
			// 4 levels x 8 target statuses x error / no error, one row each.
			n := 0
			for _, level := range store.AuditLevels {
				for _, to := range store.Statuses {
					for _, errText := range errorCases {
						n++
						task := newTask(n)
						task.Status = store.StatusInProgress
						task.AuditLevel = level
						persist(t, s, task)
						now := at(time.Duration(n) * time.Second)
						transition(t, s, store.TransitionParams{ID: task.ID, To: to, Now: now, Error: errText, AuditLevel: level})
						var want []store.StatusAudit
						if store.StatusAuditRequired(level, to, errText) {
							want = append(want, store.StatusAudit{At: now, Status: to, Error: errText})
						}
						cell := fmt.Sprintf("Transition to %s at level %s with %s", to, level, withErr(errText))
						wantStatusAudits(t, s, cell, task.ID, want)
						if a := runsAudits(t, s, task.ID); len(a) != 0 {
							t.Errorf("%s wrote runs audits: %v", cell, a)
						}
					}
				}
			}
		}},
		{"UpdateCurrentRunEveryCell", func(t tb, s store.Store) {
			// The runs audit carries the row's status and error.
			n := 0
			for _, level := range store.AuditLevels {
				for _, status := range []store.Status{store.StatusCompleted, store.StatusFailed, store.StatusInProgress} {
					for _, errText := range errorCases {
						n++
						task := recurringTask(n)
						task.Status = status
						task.Error = errText
						persist(t, s, task)
						now := at(time.Duration(n) * time.Second)
						p := store.RunParams{ID: task.ID, Now: now, ExecutionTime: 250 * time.Millisecond, NextRunAt: at(time.Hour), AuditLevel: level}
						if err := s.UpdateCurrentRun(t.Context(), p); err != nil {
							t.Fatalf("UpdateCurrentRun: %v", err)
						}
						var want []store.RunsAudit
						if store.RunsAuditRequired(level, status, errText) {
							want = append(want, store.RunsAudit{ExecutedAt: now, ExecutionTime: p.ExecutionTime, Status: status, Error: errText})
						}
						cell := fmt.Sprintf("UpdateCurrentRun of a %s row at level %s with %s", status, level, withErr(errText))
						wantRunsAudits(t, s, cell, task.ID, want)
						if a := statusAudits(t, s, task.ID); len(a) != 0 {
							t.Errorf("%s wrote status audits: %v", cell, a)
						}
					}
				}
			}
		}},
		{"CompleteRecurringRunEveryCell", func(t tb, s store.Store) { completeRunCells(t, s, packageRecurring) }},
		{"EndSeriesEveryCell", func(t tb, s store.Store) { endSeriesCells(t, s, packageRecurring) }},
	}
}

func completeRunCells(t tb, s store.Store, ops recurringOps) {
	n := 0
	for _, level := range store.AuditLevels {
		for _, outcome := range []store.Status{store.StatusCompleted, store.StatusFailed} {
			for _, errText := range errorCases {
				n++
				task := recurringTask(n)
				task.AuditLevel = level
				persist(t, s, task)
				now := at(time.Duration(n) * time.Second)
				p := store.RunParams{ID: task.ID, Now: now, Status: outcome, Error: errText,
					ExecutionTime: 300 * time.Millisecond, NextRunAt: at(time.Hour), AuditLevel: level}
				cell := fmt.Sprintf("%s CompleteRecurringRun %s at level %s with %s", ops.name, outcome, level, withErr(errText))
				applied, err := ops.complete(t, s, p)
				if err != nil || !applied {
					t.Fatalf("%s: applied %v, err %v", cell, applied, err)
				}
				var wantStatus []store.StatusAudit
				if store.StatusAuditRequired(level, outcome, errText) {
					wantStatus = append(wantStatus, store.StatusAudit{At: now, Status: outcome, Error: errText})
				}
				var wantRuns []store.RunsAudit
				if store.RunsAuditRequired(level, outcome, errText) {
					wantRuns = append(wantRuns, store.RunsAudit{ExecutedAt: now, ExecutionTime: p.ExecutionTime, Status: outcome, Error: errText})
				}
				wantStatusAudits(t, s, cell, task.ID, wantStatus)
				wantRunsAudits(t, s, cell, task.ID, wantRuns)
			}
		}
	}
}

func endSeriesCells(t tb, s store.Store, ops recurringOps) {
	n := 0
	for _, level := range store.AuditLevels {
		for _, outcome := range []store.Status{store.StatusCompleted, store.StatusFailed} {
			for _, errText := range errorCases {
				n++
				task := recurringTask(n)
				task.Status = store.StatusCompleted
				task.AuditLevel = level
				persist(t, s, task)
				now := at(time.Duration(n) * time.Second)
				cell := fmt.Sprintf("%s EndSeries %s at level %s with %s", ops.name, outcome, level, withErr(errText))
				applied, err := ops.endSeries(t, s, store.EndSeriesParams{ID: task.ID, Status: outcome, Error: errText, Now: now, AuditLevel: level})
				if err != nil || !applied {
					t.Fatalf("%s: applied %v, err %v", cell, applied, err)
				}
				var want []store.StatusAudit
				if store.StatusAuditRequired(level, outcome, errText) {
					want = append(want, store.StatusAudit{At: now, Status: outcome, Error: errText})
				}
				wantStatusAudits(t, s, cell, task.ID, want)
				if a := runsAudits(t, s, task.ID); len(a) != 0 {
					t.Errorf("%s wrote runs audits: %v", cell, a)
				}
			}
		}
	}
}
