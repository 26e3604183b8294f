package storetest

import (
	"fmt"
	"time"

	"github.com/evertask/evertask/store"
	"github.com/google/uuid"
)

func attempts(t tb, s store.Store, id uuid.UUID) []store.Attempt {
	t.Helper()
	got, err := s.(store.AttemptStore).Attempts(t.Context(), id)
	if err != nil {
		t.Fatalf("Attempts(%s): %v", id, err)
	}
	return got
}

func recordAttempt(t tb, s store.Store, p store.AttemptParams) bool {
	t.Helper()
	applied, err := s.(store.AttemptStore).RecordAttempt(t.Context(), p)
	if err != nil {
		t.Fatalf("RecordAttempt(%+v): %v", p.Attempt, err)
	}
	return applied
}

// failedAttempt returns an attempt of task at started, with a time zone and
// nanoseconds the store must normalize.
func failedAttempt(task uuid.UUID, run, number int, started time.Time, errText string) store.Attempt {
	return store.Attempt{
		TaskID: task, Run: run, Number: number, StartedAt: started.In(elsewhere).Add(321 * time.Nanosecond),
		Duration: 1500*time.Millisecond + 999*time.Nanosecond, Error: errText,
	}
}

// wantAttempts compares attempts field by field, ignoring the IDs, which
// must only increase.
func wantAttempts(t tb, what string, got, want []store.Attempt) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d attempts %+v, want %d", what, len(got), got, len(want))
		return
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.TaskID != w.TaskID || g.Run != w.Run || g.Number != w.Number || !sameTime(g.StartedAt, w.StartedAt) ||
			g.Duration != w.Duration.Truncate(time.Microsecond) || g.Error != w.Error {
			t.Errorf("%s: attempt %d = %+v, want %+v (times to the µs, in UTC)", what, i, g, w)
		}
		if i > 0 && g.ID <= got[i-1].ID {
			t.Errorf("%s: attempt ids do not increase: %d after %d", what, g.ID, got[i-1].ID)
		}
	}
}

