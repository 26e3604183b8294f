package storetest

import (
	"fmt"
	"slices"
	"time"

	"github.com/evertask/evertask/store"
	"github.com/google/uuid"
)

// purgeNow is the Now of the retention checks, far after the rows' creation.
var purgeNow = at(100 * 24 * time.Hour)

// ago returns purgeNow minus h hours.
func ago(h int) time.Time { return purgeNow.Add(-time.Duration(h) * time.Hour) }

func purge(t tb, s store.Store, p store.RetentionPolicy) store.PurgeResult {
	t.Helper()
	if p.Now.IsZero() {
		p.Now = purgeNow
	}
	res, err := s.(store.Retainer).Purge(t.Context(), p)
	if err != nil {
		t.Fatalf("Purge(%+v): %v", p, err)
	}
	return res
}

// historyRow persists a recurring row (never purged as a task) with status
// audits, runs audits and logs at the given ages in hours.
func historyRow(t tb, s store.Store, n int, errText string, hours ...int) *store.Task {
	t.Helper()
	task := recurringTask(n)
	task.CreatedAt = ago(1000)
	task.Error = errText
	persist(t, s, task)
	for i, h := range hours {
		transition(t, s, store.TransitionParams{ID: task.ID, To: store.StatusInProgress, Now: ago(h), Error: errText})
		if err := s.UpdateCurrentRun(t.Context(), store.RunParams{ID: task.ID, Now: ago(h), NextRunAt: purgeNow}); err != nil {
			t.Fatalf("UpdateCurrentRun: %v", err)
		}
		l := logRecord(task.ID, i, 0, "Information", fmt.Sprint("run ", i))
		l.At = ago(h)
		if err := s.SaveLogs(t.Context(), task.ID, []store.ExecutionLog{l}); err != nil {
			t.Fatalf("SaveLogs: %v", err)
		}
	}
	return task
}

// historyCounts returns how many status audits, runs audits and logs a task
// has.
func historyCounts(t tb, s store.Store, id uuid.UUID) [3]int {
	t.Helper()
	return [3]int{len(statusAudits(t, s, id)), len(runsAudits(t, s, id)), len(logsOf(t, s, id))}
}

// finishedRows persists one-shot and recurring rows in every finished
// status, last executed 48 hours before purgeNow.
func finishedRows(t tb, s store.Store, first int) map[string]*store.Task {
	t.Helper()
	rows := map[string]*store.Task{}
	mk := func(name string, status store.Status, recurring bool, created, lastRun time.Time) {
		task := newTask(first + len(rows))
		task.Status, task.Recurring, task.CreatedAt, task.LastExecutionAt = status, recurring, created, lastRun
		rows[name] = task
		persist(t, s, task)
	}
	mk("completed", store.StatusCompleted, false, ago(50), ago(48))
	mk("completed, no last run", store.StatusCompleted, false, ago(48), time.Time{})
	mk("completed recently", store.StatusCompleted, false, ago(50), ago(1))
	mk("completed, created recently", store.StatusCompleted, false, ago(1), time.Time{})
	mk("failed", store.StatusFailed, false, ago(50), ago(48))
	mk("cancelled", store.StatusCancelled, false, ago(48), time.Time{})
	mk("failed recently", store.StatusFailed, false, ago(50), ago(1))
	mk("recurring completed", store.StatusCompleted, true, ago(50), ago(48))
	mk("recurring failed", store.StatusFailed, true, ago(50), ago(48))
	mk("recurring cancelled", store.StatusCancelled, true, ago(50), ago(48))
	mk("waiting", store.StatusWaitingQueue, false, ago(48), time.Time{})
	mk("in progress", store.StatusInProgress, false, ago(50), ago(48))
	mk("service stopped", store.StatusServiceStopped, false, ago(50), ago(48))
	return rows
}

