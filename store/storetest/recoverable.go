package storetest

import (
	"fmt"
	"time"

	"github.com/evertask/evertask/store"
	"github.com/google/uuid"
)

// recoverableCase is one row of the recoverable predicate's truth table,
// evaluated at base.
type recoverableCase struct {
	name string
	task func(t *store.Task)
	want bool
}

func recoverableTable() []recoverableCase {
	recurring := func(status store.Status, next bool) func(t *store.Task) {
		return func(t *store.Task) {
			t.Recurring, t.Status = true, status
			t.Schedule = []byte(`{"every":"1m"}`)
			if next {
				t.NextRunAt = at(time.Minute)
			}
		}
	}
	var cases []recoverableCase
	for _, st := range []store.Status{store.StatusWaitingQueue, store.StatusQueued, store.StatusPending, store.StatusInProgress, store.StatusServiceStopped} {
		cases = append(cases,
			recoverableCase{"one-shot " + string(st), func(t *store.Task) { t.Status = st }, true},
			recoverableCase{"recurring " + string(st) + " without next run", recurring(st, false), true},
			recoverableCase{"recurring " + string(st) + " with next run", recurring(st, true), true},
		)
	}
	cases = append(cases,
		recoverableCase{"one-shot Cancelled", func(t *store.Task) { t.Status = store.StatusCancelled }, false},
		recoverableCase{"recurring Cancelled with next run", recurring(store.StatusCancelled, true), false},
		recoverableCase{"one-shot Completed", func(t *store.Task) { t.Status = store.StatusCompleted }, false},
		recoverableCase{"one-shot Failed", func(t *store.Task) { t.Status = store.StatusFailed }, false},
		recoverableCase{"one-shot Completed with a next run set", func(t *store.Task) {
			t.Status, t.NextRunAt = store.StatusCompleted, at(time.Minute)
		}, false},
		recoverableCase{"recurring Completed with next run", recurring(store.StatusCompleted, true), true},
		recoverableCase{"recurring Failed with next run", recurring(store.StatusFailed, true), true},
		recoverableCase{"recurring Completed without next run", recurring(store.StatusCompleted, false), false},
		recoverableCase{"recurring Failed without next run", recurring(store.StatusFailed, false), false},
		recoverableCase{"RunCount 0 of MaxRuns 1", func(t *store.Task) { t.MaxRuns = 1 }, true},
		recoverableCase{"RunCount MaxRuns-1", func(t *store.Task) { t.RunCount, t.MaxRuns = 4, 5 }, true},
		recoverableCase{"RunCount == MaxRuns", func(t *store.Task) { t.RunCount, t.MaxRuns = 5, 5 }, false},
		recoverableCase{"RunCount over MaxRuns", func(t *store.Task) { t.RunCount, t.MaxRuns = 6, 5 }, false},
		recoverableCase{"MaxRuns 0 is unlimited", func(t *store.Task) { t.RunCount = 1000 }, true},
		recoverableCase{"recurring with next run at RunCount == MaxRuns", func(t *store.Task) {
			recurring(store.StatusCompleted, true)(t)
			t.RunCount, t.MaxRuns = 3, 3
		}, false},
		recoverableCase{"recurring with next run at RunCount MaxRuns-1", func(t *store.Task) {
			recurring(store.StatusCompleted, true)(t)
			t.RunCount, t.MaxRuns = 2, 3
		}, true},
		recoverableCase{"RunUntil exactly now", func(t *store.Task) { t.RunUntil = base }, true},
		recoverableCase{"RunUntil 1µs before now", func(t *store.Task) { t.RunUntil = base.Add(-time.Microsecond) }, false},
		recoverableCase{"RunUntil 1µs after now", func(t *store.Task) { t.RunUntil = base.Add(time.Microsecond) }, true},
		recoverableCase{"recurring with next run, RunUntil passed", func(t *store.Task) {
			recurring(store.StatusFailed, true)(t)
			t.RunUntil = base.Add(-time.Second)
		}, false},
		recoverableCase{"InProgress, RunUntil passed", func(t *store.Task) {
			t.Status, t.RunUntil = store.StatusInProgress, base.Add(-time.Hour)
		}, false},
	)
	return cases
}

// recoverableRows persists one row per case of the table.
func recoverableRows(t tb, s store.Store) (table []recoverableCase, rows []*store.Task) {
	t.Helper()
	table = recoverableTable()
	for i, c := range table {
		task := newTask(i + 1)
		c.task(task)
		// The table is the contract; check it agrees with the store
		// package's predicate so a change to either is noticed.
		if got := task.Recoverable(base); got != c.want {
			t.Fatalf("store.Task.Recoverable disagrees with the suite for %q: %v, want %v", c.name, got, c.want)
		}
		rows = append(rows, task)
	}
	persist(t, s, rows...)
	return table, rows
}

// pendingAt returns the ids RetrievePending gives at base, reading past n
// rows so that a store returning too many shows it.
func pendingAt(t tb, s store.Store, n int) map[uuid.UUID]bool {
	t.Helper()
	got, err := s.RetrievePending(t.Context(), store.PendingParams{Now: base, Limit: n + 10})
	if err != nil {
		t.Fatalf("RetrievePending: %v", err)
	}
	returned := map[uuid.UUID]bool{}
	for _, r := range got {
		returned[r.ID] = true
	}
	return returned
}