func attemptChecks() []check {
	return []check{
		{"RecordedOldestFirstWithEveryField", func(t tb, s store.Store) {
			task, other := newTask(1), newTask(2)
			persist(t, s, task, other)
			want := []store.Attempt{
				failedAttempt(task.ID, 1, 1, at(time.Second), "first | failure ошибка 💥"),
				failedAttempt(task.ID, 1, 2, at(3*time.Second), "second\nfailure"),
				failedAttempt(task.ID, 2, 1, at(2*time.Second), ""), // an earlier start, recorded later
			}
			recordAttempt(t, s, store.AttemptParams{Attempt: failedAttempt(other.ID, 1, 1, at(0), "other task"), AuditLevel: store.AuditFull})
			for _, a := range want {
				if !recordAttempt(t, s, store.AttemptParams{Attempt: a, AuditLevel: store.AuditFull}) {
					t.Fatalf("RecordAttempt without a fence reported not applied")
				}
			}
			got := attempts(t, s, task.ID)
			wantAttempts(t, "Attempts", got, want)
			for _, a := range got {
				if a.StartedAt.Location() != time.UTC {
					t.Errorf("StartedAt %v is not in UTC", a.StartedAt)
				}
				if a.ID == 0 {
					t.Errorf("attempt %+v has no id", a)
				}
			}
			wantAttempts(t, "Attempts of the other task", attempts(t, s, other.ID),
				[]store.Attempt{failedAttempt(other.ID, 1, 1, at(0), "other task")})
			none := newTask(3)
			persist(t, s, none)
			if got := attempts(t, s, none.ID); got == nil || len(got) != 0 {
				t.Errorf("Attempts of a task with none = %#v, want an empty, non-nil slice", got)
			}
		}},
		{"EveryLevelButNoneKeepsThem", func(t tb, s store.Store) {
			task := newTask(1)
			persist(t, s, task)
			var want []store.Attempt
			for i, level := range []store.AuditLevel{store.AuditFull, store.AuditMinimal, store.AuditErrorsOnly, store.AuditNone} {
				a := failedAttempt(task.ID, 1, i+1, at(time.Duration(i)*time.Second), fmt.Sprint("level ", level))
				if !recordAttempt(t, s, store.AttemptParams{Attempt: a, AuditLevel: level}) {
					t.Errorf("RecordAttempt at level %v reported not applied", level)
				}
				if store.AttemptAuditRequired(level) {
					want = append(want, a)
				}
			}
			wantAttempts(t, "Attempts after one per level (None writes nothing)", attempts(t, s, task.ID), want)
		}},
		{"MissingRowAndBadParams", func(t tb, s store.Store) {
			as := s.(store.AttemptStore)
			_, err := as.RecordAttempt(t.Context(), store.AttemptParams{Attempt: failedAttempt(tid(99), 1, 1, at(0), "x"), AuditLevel: store.AuditFull})
			wantErr(t, "RecordAttempt of a missing row", err, store.ErrNotFound)
			_, err = as.RecordAttempt(t.Context(), store.AttemptParams{Attempt: failedAttempt(tid(99), 1, 1, at(0), "x"), AuditLevel: store.AuditNone})
			wantErr(t, "RecordAttempt at level None of a missing row", err, store.ErrNotFound)
			task := newTask(1)
			persist(t, s, task)
			bad := map[string]store.AttemptParams{
				"zero id":           {Attempt: failedAttempt(uuid.Nil, 1, 1, at(0), "x")},
				"run 0":             {Attempt: failedAttempt(task.ID, 0, 1, at(0), "x")},
				"number 0":          {Attempt: failedAttempt(task.ID, 1, 0, at(0), "x")},
				"no start":          {Attempt: store.Attempt{TaskID: task.ID, Run: 1, Number: 1, Error: "x"}},
				"negative duration": {Attempt: store.Attempt{TaskID: task.ID, Run: 1, Number: 1, StartedAt: at(0), Duration: -1}},
				"unknown level":     {Attempt: failedAttempt(task.ID, 1, 1, at(0), "x"), AuditLevel: 99},
			}
			for name, p := range bad {
				_, err := as.RecordAttempt(t.Context(), p)
				wantErr(t, "RecordAttempt with "+name, err, store.ErrInvalid)
			}
			if got := attempts(t, s, task.ID); len(got) != 0 {
				t.Errorf("invalid params wrote attempts: %+v", got)
			}
		}},
		{"RemoveDeletesThem", func(t tb, s store.Store) {
			task, keep := newTask(1), newTask(2)
			persist(t, s, task, keep)
			for _, id := range []uuid.UUID{task.ID, keep.ID} {
				recordAttempt(t, s, store.AttemptParams{Attempt: failedAttempt(id, 1, 1, at(0), "boom"), AuditLevel: store.AuditFull})
			}
			if err := s.Remove(t.Context(), task.ID); err != nil {
				t.Fatalf("Remove: %v", err)
			}
			// The same id again: the attempts of the removed row must not
			// come back with it.
			persist(t, s, newTask(1))
			if got := attempts(t, s, task.ID); len(got) != 0 {
				t.Errorf("a row persisted again under a removed id has the old attempts %+v", got)
			}
			if got := attempts(t, s, keep.ID); len(got) != 1 {
				t.Errorf("Remove of another row changed this one's attempts: %+v", got)
			}
		}},
		{"FencedOnTheLease", func(t tb, s store.Store) {
			if _, ok := s.(store.Cluster); !ok {
				t.Skipf("%T is not a store.Cluster: HeldBy does not apply", s)
			}
			task := newTask(1)
			task.Status = store.StatusQueued
			persist(t, s, task)
			transition(t, s, store.TransitionParams{ID: task.ID, To: store.StatusInProgress, Now: at(time.Second),
				Lease: &store.Lease{Owner: "node-a", For: time.Hour}})
			rec := func(owner string, n int) bool {
				return recordAttempt(t, s, store.AttemptParams{Attempt: failedAttempt(task.ID, 1, n, at(time.Duration(n)*time.Second), owner),
					AuditLevel: store.AuditFull, HeldBy: owner})
			}
			if !rec("node-a", 1) {
				t.Errorf("RecordAttempt fenced on the holder's lease was refused")
			}
			if rec("node-b", 2) {
				t.Errorf("RecordAttempt fenced on another node's lease applied")
			}
			transition(t, s, store.TransitionParams{ID: task.ID, To: store.StatusCompleted, Now: at(time.Minute), HeldBy: "node-a"})
			if rec("node-a", 3) {
				t.Errorf("RecordAttempt fenced on a lease the row no longer has applied")
			}
			wantAttempts(t, "Attempts", attempts(t, s, task.ID), []store.Attempt{failedAttempt(task.ID, 1, 1, at(time.Second), "node-a")})
		}},
		{"PurgedByTheErrorAuditAge", func(t tb, s store.Store) {
			if _, ok := s.(store.Retainer); !ok {
				t.Skipf("%T is not a store.Retainer", s)
			}
			// At cut-1µs, cut and cut+1µs of each age: only the first goes.
			rows := func(first int, cut time.Time) (uuid.UUID, []store.Attempt) {
				task := recurringTask(first)
				task.CreatedAt = ago(1000)
				persist(t, s, task)
				var kept []store.Attempt
				for i, d := range []time.Duration{-time.Microsecond, 0, time.Microsecond} {
					a := store.Attempt{TaskID: task.ID, Run: 1, Number: i + 1, StartedAt: cut.Add(d), Error: "boom"}
					recordAttempt(t, s, store.AttemptParams{Attempt: a, AuditLevel: store.AuditFull})
					if d >= 0 {
						kept = append(kept, a)
					}
				}
				return task.ID, kept
			}
			// ErrorAuditAge wins over StatusAuditAge.
			a, keptA := rows(1, ago(100))
			// Only a log rule: attempts are kept whatever their age.
			res := purge(t, s, store.RetentionPolicy{LogAge: time.Hour, RunsAuditAge: time.Hour, BatchSize: 1})
			if res.Attempts != 0 || len(attempts(t, s, a)) != 3 {
				t.Errorf("Purge without an audit age deleted %d attempts", res.Attempts)
			}
			res = purge(t, s, store.RetentionPolicy{StatusAuditAge: time.Hour, ErrorAuditAge: 100 * time.Hour, BatchSize: 1})
			if res.Attempts != 1 {
				t.Errorf("PurgeResult.Attempts = %d, want 1", res.Attempts)
			}
			wantAttempts(t, "attempts after Purge by ErrorAuditAge 100h", attempts(t, s, a), keptA)
			// Without ErrorAuditAge, StatusAuditAge applies.
			b, keptB := rows(2, ago(10))
			res = purge(t, s, store.RetentionPolicy{StatusAuditAge: 10 * time.Hour})
			if res.Attempts != 1+2 { // b's oldest, and a's two (before ago(10))
				t.Errorf("PurgeResult.Attempts = %d, want 3", res.Attempts)
			}
			wantAttempts(t, "attempts after Purge by StatusAuditAge 10h", attempts(t, s, b), keptB)
			if got := attempts(t, s, a); len(got) != 0 {
				t.Errorf("attempts older than StatusAuditAge kept: %+v", got)
			}
		}},
		{"PurgedWithTheirTask", func(t tb, s store.Store) {
			if _, ok := s.(store.Retainer); !ok {
				t.Skipf("%T is not a store.Retainer", s)
			}
			task := newTask(1)
			task.Status, task.CreatedAt, task.LastExecutionAt = store.StatusFailed, ago(50), ago(48)
			persist(t, s, task)
			recordAttempt(t, s, store.AttemptParams{Attempt: failedAttempt(task.ID, 1, 1, ago(1), "recent"), AuditLevel: store.AuditFull})
			res := purge(t, s, store.RetentionPolicy{FailedTaskAge: 24 * time.Hour})
			if res.Tasks != 1 {
				t.Fatalf("PurgeResult.Tasks = %d, want 1", res.Tasks)
			}
			persist(t, s, newTask(1))
			if got := attempts(t, s, task.ID); len(got) != 0 {
				t.Errorf("a purged task's attempts came back with its id: %+v", got)
			}
		}},
	}
}
