package pgstore_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/evertask/evertask/store"
	"github.com/evertask/evertask/store/pgstore"
)

// clusterTasks are n rows of queue "q" created an hour before the store's
// clock (claims read the server's time), a microsecond apart.
func clusterTasks(t *testing.T, s *pgstore.Store, n int) []*store.Task {
	t.Helper()
	now, err := s.Now(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	out := make([]*store.Task, n)
	for i := range out {
		out[i] = task(i)
		out[i].CreatedAt = now.Add(-time.Hour + time.Duration(i)*time.Microsecond)
		out[i].Queue = "q"
	}
	return out
}

func persistAll(t *testing.T, s *pgstore.Store, tasks ...*store.Task) {
	t.Helper()
	if err := s.PersistMany(t.Context(), tasks); err != nil {
		t.Fatal(err)
	}
}

func get(t *testing.T, s *pgstore.Store, id uuid.UUID) *store.Task {
	t.Helper()
	got, err := s.Get(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func auditStatuses(t *testing.T, s *pgstore.Store, id uuid.UUID) []store.Status {
	t.Helper()
	audits, err := s.StatusAudits(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	var out []store.Status
	for i := len(audits) - 1; i >= 0; i-- { // oldest first
		out = append(out, audits[i].Status)
	}
	return out
}

func ids(tasks []*store.Task) []uuid.UUID {
	out := make([]uuid.UUID, len(tasks))
	for i, t := range tasks {
		out[i] = t.ID
	}
	return out
}

func TestClaim(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := t.Context()
	rows := clusterTasks(t, s, 11)
	var (
		waiting   = rows[5] // due at creation
		queued    = rows[1]
		stopped   = rows[2]
		series    = rows[3] // a finished occurrence with a next one, due first
		scheduled = rows[4] // due in a minute: NextDue
		later     = rows[6] // due in an hour
		running   = rows[7]
		cancelled = rows[8]
		exhausted = rows[9]
		elsewhere = rows[10]
	)
	queued.Status, queued.AuditLevel = store.StatusQueued, store.AuditFull
	stopped.Status, stopped.AuditLevel = store.StatusServiceStopped, store.AuditNone
	series.Status, series.Recurring, series.NextRunAt = store.StatusCompleted, true, series.CreatedAt.Add(-time.Minute)
	scheduled.ScheduledAt = scheduled.CreatedAt.Add(time.Hour + time.Minute)
	later.ScheduledAt = later.CreatedAt.Add(2 * time.Hour)
	running.Status = store.StatusInProgress
	cancelled.Status = store.StatusCancelled
	exhausted.Recurring, exhausted.MaxRuns, exhausted.RunCount = true, 2, 2
	elsewhere.Queue = "other"
	persistAll(t, s, waiting, queued, stopped, series, scheduled, later, running, cancelled, exhausted, elsewhere)

	at := base.Add(time.Hour)
	before, err := s.Now(ctx)
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.Claim(ctx, store.ClaimParams{Owner: "n1", Queue: "q", Limit: 10, LeaseFor: time.Minute, Now: at})
	if err != nil {
		t.Fatal(err)
	}
	after, _ := s.Now(ctx)
	if want := []uuid.UUID{series.ID, queued.ID, stopped.ID, waiting.ID}; !reflect.DeepEqual(ids(res.Tasks), want) {
		t.Fatalf("claimed %v, want %v (due order)", ids(res.Tasks), want)
	}
	if res.StoreNow.Before(before) || res.StoreNow.After(after) {
		t.Errorf("StoreNow %v not within the call (%v .. %v)", res.StoreNow, before, after)
	}
	if want := store.NormalizeTime(scheduled.ScheduledAt); !res.NextDue.Equal(want) {
		t.Errorf("NextDue = %v, want %v", res.NextDue, want)
	}
	for _, got := range res.Tasks {
		if got.Status != store.StatusInProgress || got.Owner != "n1" || !got.LeaseUntil.Equal(res.StoreNow.Add(time.Minute)) {
			t.Errorf("claimed row %s: status %s owner %q lease %v; want InProgress, n1, %v",
				got.ID, got.Status, got.Owner, got.LeaseUntil, res.StoreNow.Add(time.Minute))
		}
		if stored := get(t, s, got.ID); !reflect.DeepEqual(stored, got) {
			t.Errorf("claim returned %+v, the row is %+v", got, stored)
		}
	}
	for id, want := range map[uuid.UUID][]store.Status{
		waiting.ID: {store.StatusQueued, store.StatusInProgress},
		queued.ID:  {store.StatusInProgress}, // already Queued: no second Queued audit
		stopped.ID: nil,                      // audit level None
		series.ID:  {store.StatusQueued, store.StatusInProgress},
	} {
		if got := auditStatuses(t, s, id); !reflect.DeepEqual(got, want) {
			t.Errorf("audits of %s: %v, want %v", id, got, want)
		}
	}
	audits, _ := s.StatusAudits(ctx, waiting.ID)
	for _, a := range audits {
		if !a.At.Equal(store.NormalizeTime(at)) || a.Error != "" {
			t.Errorf("claim audit %+v, want at %v without error", a, at)
		}
	}

	// Nothing left that is due: the header row alone.
	res, err = s.Claim(ctx, store.ClaimParams{Owner: "n2", Queue: "q", Limit: 10, LeaseFor: time.Minute, Now: at})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Tasks) != 0 || res.StoreNow.IsZero() || !res.NextDue.Equal(store.NormalizeTime(scheduled.ScheduledAt)) {
		t.Errorf("second claim = %+v, want nothing, the clock and the next due time", res)
	}
	// An empty queue has no next due time.
	res, err = s.Claim(ctx, store.ClaimParams{Owner: "n2", Queue: "empty", Limit: 1, LeaseFor: time.Minute, Now: at})
	if err != nil || len(res.Tasks) != 0 || !res.NextDue.IsZero() {
		t.Errorf("claim of an empty queue = %+v, %v", res, err)
	}
	if _, err := s.Claim(ctx, store.ClaimParams{Owner: "n2", Queue: "q", Limit: 0, LeaseFor: time.Minute, Now: at}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("claim of limit 0 = %v, want ErrInvalid", err)
	}
}

// TestClaimConcurrent: 32 claimers drain one queue; no row is taken twice.
func TestClaimConcurrent(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	const rows, claimers = 300, 32
	persistAll(t, s, clusterTasks(t, s, rows)...)
	var (
		mu    sync.Mutex
		seen  = map[uuid.UUID]string{}
		dupes []string
		wg    sync.WaitGroup
	)
	for c := range claimers {
		wg.Go(func() {
			owner := fmt.Sprintf("n%d", c)
			for {
				res, err := s.Claim(context.Background(), store.ClaimParams{Owner: owner, Queue: "q", Limit: 3, LeaseFor: time.Minute, Now: base})
				if err != nil {
					t.Error(err)
					return
				}
				if len(res.Tasks) == 0 {
					return
				}
				mu.Lock()
				for _, tk := range res.Tasks {
					if prev, ok := seen[tk.ID]; ok {
						dupes = append(dupes, fmt.Sprintf("%s by %s and %s", tk.ID, prev, owner))
					}
					seen[tk.ID] = owner
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(dupes) > 0 {
		t.Errorf("rows claimed twice: %v", dupes)
	}
	if len(seen) != rows {
		t.Errorf("claimed %d rows, want %d", len(seen), rows)
	}
}

// waitExpired waits until the store's clock passes the lease.
func waitExpired(t *testing.T, s *pgstore.Store, lease time.Time) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; {
		now, err := s.Now(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if now.After(lease) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("store clock %v still before the lease %v", now, lease)
		}
		time.Sleep(time.Millisecond)
	}
}

func claimAll(t *testing.T, s *pgstore.Store, owner string, n int, lease time.Duration) []*store.Task {
	t.Helper()
	res, err := s.Claim(t.Context(), store.ClaimParams{Owner: owner, Queue: "q", Limit: n, LeaseFor: lease, Now: base})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Tasks) != n {
		t.Fatalf("claimed %d rows, want %d", len(res.Tasks), n)
	}
	return res.Tasks
}

func TestRenew(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := t.Context()
	rows := clusterTasks(t, s, 3)
	a, b, c := rows[0], rows[1], rows[2]
	persistAll(t, s, rows...)
	claimed := claimAll(t, s, "n1", 3, time.Minute)
	missing := uuid.New()

	lost, err := s.Renew(ctx, store.RenewParams{Owner: "n1", IDs: []uuid.UUID{a.ID, b.ID, c.ID}, LeaseFor: time.Hour})
	if err != nil || len(lost) != 0 {
		t.Fatalf("renew by the holder = %v, %v; want nothing lost", lost, err)
	}
	got := get(t, s, a.ID)
	if !got.LeaseUntil.After(claimed[0].LeaseUntil.Add(50 * time.Minute)) {
		t.Errorf("lease after renewal %v, want about an hour from now (claimed until %v)", got.LeaseUntil, claimed[0].LeaseUntil)
	}
	if lost, err := s.Renew(ctx, store.RenewParams{Owner: "n2", IDs: []uuid.UUID{a.ID}, LeaseFor: time.Hour}); err != nil || !reflect.DeepEqual(lost, []uuid.UUID{a.ID}) {
		t.Errorf("renew by another owner = %v, %v; want a lost", lost, err)
	}
	// b finishes; c's lease expires.
	if ok, err := s.Transition(ctx, store.TransitionParams{ID: b.ID, To: store.StatusCompleted, Now: base, HeldBy: "n1"}); !ok || err != nil {
		t.Fatalf("fenced completion = %v, %v", ok, err)
	}
	if _, err := s.Renew(ctx, store.RenewParams{Owner: "n1", IDs: []uuid.UUID{c.ID}, LeaseFor: time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	short := get(t, s, c.ID).LeaseUntil
	waitExpired(t, s, short)
	lost, err = s.Renew(ctx, store.RenewParams{Owner: "n1", IDs: []uuid.UUID{a.ID, b.ID, c.ID, missing, c.ID}, LeaseFor: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if want := []uuid.UUID{b.ID, c.ID, missing}; !reflect.DeepEqual(lost, want) {
		t.Errorf("lost = %v, want %v (finished, expired, missing)", lost, want)
	}
	if got := get(t, s, c.ID); !got.LeaseUntil.Equal(short) {
		t.Errorf("expired lease was revived: %v, was %v", got.LeaseUntil, short)
	}
	if lost, err := s.Renew(ctx, store.RenewParams{Owner: "n1", LeaseFor: time.Hour}); err != nil || lost != nil {
		t.Errorf("renew of nothing = %v, %v", lost, err)
	}
	if _, err := s.Renew(ctx, store.RenewParams{IDs: []uuid.UUID{a.ID}, LeaseFor: time.Hour}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("renew without owner = %v, want ErrInvalid", err)
	}
}

// TestLeaseTransitions covers the lease fields of Transition, the batched
// and the single path of TransitionMany, and CompleteRecurringRun. The
// batches are of the two statements: "batched" pairs each transition with
// an unlike one (the arrays of every param), "uniform" with its twin on a
// missing row (transitionManyUniformParams: the params but ids and times as
// scalars).
func TestLeaseTransitions(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"single", "batched", "uniform"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			s := newStore(t)
			ctx := t.Context()
			transition := func(p store.TransitionParams) bool {
				t.Helper()
				if mode == "single" {
					ok, err := s.Transition(ctx, p)
					if err != nil {
						t.Fatal(err)
					}
					return ok
				}
				// A second transition of a missing row makes it a batch.
				other := store.TransitionParams{ID: uuid.New(), To: store.StatusQueued, Now: base}
				if mode == "uniform" {
					other = p
					other.ID, other.Now = uuid.New(), p.Now.Add(time.Second)
				}
				applied, err := s.TransitionMany(ctx, []store.TransitionParams{p, other})
				if err != nil {
					t.Fatal(err)
				}
				return applied[0]
			}
			rows := clusterTasks(t, s, 2)
			a, b := rows[0], rows[1]
			a.Status, a.RecoveryFailures = store.StatusQueued, 2
			persistAll(t, s, a)

			// A Lease claims the row from the store's clock.
			before, _ := s.Now(ctx)
			if !transition(store.TransitionParams{ID: a.ID, To: store.StatusInProgress, From: []store.Status{store.StatusQueued}, Now: base,
				Lease: &store.Lease{Owner: "n1", For: time.Minute}}) {
				t.Fatal("claim by Lease did not apply")
			}
			after, _ := s.Now(ctx)
			got := get(t, s, a.ID)
			if got.Owner != "n1" || got.LeaseUntil.Before(before.Add(time.Minute)) || got.LeaseUntil.After(after.Add(time.Minute)) {
				t.Errorf("after the Lease: owner %q lease %v, want n1 and a minute from %v", got.Owner, got.LeaseUntil, before)
			}
			// IfRecoverable refuses a live lease.
			if transition(store.TransitionParams{ID: a.ID, To: store.StatusQueued, IfRecoverable: true, Now: base}) {
				t.Error("IfRecoverable requeue applied over a live lease")
			}
			// A transition to InProgress without a lease keeps it.
			if !transition(store.TransitionParams{ID: a.ID, To: store.StatusInProgress, Now: base}) {
				t.Fatal("unfenced transition to InProgress did not apply")
			}
			if got := get(t, s, a.ID); got.Owner != "n1" || got.LeaseUntil.IsZero() {
				t.Errorf("InProgress without Lease dropped the lease: %q %v", got.Owner, got.LeaseUntil)
			}
			// Fenced by someone else: not applied.
			if transition(store.TransitionParams{ID: a.ID, To: store.StatusCompleted, Now: base, HeldBy: "n2"}) {
				t.Error("completion fenced by n2 applied on n1's lease")
			}
			// Fenced by the holder: applies, clears the lease and the counter.
			if !transition(store.TransitionParams{ID: a.ID, To: store.StatusFailed, Error: "boom", Now: base, HeldBy: "n1"}) {
				t.Fatal("completion fenced by the holder did not apply")
			}
			got = get(t, s, a.ID)
			if got.Status != store.StatusFailed || got.Owner != "" || !got.LeaseUntil.IsZero() || got.RecoveryFailures != 0 {
				t.Errorf("after the fenced write: %s owner %q lease %v failures %d; want Failed, no lease, 0",
					got.Status, got.Owner, got.LeaseUntil, got.RecoveryFailures)
			}
			// A fence on a row that is not InProgress never applies.
			if transition(store.TransitionParams{ID: a.ID, To: store.StatusCompleted, Now: base, HeldBy: "n1"}) {
				t.Error("fenced write applied on a Failed row")
			}

			// An expired lease: fenced writes fail, IfRecoverable applies and
			// an unfenced move out of InProgress clears the lease.
			b.Status, b.RecoveryFailures = store.StatusQueued, 1
			persistAll(t, s, b)
			if !transition(store.TransitionParams{ID: b.ID, To: store.StatusInProgress, Now: base, Lease: &store.Lease{Owner: "n1", For: time.Millisecond}}) {
				t.Fatal("short lease did not apply")
			}
			waitExpired(t, s, get(t, s, b.ID).LeaseUntil)
			if transition(store.TransitionParams{ID: b.ID, To: store.StatusCompleted, Now: base, HeldBy: "n1"}) {
				t.Error("fenced write applied on an expired lease")
			}
			if !transition(store.TransitionParams{ID: b.ID, To: store.StatusQueued, IfRecoverable: true, Now: base}) {
				t.Error("IfRecoverable requeue refused an expired lease")
			}
			if got := get(t, s, b.ID); got.Owner != "" || !got.LeaseUntil.IsZero() || got.RecoveryFailures != 1 {
				t.Errorf("after the requeue: owner %q lease %v failures %d; want no lease, failures kept", got.Owner, got.LeaseUntil, got.RecoveryFailures)
			}
		})
	}
}

func TestFencedRecurringRun(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := t.Context()
	a := clusterTasks(t, s, 1)[0]
	a.Recurring, a.NextRunAt, a.RecoveryFailures = true, a.CreatedAt, 3
	persistAll(t, s, a)
	claimAll(t, s, "n1", 1, time.Minute)
	run := store.RunParams{ID: a.ID, Now: base, Status: store.StatusCompleted, NextRunAt: a.CreatedAt.Add(time.Minute), HeldBy: "n2"}
	if ok, err := s.CompleteRecurringRun(ctx, run); ok || err != nil {
		t.Errorf("run fenced by n2 = %v, %v; want not applied", ok, err)
	}
	run.HeldBy = "n1"
	if ok, err := s.CompleteRecurringRun(ctx, run); !ok || err != nil {
		t.Fatalf("run fenced by the holder = %v, %v", ok, err)
	}
	got := get(t, s, a.ID)
	if got.Status != store.StatusCompleted || got.RunCount != 1 || got.Owner != "" || !got.LeaseUntil.IsZero() || got.RecoveryFailures != 0 {
		t.Errorf("after the run: %+v", got)
	}

	// Unfenced, the run still clears the lease; so does EndSeries.
	claimAll(t, s, "n1", 1, time.Minute) // due again: the next run is in the past
	run.HeldBy = ""
	if ok, err := s.CompleteRecurringRun(ctx, run); !ok || err != nil {
		t.Fatalf("unfenced run = %v, %v", ok, err)
	}
	if got := get(t, s, a.ID); got.Owner != "" || !got.LeaseUntil.IsZero() {
		t.Errorf("unfenced run kept the lease: %q %v", got.Owner, got.LeaseUntil)
	}
	claimAll(t, s, "n1", 1, time.Minute)
	if ok, err := s.EndSeries(ctx, store.EndSeriesParams{ID: a.ID, Status: store.StatusFailed, Error: "poisoned", Now: base}); !ok || err != nil {
		t.Fatalf("EndSeries = %v, %v", ok, err)
	}
	if got := get(t, s, a.ID); got.Owner != "" || !got.LeaseUntil.IsZero() || got.Status != store.StatusFailed {
		t.Errorf("EndSeries of a running series: %s %q %v", got.Status, got.Owner, got.LeaseUntil)
	}
}

func TestRescue(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := t.Context()
	rows := clusterTasks(t, s, 7)
	var (
		expired  = rows[0]
		noLease  = rows[1]
		gone     = rows[2] // live lease of a node proven gone
		live     = rows[3]
		poisoned = rows[4]
		series   = rows[5]
		queued   = rows[6]
	)
	for _, tk := range []*store.Task{expired, noLease, gone, live, poisoned, series} {
		tk.Status = store.StatusInProgress
	}
	queued.Status = store.StatusQueued
	future := time.Now().Add(time.Hour)
	expired.Owner, expired.LeaseUntil = "n1", time.Now().Add(-time.Minute)
	gone.Owner, gone.LeaseUntil = "dead", future
	live.Owner, live.LeaseUntil = "n2", future
	poisoned.RecoveryFailures, poisoned.AuditLevel = 2, store.AuditErrorsOnly
	series.Recurring, series.NextRunAt, series.RecoveryFailures, series.AuditLevel = true, future, 2, store.AuditNone
	noLease.AuditLevel = store.AuditMinimal
	persistAll(t, s, expired, noLease, gone, live, poisoned, series, queued)

	params := store.RescueParams{Owners: []string{"dead"}, Limit: 2, MaxFailures: 3, PoisonError: "poisoned: taken over 3 times", Now: base}
	var rescued []*store.Task
	for {
		page, err := s.Rescue(ctx, params)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) > params.Limit {
			t.Fatalf("rescue returned %d rows, limit %d", len(page), params.Limit)
		}
		if len(page) == 0 {
			break
		}
		rescued = append(rescued, page...)
	}
	if want := []uuid.UUID{expired.ID, noLease.ID, gone.ID, poisoned.ID, series.ID}; !reflect.DeepEqual(ids(rescued), want) {
		t.Fatalf("rescued %v, want %v", ids(rescued), want)
	}
	for _, got := range rescued {
		if stored := get(t, s, got.ID); !reflect.DeepEqual(stored, got) {
			t.Errorf("rescue returned %+v, the row is %+v", got, stored)
		}
		if got.Owner != "" || !got.LeaseUntil.IsZero() {
			t.Errorf("rescued %s keeps its lease: %q %v", got.ID, got.Owner, got.LeaseUntil)
		}
	}
	for _, got := range rescued[:3] {
		if got.Status != store.StatusQueued || got.RecoveryFailures != 1 {
			t.Errorf("rescued %s: %s failures %d; want Queued, 1", got.ID, got.Status, got.RecoveryFailures)
		}
	}
	for _, got := range rescued[3:] {
		if got.Status != store.StatusFailed || got.Error != params.PoisonError || got.RecoveryFailures != 3 || !got.NextRunAt.IsZero() {
			t.Errorf("poisoned %s: %s %q failures %d next %v", got.ID, got.Status, got.Error, got.RecoveryFailures, got.NextRunAt)
		}
	}
	if got := get(t, s, live.ID); got.Status != store.StatusInProgress || got.Owner != "n2" {
		t.Errorf("a live lease was rescued: %+v", got)
	}
	for id, want := range map[uuid.UUID][]store.Status{
		expired.ID:  {store.StatusQueued}, // Full
		noLease.ID:  nil,                  // Minimal: a requeue is no error
		poisoned.ID: {store.StatusFailed}, // ErrorsOnly: the poison is
		series.ID:   nil,                  // None
	} {
		if got := auditStatuses(t, s, id); !reflect.DeepEqual(got, want) {
			t.Errorf("audits of %s: %v, want %v", id, got, want)
		}
	}
	audits, _ := s.StatusAudits(ctx, poisoned.ID)
	if len(audits) == 1 && (audits[0].Error != params.PoisonError || !audits[0].At.Equal(store.NormalizeTime(base))) {
		t.Errorf("poison audit %+v", audits[0])
	}
	if _, err := s.Rescue(ctx, store.RescueParams{Limit: -1, Now: base}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("negative limit = %v, want ErrInvalid", err)
	}
}