func recoverableChecks() []check {
	return []check{
		{"ThroughRetrievePending", func(t tb, s store.Store) {
			table, rows := recoverableRows(t, s)
			returned := pendingAt(t, s, len(rows))
			for i, c := range table {
				if returned[rows[i].ID] != c.want {
					t.Errorf("RetrievePending at now: %s returned %v, want %v", c.name, returned[rows[i].ID], c.want)
				}
			}
		}},
		{"ThroughConditionalRequeue", func(t tb, s store.Store) {
			table, rows := recoverableRows(t, s)
			for i, c := range table {
				p := store.TransitionParams{ID: rows[i].ID, To: store.StatusQueued, IfRecoverable: true, Now: base}
				applied := transition(t, s, p)
				what := fmt.Sprintf("Transition{IfRecoverable} of %s", c.name)
				if applied != c.want {
					t.Errorf("%s: applied %v, want %v", what, applied, c.want)
				}
				want := rows[i].Clone()
				var audits []store.StatusAudit
				if c.want {
					want.Status = store.StatusQueued
					audits = append(audits, store.StatusAudit{At: base, Status: store.StatusQueued})
				}
				wantRow(t, s, what, want)
				wantStatusAudits(t, s, what, rows[i].ID, audits)
			}
		}},
		{"AfterEachTransition", func(t tb, s store.Store) {
			// A transition moves a row's recovery and retention entries:
			// whatever the row was, RetrievePending must then agree with
			// store.Recoverable on the row it left. A store that reads only
			// part of a row to decide its moves shows it here (a recurring
			// run that completes with a next run stays recoverable).
			table := recoverableTable()
			want := map[uuid.UUID]bool{}
			var names []string
			for k, to := range []store.Status{store.StatusInProgress, store.StatusQueued, store.StatusCompleted, store.StatusFailed, store.StatusCancelled} {
				for i, c := range table {
					task := newTask(k*len(table) + i + 1)
					c.task(task)
					persist(t, s, task)
					if !transition(t, s, store.TransitionParams{ID: task.ID, To: to, Now: base, ExecutionTime: time.Millisecond}) {
						t.Fatalf("Transition of %s to %s refused", c.name, to)
					}
					after := task.Clone()
					after.Status = to
					want[task.ID] = after.Recoverable(base)
					names = append(names, fmt.Sprintf("%s, then %s", c.name, to))
				}
			}
			returned := pendingAt(t, s, len(want))
			for n := range names {
				id := tid(n + 1)
				if returned[id] != want[id] {
					t.Errorf("RetrievePending after %s: returned %v, want %v", names[n], returned[id], want[id])
				}
			}
		}},
		{"EvaluatedAtTheGivenTime", func(t tb, s store.Store) {
			// The same row is recoverable at one time and not a microsecond
			// later: stores must use params.Now, not their own clock.
			task := newTask(1)
			task.RunUntil = at(time.Hour)
			persist(t, s, task)
			for _, c := range []struct {
				now  time.Time
				want int
			}{{at(time.Hour), 1}, {at(time.Hour + time.Microsecond), 0}, {time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC), 1}} {
				got, err := s.RetrievePending(t.Context(), store.PendingParams{Now: c.now})
				if err != nil {
					t.Fatalf("RetrievePending: %v", err)
				}
				if len(got) != c.want {
					t.Errorf("RetrievePending at %s: %d rows, want %d", fmtTime(c.now), len(got), c.want)
				}
			}
			if transition(t, s, store.TransitionParams{ID: task.ID, To: store.StatusQueued, IfRecoverable: true, Now: at(time.Hour + time.Microsecond)}) {
				t.Errorf("Transition{IfRecoverable} applied after RunUntil")
			}
			if !transition(t, s, store.TransitionParams{ID: task.ID, To: store.StatusQueued, IfRecoverable: true, Now: at(time.Hour)}) {
				t.Errorf("Transition{IfRecoverable} refused at RunUntil")
			}
		}},
		{"NowComparedAtMicroseconds", func(t tb, s store.Store) {
			// A Go clock has nanoseconds a store cannot keep: Recoverable
			// compares at NormalizeTime(now), and every path of a store must
			// agree with it.
			task := newTask(1)
			task.RunUntil = at(time.Hour)
			persist(t, s, task)
			now := at(time.Hour + 500*time.Nanosecond)
			if !task.Recoverable(now) {
				t.Fatalf("store.Recoverable disagrees with its documentation")
			}
			got, err := s.RetrievePending(t.Context(), store.PendingParams{Now: now})
			if err != nil {
				t.Fatalf("RetrievePending: %v", err)
			}
			if len(got) != 1 {
				t.Errorf("RetrievePending 500ns past RunUntil: %d rows, want 1", len(got))
			}
			if !transition(t, s, store.TransitionParams{ID: task.ID, To: store.StatusQueued, IfRecoverable: true, Now: now}) {
				t.Errorf("Transition{IfRecoverable} 500ns past RunUntil refused")
			}
		}},
	}
}