func retainerChecks() []check {
	return []check{
		{"AgesOfZeroOrLessDeleteNothing", func(t tb, s store.Store) {
			h := historyRow(t, s, 1, "", 5000, 2000, 48)
			he := historyRow(t, s, 2, "boom", 5000, 2000, 48)
			rows := finishedRows(t, s, 10)
			before := [2][3]int{historyCounts(t, s, h.ID), historyCounts(t, s, he.ID)}
			for _, age := range []time.Duration{0, -time.Hour, -1 << 62} {
				res := purge(t, s, store.RetentionPolicy{
					StatusAuditAge: age, RunsAuditAge: age, ErrorAuditAge: age, LogAge: age,
					CompletedTaskAge: age, FailedTaskAge: age,
				})
				if res != (store.PurgeResult{}) {
					t.Errorf("Purge with ages %v deleted %+v, want nothing", age, res)
				}
			}
			after := [2][3]int{historyCounts(t, s, h.ID), historyCounts(t, s, he.ID)}
			if before != after {
				t.Errorf("Purge with disabled ages changed the history: %v, then %v", before, after)
			}
			wantRowCount(t, s, 2+len(rows))
		}},
		{"StatusAuditsByAgeErrorsKeptLonger", func(t tb, s store.Store) {
			task := recurringTask(1)
			task.CreatedAt = ago(1000)
			persist(t, s, task)
			steps := []store.TransitionParams{
				{To: store.StatusQueued, Now: ago(200)},
				{To: store.StatusFailed, Now: ago(200), Error: "very old failure"},
				{To: store.StatusQueued, Now: ago(48)},
				{To: store.StatusFailed, Now: ago(48), Error: "recent failure"},
				{To: store.StatusInProgress, Now: ago(1)},
			}
			for _, p := range steps {
				p.ID = task.ID
				transition(t, s, p)
			}
			runs := historyRow(t, s, 2, "", 200)
			res := purge(t, s, store.RetentionPolicy{StatusAuditAge: 24 * time.Hour, ErrorAuditAge: 100 * time.Hour})
			wantStatusAudits(t, s, "after Purge", task.ID, []store.StatusAudit{
				{At: ago(1), Status: store.StatusInProgress},
				{At: ago(48), Status: store.StatusFailed, Error: "recent failure"},
			})
			if res.StatusAudits != 4 { // three of task, one of runs
				t.Errorf("PurgeResult.StatusAudits = %d, want 4", res.StatusAudits)
			}
			if got := historyCounts(t, s, runs.ID); got != [3]int{0, 1, 1} {
				t.Errorf("the status audit rule touched runs audits or logs: %v, want [0 1 1]", got)
			}
			if res.RunsAudits != 0 || res.Logs != 0 || res.Tasks != 0 {
				t.Errorf("PurgeResult = %+v, want only status audits", res)
			}
		}},
		{"ErrorAuditsFollowTheAuditAgeWhenErrorAgeIsUnset", func(t tb, s store.Store) {
			task := recurringTask(1)
			task.CreatedAt = ago(1000)
			persist(t, s, task)
			transition(t, s, store.TransitionParams{ID: task.ID, To: store.StatusFailed, Now: ago(48), Error: "failure"})
			transition(t, s, store.TransitionParams{ID: task.ID, To: store.StatusQueued, Now: ago(1)})
			purge(t, s, store.RetentionPolicy{StatusAuditAge: 24 * time.Hour})
			wantStatusAudits(t, s, "after Purge", task.ID, []store.StatusAudit{{At: ago(1), Status: store.StatusQueued}})
		}},
		{"RunsAuditsByAgeErrorsKeptLonger", func(t tb, s store.Store) {
			ok := historyRow(t, s, 1, "", 200, 48, 1)
			failed := historyRow(t, s, 2, "boom", 200, 48, 1)
			res := purge(t, s, store.RetentionPolicy{RunsAuditAge: 24 * time.Hour, ErrorAuditAge: 100 * time.Hour})
			wantRunsAudits(t, s, "runs without error", ok.ID, []store.RunsAudit{{ExecutedAt: ago(1), Status: store.StatusInProgress}})
			wantRunsAudits(t, s, "runs with error", failed.ID, []store.RunsAudit{
				{ExecutedAt: ago(1), Status: store.StatusInProgress, Error: "boom"},
				{ExecutedAt: ago(48), Status: store.StatusInProgress, Error: "boom"},
			})
			if res.RunsAudits != 3 {
				t.Errorf("PurgeResult.RunsAudits = %d, want 3", res.RunsAudits)
			}
			if got := historyCounts(t, s, ok.ID); got[0] != 3 || got[2] != 3 {
				t.Errorf("the runs audit rule touched status audits or logs: %v", got)
			}
		}},
		{"LogsByAge", func(t tb, s store.Store) {
			task := historyRow(t, s, 1, "", 200, 48, 1)
			res := purge(t, s, store.RetentionPolicy{LogAge: 24 * time.Hour})
			l := logsOf(t, s, task.ID)
			if len(l) != 1 || !sameTime(l[0].At, ago(1)) {
				t.Errorf("logs after Purge: %v, want only the one of 1 hour ago", l)
			}
			if res.Logs != 2 {
				t.Errorf("PurgeResult.Logs = %d, want 2", res.Logs)
			}
			if got := historyCounts(t, s, task.ID); got[0] != 3 || got[1] != 3 {
				t.Errorf("the log rule touched audits: %v", got)
			}
		}},
		{"FinishedOneShotTasksWithTheirHistory", func(t tb, s store.Store) {
			rows := finishedRows(t, s, 1)
			// The completed row gets recent history: the cascade removes it
			// whatever its age.
			c := rows["completed"]
			transition(t, s, store.TransitionParams{ID: c.ID, To: store.StatusCompleted, Now: ago(48), ExecutionTime: time.Second})
			if err := s.SaveLogs(t.Context(), c.ID, []store.ExecutionLog{logRecord(c.ID, 1, 0, "Information", "done")}); err != nil {
				t.Fatalf("SaveLogs: %v", err)
			}
			present := func() map[string]bool {
				out := map[string]bool{}
				for name, r := range rows {
					_, err := s.Get(t.Context(), r.ID)
					out[name] = err == nil
				}
				return out
			}
			res := purge(t, s, store.RetentionPolicy{CompletedTaskAge: 24 * time.Hour})
			if res.Tasks != 2 {
				t.Errorf("Purge(CompletedTaskAge) deleted %d tasks, want 2", res.Tasks)
			}
			gone := map[string]bool{"completed": true, "completed, no last run": true}
			for name, ok := range present() {
				if ok == gone[name] {
					t.Errorf("after Purge(CompletedTaskAge): row %q present %v, want %v", name, ok, !gone[name])
				}
			}
			res = purge(t, s, store.RetentionPolicy{FailedTaskAge: 24 * time.Hour})
			if res.Tasks != 2 {
				t.Errorf("Purge(FailedTaskAge) deleted %d tasks, want 2", res.Tasks)
			}
			gone["failed"], gone["cancelled"] = true, true
			for name, ok := range present() {
				if ok == gone[name] {
					t.Errorf("after Purge(FailedTaskAge): row %q present %v, want %v", name, ok, !gone[name])
				}
			}
			again := newTask(1)
			again.ID = c.ID
			persist(t, s, again)
			if got := historyCounts(t, s, c.ID); got != [3]int{} {
				t.Errorf("a purged task's history survived: %v", got)
			}
		}},
		{"CutoffIsExactAndTheRowAsItIsCounts", func(t tb, s store.Store) {
			// Rows finished a microsecond either side of the cutoff; a row
			// that finished long ago, was requeued and finished again after
			// the cutoff; and one that finished long ago and was cancelled
			// since (which keeps its last execution as its time). A store
			// whose retention index keeps entries of rows that moved on
			// must judge each row as it is now.
			cut := ago(24)
			finish := func(n int, at time.Time) *store.Task {
				task := newTask(n)
				persist(t, s, task)
				transition(t, s, store.TransitionParams{ID: task.ID, To: store.StatusCompleted, Now: at})
				return task
			}
			before := finish(1, cut.Add(-time.Microsecond))
			finish(2, cut)
			finish(3, cut.Add(time.Microsecond))
			again := finish(4, ago(48))
			if !transition(t, s, store.TransitionParams{ID: again.ID, To: store.StatusQueued, From: []store.Status{store.StatusCompleted}, Now: ago(47)}) {
				t.Fatalf("requeue of a Completed row refused")
			}
			transition(t, s, store.TransitionParams{ID: again.ID, To: store.StatusCompleted, Now: ago(1)})
			moved := finish(5, ago(48))
			if !transition(t, s, store.TransitionParams{ID: moved.ID, To: store.StatusCancelled, From: []store.Status{store.StatusCompleted}, Now: ago(1)}) {
				t.Fatalf("cancel of a Completed row refused")
			}
			res := purge(t, s, store.RetentionPolicy{CompletedTaskAge: 24 * time.Hour})
			if res.Tasks != 1 {
				t.Errorf("Purge(CompletedTaskAge) deleted %d tasks, want 1", res.Tasks)
			}
			if _, err := s.Get(t.Context(), before.ID); err == nil {
				t.Errorf("the row completed 1µs before the cutoff survived")
			}
			wantRowCount(t, s, 4)
			res = purge(t, s, store.RetentionPolicy{FailedTaskAge: 24 * time.Hour})
			if res.Tasks != 1 {
				t.Errorf("Purge(FailedTaskAge) deleted %d tasks, want 1 (the cancelled row)", res.Tasks)
			}
			if _, err := s.Get(t.Context(), moved.ID); err == nil {
				t.Errorf("the row cancelled after an old completion survived")
			}
			wantRowCount(t, s, 3)
		}},
		{"EveryAuditRuleCutsAtTheMicrosecond", func(t tb, s store.Store) {
			// Each history rule alone, over entries a microsecond before, at
			// and a microsecond after its cutoff: only the first goes (a
			// rule deletes what is older than its cutoff, never what is at
			// it).
			cut := ago(24)
			times := []time.Time{cut.Add(-time.Microsecond), cut, cut.Add(time.Microsecond)}
			plain, failing := recurringTask(1), recurringTask(2)
			plain.CreatedAt, failing.CreatedAt, failing.Error = ago(1000), ago(1000), "boom"
			persist(t, s, plain, failing)
			for i, at := range times {
				transition(t, s, store.TransitionParams{ID: plain.ID, To: store.StatusInProgress, Now: at})
				transition(t, s, store.TransitionParams{ID: failing.ID, To: store.StatusFailed, Now: at, Error: "boom"})
				for _, p := range []store.RunParams{
					{ID: plain.ID, Now: at, NextRunAt: purgeNow},
					{ID: failing.ID, Now: at, NextRunAt: purgeNow, Error: "boom"},
				} {
					if err := s.UpdateCurrentRun(t.Context(), p); err != nil {
						t.Fatalf("UpdateCurrentRun: %v", err)
					}
				}
				l := logRecord(plain.ID, i, 0, "Information", fmt.Sprint("run ", i))
				l.At = at
				if err := s.SaveLogs(t.Context(), plain.ID, []store.ExecutionLog{l}); err != nil {
					t.Fatalf("SaveLogs: %v", err)
				}
			}
			for _, a := range statusAudits(t, s, failing.ID) {
				if a.Error == "" {
					t.Fatalf("setup: a status audit of the failing series has no error: %v", a)
				}
			}
			for _, a := range runsAudits(t, s, failing.ID) {
				if a.Error == "" {
					t.Fatalf("setup: a runs audit of the failing series has no error: %v", a)
				}
			}
			// at lists the times of one kind of history of a task, newest
			// first.
			at := func(kind string, id uuid.UUID) []time.Time {
				var out []time.Time
				switch kind {
				case "status":
					for _, a := range statusAudits(t, s, id) {
						out = append(out, a.At)
					}
				case "runs":
					for _, a := range runsAudits(t, s, id) {
						out = append(out, a.ExecutedAt)
					}
				case "logs":
					for _, l := range logsOf(t, s, id) {
						out = append(out, l.At)
					}
					slices.Reverse(out) // logs come oldest first
				}
				return out
			}
			all, kept := []time.Time{times[2], times[1], times[0]}, []time.Time{times[2], times[1]}
			want := func(rule, kind string, id uuid.UUID, times []time.Time) {
				t.Helper()
				got := at(kind, id)
				ok := len(got) == len(times)
				for i := 0; ok && i < len(got); i++ {
					ok = sameTime(got[i], times[i])
				}
				if !ok {
					var g []string
					for _, x := range got {
						g = append(g, fmtTime(x))
					}
					t.Errorf("after the %s rule at cutoff %s: %s of task %d at %v, want %d (cutoff-1µs gone, cutoff and cutoff+1µs kept)",
						rule, fmtTime(cut), kind, map[uuid.UUID]int{plain.ID: 1, failing.ID: 2}[id], g, len(times))
				}
			}
			rules := []struct {
				name string
				p    store.RetentionPolicy
				res  store.PurgeResult
				// which history each task should have left afterwards
				status, runs [2][]time.Time
				logs         []time.Time
			}{
				{"ErrorAuditAge", store.RetentionPolicy{ErrorAuditAge: 24 * time.Hour}, store.PurgeResult{StatusAudits: 1, RunsAudits: 1},
					[2][]time.Time{all, kept}, [2][]time.Time{all, kept}, all},
				{"StatusAuditAge", store.RetentionPolicy{StatusAuditAge: 24 * time.Hour}, store.PurgeResult{StatusAudits: 1},
					[2][]time.Time{kept, kept}, [2][]time.Time{all, kept}, all},
				{"RunsAuditAge", store.RetentionPolicy{RunsAuditAge: 24 * time.Hour}, store.PurgeResult{RunsAudits: 1},
					[2][]time.Time{kept, kept}, [2][]time.Time{kept, kept}, all},
				{"LogAge", store.RetentionPolicy{LogAge: 24 * time.Hour}, store.PurgeResult{Logs: 1},
					[2][]time.Time{kept, kept}, [2][]time.Time{kept, kept}, kept},
			}
			for _, r := range rules {
				if res := purge(t, s, r.p); res != r.res {
					t.Errorf("Purge(%s) at cutoff %s = %+v, want %+v", r.name, fmtTime(cut), res, r.res)
				}
				for i, id := range []uuid.UUID{plain.ID, failing.ID} {
					want(r.name, "status", id, r.status[i])
					want(r.name, "runs", id, r.runs[i])
				}
				want(r.name, "logs", plain.ID, r.logs)
			}
		}},
		{"EveryTaskRuleCutsAtTheMicrosecond", func(t tb, s store.Store) {
			// Completed, Failed and Cancelled one-shot rows whose time
			// (last execution, else creation) is a microsecond before, at
			// and a microsecond after the cutoff: only the first goes.
			cut := ago(24)
			times := []time.Time{cut.Add(-time.Microsecond), cut, cut.Add(time.Microsecond)}
			var rows [3][3]*store.Task // [completed, failed, cancelled][time]
			for i, at := range times {
				for k, st := range []store.Status{store.StatusCompleted, store.StatusFailed, store.StatusCancelled} {
					task := newTask(10*(k+1) + i)
					task.Status, task.CreatedAt, task.LastExecutionAt = st, at.Add(-time.Hour), at
					if st == store.StatusCancelled {
						task.CreatedAt, task.LastExecutionAt = at, time.Time{} // judged by its creation
					}
					persist(t, s, task)
					rows[k][i] = task
				}
			}
			present := func(rule string, goneUpTo int) {
				t.Helper()
				for k, name := range []string{"Completed", "Failed", "Cancelled"} {
					for i, task := range rows[k] {
						_, err := s.Get(t.Context(), task.ID)
						gone := i == 0 && k <= goneUpTo
						if (err == nil) == gone {
							t.Errorf("after the %s rule: the %s row at cutoff%+dµs present %v, want %v",
								rule, name, i-1, err == nil, !gone)
						}
					}
				}
			}
			if res := purge(t, s, store.RetentionPolicy{CompletedTaskAge: 24 * time.Hour}); res.Tasks != 1 {
				t.Errorf("Purge(CompletedTaskAge) at the cutoff deleted %d tasks, want 1", res.Tasks)
			}
			present("CompletedTaskAge", 0)
			if res := purge(t, s, store.RetentionPolicy{FailedTaskAge: 24 * time.Hour}); res.Tasks != 2 {
				t.Errorf("Purge(FailedTaskAge) at the cutoff deleted %d tasks, want 2", res.Tasks)
			}
			present("FailedTaskAge", 2)
		}},
		{"SmallBatchesStillDeleteEverything", func(t tb, s store.Store) {
			hours := []int{300, 290, 280, 270, 260, 250, 240, 230, 220, 210, 1}
			h := historyRow(t, s, 1, "", hours...)
			for i := range 7 {
				for j, st := range []store.Status{store.StatusCompleted, store.StatusFailed} {
					task := newTask(100 + 2*i + j)
					task.Status, task.CreatedAt = st, ago(100+i)
					persist(t, s, task)
				}
			}
			age := 24 * time.Hour
			res := purge(t, s, store.RetentionPolicy{BatchSize: 3, StatusAuditAge: age, RunsAuditAge: age, LogAge: age,
				CompletedTaskAge: age, FailedTaskAge: age})
			want := store.PurgeResult{StatusAudits: 10, RunsAudits: 10, Logs: 10, Tasks: 14}
			if res != want {
				t.Errorf("Purge with BatchSize 3 = %+v, want %+v", res, want)
			}
			if got := historyCounts(t, s, h.ID); got != [3]int{1, 1, 1} {
				t.Errorf("history left after Purge: %v, want [1 1 1]", got)
			}
			wantRowCount(t, s, 1)
		}},
		{"ProgressAndCountMatchThePurge", func(t tb, s store.Store) {
			hours := []int{300, 290, 280, 270, 260, 250, 240, 230, 220, 210, 1}
			historyRow(t, s, 1, "", hours...)
			historyRow(t, s, 2, "boom", hours...)
			for i := range 7 {
				for j, st := range []store.Status{store.StatusCompleted, store.StatusFailed} {
					task := newTask(100 + 2*i + j)
					task.Status, task.CreatedAt = st, ago(100+i)
					persist(t, s, task)
				}
			}
			age := 24 * time.Hour
			var calls []store.PurgeResult
			p := store.RetentionPolicy{Now: purgeNow, BatchSize: 3, StatusAuditAge: age, RunsAuditAge: age, ErrorAuditAge: 255 * time.Hour,
				LogAge: age, CompletedTaskAge: age, FailedTaskAge: age}
			var count store.PurgeResult
			pc, counts := s.(store.PurgeCounter)
			if counts {
				var err error
				if count, err = pc.CountPurge(t.Context(), p); err != nil {
					t.Fatalf("CountPurge: %v", err)
				}
				if again, err := pc.CountPurge(t.Context(), p); err != nil || again != count {
					t.Fatalf("CountPurge twice: %+v then %+v, %v; a count must delete nothing", count, again, err)
				}
			}
			p.Progress = func(r store.PurgeResult) { calls = append(calls, r) }
			res := purge(t, s, p)
			if counts && count != res {
				t.Errorf("CountPurge = %+v, then Purge = %+v; want the same", count, res)
			}
			if len(calls) < res.Total()/3/2 || len(calls) == 0 {
				t.Fatalf("Purge of %d rows in batches of 3 called Progress %d times; want about once a batch", res.Total(), len(calls))
			}
			for i := 1; i < len(calls); i++ {
				a, b := calls[i-1], calls[i]
				if b.StatusAudits < a.StatusAudits || b.RunsAudits < a.RunsAudits || b.Logs < a.Logs || b.Attempts < a.Attempts || b.Tasks < a.Tasks {
					t.Fatalf("Progress went back: %+v then %+v", a, b)
				}
			}
			if last := calls[len(calls)-1]; last != res {
				t.Errorf("the last Progress %+v is not Purge's result %+v", last, res)
			}
		}},
	}
}
