package storetest

import (
	"fmt"
	"time"

	"github.com/evertask/evertask/store"
)

func transitionChecks() []check {
	return []check{
		{"WritesStatusAndAudit", func(t tb, s store.Store) {
			task := newTask(1)
			persist(t, s, task)
			now := time.Date(2026, 1, 2, 9, 0, 0, 123456789, elsewhere)
			if !transition(t, s, store.TransitionParams{ID: task.ID, To: store.StatusQueued, Now: now}) {
				t.Fatalf("unconditional Transition did not apply")
			}
			want := task.Clone()
			want.Status = store.StatusQueued
			wantRow(t, s, "after Queued", want)
			wantStatusAudits(t, s, "after Queued", task.ID, []store.StatusAudit{{At: now, Status: store.StatusQueued}})
		}},
		{"FromConditionIsCompareAndSet", func(t tb, s store.Store) {
			task := newTask(1)
			task.Status = store.StatusQueued
			persist(t, s, task)
			p := store.TransitionParams{ID: task.ID, To: store.StatusInProgress, Now: at(time.Second),
				From: []store.Status{store.StatusWaitingQueue, store.StatusPending}}
			if transition(t, s, p) {
				t.Errorf("Transition from {WaitingQueue, Pending} applied to a Queued row")
			}
			wantRow(t, s, "after the refused transition", task)
			if a := statusAudits(t, s, task.ID); len(a) != 0 {
				t.Errorf("a refused transition wrote audits: %v", a)
			}
			p.From = []store.Status{store.StatusWaitingQueue, store.StatusQueued}
			if !transition(t, s, p) {
				t.Fatalf("Transition from {WaitingQueue, Queued} did not apply to a Queued row")
			}
			want := task.Clone()
			want.Status = store.StatusInProgress
			wantRow(t, s, "after the applied transition", want)
			// Repeating an applied conditional transition is refused, which is
			// what makes it safe to retry.
			p.From = []store.Status{store.StatusQueued}
			if transition(t, s, p) {
				t.Errorf("a repeated conditional transition applied twice")
			}
			wantStatusAudits(t, s, "one audit", task.ID, []store.StatusAudit{{At: at(time.Second), Status: store.StatusInProgress}})
		}},
		{"IfRecoverableAndFromMustBothHold", func(t tb, s store.Store) {
			live := newTask(1)
			live.Status = store.StatusQueued
			exhausted := newTask(2)
			exhausted.Status = store.StatusQueued
			exhausted.MaxRuns, exhausted.RunCount = 2, 2
			persist(t, s, live, exhausted)
			p := store.TransitionParams{To: store.StatusWaitingQueue, Now: base, IfRecoverable: true}
			p.ID, p.From = live.ID, []store.Status{store.StatusInProgress}
			if transition(t, s, p) {
				t.Errorf("recoverable row with an unmet From condition: applied")
			}
			p.ID, p.From = exhausted.ID, []store.Status{store.StatusQueued}
			if transition(t, s, p) {
				t.Errorf("unrecoverable row with a met From condition: applied")
			}
			wantRow(t, s, "refused (recoverable)", live)
			wantRow(t, s, "refused (exhausted)", exhausted)
			p.ID, p.From = live.ID, []store.Status{store.StatusQueued}
			if !transition(t, s, p) {
				t.Errorf("recoverable row with a met From condition: not applied")
			}
			want := live.Clone()
			want.Status = store.StatusWaitingQueue
			wantRow(t, s, "applied", want)
		}},
		{"StampsExecutionOnlyWhenARunEnds", func(t tb, s store.Store) {
			prevRun := at(-time.Hour)
			for i, to := range store.Statuses {
				// Every other field is set, so a store that writes more
				// than the rules say is caught.
				task := fullTask(i + 1)
				task.Key = fmt.Sprint("key-", i)
				task.Status = store.StatusInProgress
				task.LastExecutionAt = prevRun
				task.ExecutionTime = time.Second
				task.Error = "earlier error"
				persist(t, s, task)
				now := at(time.Duration(i) * time.Second)
				p := store.TransitionParams{ID: task.ID, To: to, Now: now, Error: "new error", ExecutionTime: 2*time.Second + 1500*time.Nanosecond}
				if !transition(t, s, p) {
					t.Errorf("Transition to %s did not apply", to)
					continue
				}
				want := task.Clone()
				want.Status = to
				if to == store.StatusCompleted || to == store.StatusFailed || to == store.StatusServiceStopped {
					want.LastExecutionAt = now
					want.ExecutionTime = p.ExecutionTime
				}
				if to.Terminal() {
					want.Error = p.Error
				}
				if to != store.StatusInProgress {
					wantLeaseReleased(t, s, want)
				}
				wantRow(t, s, "Transition to "+string(to), want)
			}
		}},
		{"SuccessClearsError", func(t tb, s store.Store) {
			task := newTask(1)
			task.Status = store.StatusInProgress
			task.Error = "failed last time"
			persist(t, s, task)
			transition(t, s, store.TransitionParams{ID: task.ID, To: store.StatusCompleted, Now: base})
			if got := get(t, s, task.ID); got.Error != "" {
				t.Errorf("Error after Completed = %q, want empty", got.Error)
			}
		}},
		{"UnknownRowIsNotFound", func(t tb, s store.Store) {
			applied, err := s.Transition(t.Context(), store.TransitionParams{ID: tid(1), To: store.StatusQueued, Now: base})
			wantErr(t, "Transition(unknown)", err, store.ErrNotFound)
			if applied {
				t.Errorf("Transition(unknown) reports applied")
			}
			applied, err = s.Transition(t.Context(), store.TransitionParams{ID: tid(1), To: store.StatusQueued, Now: base,
				From: []store.Status{store.StatusWaitingQueue}, IfRecoverable: true})
			wantErr(t, "conditional Transition(unknown)", err, store.ErrNotFound)
			if applied {
				t.Errorf("conditional Transition(unknown) reports applied")
			}
			wantRowCount(t, s, 0)
		}},
		{"ConditionalHasExactlyOneWinner", func(t tb, s store.Store) {
			task := newTask(1)
			task.Status = store.StatusQueued
			persist(t, s, task)
			const n = 32
			applied := raceApplied(t, "Transition", n, func(i int) (bool, error) {
				return s.Transition(t.Context(), store.TransitionParams{
					ID: task.ID, To: store.StatusInProgress, From: []store.Status{store.StatusQueued},
					Now: at(time.Duration(i+1) * time.Millisecond),
				})
			})
			winners := 0
			var winAt time.Time
			for i := range n {
				if applied[i] {
					winners++
					winAt = at(time.Duration(i+1) * time.Millisecond)
				}
			}
			if winners != 1 {
				t.Fatalf("%d of %d concurrent conditional transitions applied, want exactly 1", winners, n)
			}
			wantStatusAudits(t, s, "after the race", task.ID, []store.StatusAudit{{At: winAt, Status: store.StatusInProgress}})
		}},
		{"ConcurrentRequeueIfRecoverableHasOneWinner", func(t tb, s store.Store) {
			// Recovery and a due timer may both try to re-queue a row; From
			// plus IfRecoverable must let exactly one through.
			task := newTask(1)
			persist(t, s, task)
			applied := raceApplied(t, "Transition", 32, func(int) (bool, error) {
				return s.Transition(t.Context(), store.TransitionParams{
					ID: task.ID, To: store.StatusQueued, From: []store.Status{store.StatusWaitingQueue},
					IfRecoverable: true, Now: base,
				})
			})
			if winners := countTrue(applied); winners != 1 {
				t.Errorf("%d concurrent re-queues applied, want exactly 1", winners)
			}
			if a := statusAudits(t, s, task.ID); len(a) != 1 {
				t.Errorf("%d status audits after the race, want 1", len(a))
			}
		}},
		{"AuditsAreNewestFirst", func(t tb, s store.Store) {
			task := newTask(1)
			persist(t, s, task)
			steps := []store.TransitionParams{
				{To: store.StatusQueued, Now: at(time.Second)},
				{To: store.StatusInProgress, Now: at(2 * time.Second)},
				{To: store.StatusFailed, Now: at(3 * time.Second), Error: "first"},
				{To: store.StatusQueued, Now: at(3 * time.Second)}, // same microsecond: the id orders them
				{To: store.StatusInProgress, Now: at(3 * time.Second)},
				{To: store.StatusCompleted, Now: at(4 * time.Second)},
			}
			var want []store.StatusAudit
			for _, p := range steps {
				p.ID = task.ID
				transition(t, s, p)
				want = append([]store.StatusAudit{{At: p.Now, Status: p.To, Error: p.Error}}, want...)
			}
			wantStatusAudits(t, s, "newest first", task.ID, want)
			got := statusAudits(t, s, task.ID)
			for i := 1; i < len(got); i++ {
				if got[i].ID >= got[i-1].ID {
					t.Errorf("audit ids are not decreasing newest first: %d then %d", got[i-1].ID, got[i].ID)
				}
			}
		}},
	}
}
