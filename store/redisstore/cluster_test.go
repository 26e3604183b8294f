package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/evertask/evertask/internal/testenv"
	"github.com/evertask/evertask/store"
	"github.com/evertask/evertask/store/redisstore"
)

func storeNow(t *testing.T, su setup) time.Time {
	t.Helper()
	now, err := su.s.Now(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(now); d > time.Minute || d < -time.Minute {
		t.Fatalf("store clock %v is %v away from this machine's", now, d)
	}
	return now
}

func persistAll(t *testing.T, su setup, tasks ...*store.Task) {
	t.Helper()
	if err := su.s.PersistMany(t.Context(), tasks); err != nil {
		t.Fatal(err)
	}
}

func ids(tasks []*store.Task) []uuid.UUID {
	out := make([]uuid.UUID, len(tasks))
	for i, tk := range tasks {
		out[i] = tk.ID
	}
	return out
}

func get(t *testing.T, su setup, id uuid.UUID) *store.Task {
	t.Helper()
	tk, err := su.s.Get(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

// TestClaimTakesDueRowsInOrder: due rows of one queue in (DueAt, created,
// id) order, whatever their claimable status; not InProgress ones, not
// those of another queue, not those not due yet (the earliest is NextDue),
// not those past their RunUntil (their due entry goes).
func TestClaimTakesDueRowsInOrder(t *testing.T) {
	t.Parallel()
	su := newSetup(t)
	ctx := t.Context()
	now := storeNow(t, su)
	mk := func(n int, st store.Status, edit func(*store.Task)) *store.Task {
		tk := task(n)
		tk.Status = st
		if edit != nil {
			edit(tk)
		}
		return tk
	}
	// DueAt: the next run, else the scheduled time, else creation (t0+n µs).
	scheduled := mk(1, store.StatusWaitingQueue, func(tk *store.Task) { tk.ScheduledAt = t0.Add(-time.Hour) })
	created := mk(2, store.StatusQueued, nil)
	stopped := mk(3, store.StatusServiceStopped, nil)
	series := mk(4, store.StatusCompleted, func(tk *store.Task) {
		tk.Recurring, tk.NextRunAt, tk.ScheduledAt = true, t0.Add(time.Minute), t0.Add(-2*time.Hour)
	})
	pending := mk(5, store.StatusPending, func(tk *store.Task) { tk.AuditLevel = store.AuditNone })
	later := mk(6, store.StatusQueued, func(tk *store.Task) { tk.ScheduledAt = now.Add(time.Hour) })
	laterStill := mk(7, store.StatusQueued, func(tk *store.Task) { tk.ScheduledAt = now.Add(2 * time.Hour) })
	running := mk(8, store.StatusInProgress, nil)
	other := mk(9, store.StatusQueued, func(tk *store.Task) { tk.Queue = "a" })
	done := mk(10, store.StatusCompleted, nil)
	ended := mk(11, store.StatusQueued, func(tk *store.Task) { tk.Recurring, tk.RunUntil = true, now.Add(-time.Minute) })
	endedLater := mk(12, store.StatusQueued, func(tk *store.Task) {
		tk.Recurring, tk.RunUntil, tk.NextRunAt = true, now.Add(-time.Minute), now.Add(30*time.Minute)
	})
	limited := mk(13, store.StatusQueued, func(tk *store.Task) { tk.MaxRuns, tk.RunCount = 2, 2 })
	persistAll(t, su, scheduled, created, stopped, series, pending, later, laterStill, running, other, done, ended, endedLater, limited)
	checkIndexes(t, su)

	at := t0.Add(time.Hour) // audit time
	res, err := su.s.Claim(ctx, store.ClaimParams{Owner: "n1", Queue: "default", Limit: 3, LeaseFor: time.Minute, Now: at})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := ids(res.Tasks), ids([]*store.Task{scheduled, created, stopped}); !slices.Equal(got, want) {
		t.Fatalf("first claim took %v, want %v", got, want)
	}
	if res.StoreNow.Before(now) || res.StoreNow.After(now.Add(time.Minute)) {
		t.Errorf("StoreNow %v, want just after %v", res.StoreNow, now)
	}
	if want := store.NormalizeTime(later.ScheduledAt); !res.NextDue.Equal(want) {
		t.Errorf("NextDue = %v, want %v (the row past the RunUntil is not claimable)", res.NextDue, want)
	}
	for _, tk := range res.Tasks {
		want := res.StoreNow.Add(time.Minute)
		if tk.Status != store.StatusInProgress || tk.Owner != "n1" || !tk.LeaseUntil.Equal(want) {
			t.Errorf("claimed %s: %s owner %q lease %v; want InProgress n1 %v", tk.ID, tk.Status, tk.Owner, tk.LeaseUntil, want)
		}
		if stored := get(t, su, tk.ID); fmt.Sprint(stored) != fmt.Sprint(tk) {
			t.Errorf("claim returned %+v, the store holds %+v", tk, stored)
		}
	}
	res, err = su.s.Claim(ctx, store.ClaimParams{Owner: "n2", Queue: "default", Limit: 10, LeaseFor: time.Minute, Now: at})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := ids(res.Tasks), ids([]*store.Task{pending, series}); !slices.Equal(got, want) {
		t.Fatalf("second claim took %v, want %v", got, want)
	}
	// The audits of a claim: Queued unless it was, then InProgress, each
	// as the row's own level says.
	wantAudits := map[*store.Task][]store.Status{
		scheduled: {store.StatusInProgress, store.StatusQueued},
		created:   {store.StatusInProgress},
		stopped:   {store.StatusInProgress, store.StatusQueued},
		series:    {store.StatusInProgress, store.StatusQueued},
		pending:   nil,
	}
	for tk, want := range wantAudits {
		audits, err := su.s.StatusAudits(ctx, tk.ID)
		if err != nil {
			t.Fatal(err)
		}
		var got []store.Status
		for _, a := range audits {
			got = append(got, a.Status)
			if !a.At.Equal(at) || a.Error != "" {
				t.Errorf("audit of %s at %v error %q, want at %v without error", tk.ID, a.At, a.Error, at)
			}
		}
		if !slices.Equal(got, want) {
			t.Errorf("audits of %s = %v, want %v", tk.ID, got, want)
		}
	}
	// Nothing due is left; the rows past their RunUntil left the index.
	res, err = su.s.Claim(ctx, store.ClaimParams{Owner: "n2", Queue: "default", Limit: 10, LeaseFor: time.Minute, Now: at})
	if err != nil || len(res.Tasks) != 0 || !res.NextDue.Equal(store.NormalizeTime(later.ScheduledAt)) {
		t.Fatalf("third claim = %v rows, next due %v, %v; want none, %v", len(res.Tasks), res.NextDue, err, later.ScheduledAt)
	}
	for _, tk := range []*store.Task{ended, endedLater} {
		if n, _ := su.c.ZScore(ctx, "{"+su.prefix+"}due:default", fmt.Sprintf("%016x%s", uint64(tk.CreatedAt.UnixMicro())^(1<<63), tk.ID)).Result(); n != 0 {
			t.Errorf("row %s past its RunUntil still in the due index", tk.ID)
		}
	}
	checkIndexes(t, su)
	// UpdateDefinition of a row Claim dropped puts it back when it may run.
	endedLater.RunUntil = time.Time{}
	if err := su.s.UpdateDefinition(ctx, endedLater); err != nil {
		t.Fatal(err)
	}
	checkIndexes(t, su)
	res, err = su.s.Claim(ctx, store.ClaimParams{Owner: "n2", Queue: "default", Limit: 10, LeaseFor: time.Minute, Now: at})
	if err != nil || !res.NextDue.Equal(store.NormalizeTime(endedLater.NextRunAt)) {
		t.Fatalf("claim after the update: next due %v, %v", res.NextDue, err)
	}
	endedLater.NextRunAt = now.Add(-time.Second)
	if err := su.s.UpdateDefinition(ctx, endedLater); err != nil {
		t.Fatal(err)
	}
	res, err = su.s.Claim(ctx, store.ClaimParams{Owner: "n2", Queue: "default", Limit: 10, LeaseFor: time.Minute, Now: at})
	if err != nil || !slices.Equal(ids(res.Tasks), []uuid.UUID{endedLater.ID}) {
		t.Fatalf("claim of the row made due: %v, %v", ids(res.Tasks), err)
	}
	// Another queue; an empty one.
	res, err = su.s.Claim(ctx, store.ClaimParams{Owner: "n3", Queue: "a", Limit: 10, LeaseFor: time.Minute, Now: at})
	if err != nil || !slices.Equal(ids(res.Tasks), []uuid.UUID{other.ID}) || !res.NextDue.IsZero() {
		t.Fatalf("claim of queue a = %v, next %v, %v", ids(res.Tasks), res.NextDue, err)
	}
	res, err = su.s.Claim(ctx, store.ClaimParams{Owner: "n3", Queue: "nothing", Limit: 10, LeaseFor: time.Minute, Now: at})
	if err != nil || len(res.Tasks) != 0 || !res.NextDue.IsZero() || res.StoreNow.IsZero() {
		t.Fatalf("claim of an empty queue = %+v, %v", res, err)
	}
	checkIndexes(t, su)
	if _, err := su.s.Claim(ctx, store.ClaimParams{Owner: "n3", Queue: "a", Limit: 0, LeaseFor: time.Minute, Now: at}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("claim with limit 0: %v, want ErrInvalid", err)
	}
}

// TestClaimConcurrentClaimersNeverShareARow: 32 claimers against 600 due
// rows; every row is taken exactly once.
func TestClaimConcurrentClaimersNeverShareARow(t *testing.T) {
	t.Parallel()
	su := newSetup(t)
	var rows []*store.Task
	for i := range 600 {
		tk := task(i)
		tk.Status = store.StatusQueued
		rows = append(rows, tk)
	}
	persistAll(t, su, rows...)
	var mu sync.Mutex
	taken := map[uuid.UUID]string{}
	var wg sync.WaitGroup
	for g := range 32 {
		wg.Go(func() {
			owner := fmt.Sprint("node-", g)
			for {
				res, err := su.s.Claim(t.Context(), store.ClaimParams{Owner: owner, Queue: "default", Limit: 1 + g%7, LeaseFor: time.Minute, Now: t0})
				if err != nil {
					t.Error(err)
					return
				}
				if len(res.Tasks) == 0 {
					return
				}
				mu.Lock()
				for _, tk := range res.Tasks {
					if prev, dup := taken[tk.ID]; dup {
						t.Errorf("row %s claimed by %s and %s", tk.ID, prev, owner)
					}
					taken[tk.ID] = owner
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(taken) != len(rows) {
		t.Fatalf("%d rows claimed, want %d", len(taken), len(rows))
	}
	for _, tk := range rows[:20] {
		if got := get(t, su, tk.ID); got.Owner != taken[tk.ID] {
			t.Errorf("row %s owned by %q, claimed by %q", tk.ID, got.Owner, taken[tk.ID])
		}
	}
	checkIndexes(t, su)
}

// TestLeaseRulesOfTransitions: a Lease claims, HeldBy fences (and clears
// the recovery counter when it applies), IfRecoverable refuses a live
// lease, and every write out of InProgress clears the lease.
func TestLeaseRulesOfTransitions(t *testing.T) {
	t.Parallel()
	su := newSetup(t)
	ctx := t.Context()
	a, b, c := task(1), task(2), task(3)
	a.Status, b.Status, c.Status = store.StatusQueued, store.StatusQueued, store.StatusQueued
	c.Recurring, c.NextRunAt = true, t0
	persistAll(t, su, a, b, c)
	tr := func(p store.TransitionParams) bool {
		t.Helper()
		p.Now, p.AuditLevel = t0, store.AuditFull
		ok, err := su.s.Transition(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	in := []store.Status{store.StatusInProgress}
	if !tr(store.TransitionParams{ID: a.ID, To: store.StatusInProgress, From: []store.Status{store.StatusQueued}, Lease: &store.Lease{Owner: "n1", For: time.Minute}}) {
		t.Fatal("leased claim did not apply")
	}
	now := storeNow(t, su)
	if got := get(t, su, a.ID); got.Owner != "n1" || got.LeaseUntil.Before(now.Add(50*time.Second)) || got.LeaseUntil.After(now.Add(time.Minute)) {
		t.Fatalf("leased row: owner %q until %v (store now %v)", got.Owner, got.LeaseUntil, now)
	}
	checkIndexes(t, su)
	// A live lease is not recoverable; the fence needs the owner.
	if tr(store.TransitionParams{ID: a.ID, To: store.StatusQueued, IfRecoverable: true}) {
		t.Error("IfRecoverable took a row under a live lease")
	}
	if tr(store.TransitionParams{ID: a.ID, To: store.StatusCompleted, From: in, HeldBy: "n2"}) {
		t.Error("a write fenced on another owner applied")
	}
	if _, err := su.s.IncrementRecoveryFailures(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	if !tr(store.TransitionParams{ID: a.ID, To: store.StatusCompleted, From: in, HeldBy: "n1"}) {
		t.Fatal("a write fenced on the holder did not apply")
	}
	if got := get(t, su, a.ID); got.Owner != "" || !got.LeaseUntil.IsZero() || got.RecoveryFailures != 0 || got.Status != store.StatusCompleted {
		t.Errorf("after the fenced completion: %s owner %q lease %v recovery failures %d", got.Status, got.Owner, got.LeaseUntil, got.RecoveryFailures)
	}
	checkIndexes(t, su)

	// An expired lease: recoverable again, and no fence holds it.
	if !tr(store.TransitionParams{ID: b.ID, To: store.StatusInProgress, Lease: &store.Lease{Owner: "n1", For: time.Millisecond}}) {
		t.Fatal("leased claim did not apply")
	}
	time.Sleep(5 * time.Millisecond) // the store's clock must pass a real instant; nothing to wait on
	if tr(store.TransitionParams{ID: b.ID, To: store.StatusFailed, From: in, HeldBy: "n1"}) {
		t.Error("a write fenced on an expired lease applied")
	}
	if !tr(store.TransitionParams{ID: b.ID, To: store.StatusQueued, IfRecoverable: true}) {
		t.Error("IfRecoverable refused a row whose lease expired")
	}
	if got := get(t, su, b.ID); got.Owner != "" || !got.LeaseUntil.IsZero() {
		t.Errorf("re-queued row keeps owner %q lease %v", got.Owner, got.LeaseUntil)
	}
	checkIndexes(t, su)
	// An InProgress row without a lease (a process without leases) is
	// recoverable as before; an unfenced write out of InProgress clears.
	if !tr(store.TransitionParams{ID: b.ID, To: store.StatusInProgress, From: []store.Status{store.StatusQueued}}) {
		t.Fatal("unleased claim did not apply")
	}
	if !tr(store.TransitionParams{ID: b.ID, To: store.StatusQueued, IfRecoverable: true}) {
		t.Error("IfRecoverable refused an InProgress row without a lease")
	}
	if !tr(store.TransitionParams{ID: b.ID, To: store.StatusInProgress, From: []store.Status{store.StatusQueued}, Lease: &store.Lease{Owner: "n1", For: time.Minute}}) {
		t.Fatal("leased claim did not apply")
	}
	if !tr(store.TransitionParams{ID: b.ID, To: store.StatusCancelled}) {
		t.Fatal("cancel did not apply")
	}
	if got := get(t, su, b.ID); got.Owner != "" || !got.LeaseUntil.IsZero() {
		t.Errorf("cancelled row keeps owner %q lease %v", got.Owner, got.LeaseUntil)
	}
	checkIndexes(t, su)

	// TransitionMany: the same rules per transition, one clock.
	d, e := task(4), task(5)
	d.Status, e.Status = store.StatusQueued, store.StatusQueued
	persistAll(t, su, d, e)
	applied, err := su.s.TransitionMany(ctx, []store.TransitionParams{
		{ID: d.ID, To: store.StatusInProgress, From: []store.Status{store.StatusQueued}, Now: t0, Lease: &store.Lease{Owner: "n1", For: time.Minute}},
		{ID: e.ID, To: store.StatusInProgress, From: []store.Status{store.StatusQueued}, Now: t0, Lease: &store.Lease{Owner: "n2", For: time.Minute}},
		{ID: d.ID, To: store.StatusCompleted, From: in, Now: t0, HeldBy: "n2"},
		{ID: e.ID, To: store.StatusCompleted, From: in, Now: t0, HeldBy: "n2"},
		{ID: d.ID, To: store.StatusQueued, Now: t0, IfRecoverable: true},
	})
	if err != nil || !slices.Equal(applied, []bool{true, true, false, true, false}) {
		t.Fatalf("TransitionMany = %v, %v; want [true true false true false]", applied, err)
	}
	checkIndexes(t, su)

	// A row persisted with an owner outside InProgress keeps it through the
	// steps that keep a lease (a run counted, a recovery failure) and loses
	// it at its next transition anywhere but InProgress, the lightest
	// included.
	f := task(6)
	f.Status, f.Recurring, f.NextRunAt, f.Owner, f.LeaseUntil = store.StatusWaitingQueue, true, t0, "n9", t0
	persistAll(t, su, f)
	if err := su.s.UpdateCurrentRun(ctx, store.RunParams{ID: f.ID, Now: t0, NextRunAt: t0.Add(time.Minute), AuditLevel: store.AuditFull}); err != nil {
		t.Fatal(err)
	}
	if _, err := su.s.IncrementRecoveryFailures(ctx, f.ID); err != nil {
		t.Fatal(err)
	}
	if got := get(t, su, f.ID); got.Owner != "n9" || got.RunCount != 1 || got.RecoveryFailures != 1 {
		t.Fatalf("row with an owner after a run and a recovery failure: owner %q runs %d failures %d", got.Owner, got.RunCount, got.RecoveryFailures)
	}
	if !tr(store.TransitionParams{ID: f.ID, To: store.StatusQueued, From: []store.Status{store.StatusWaitingQueue}}) {
		t.Fatal("delivery did not apply")
	}
	if got := get(t, su, f.ID); got.Owner != "" || !got.LeaseUntil.IsZero() {
		t.Errorf("delivered row keeps owner %q lease %v", got.Owner, got.LeaseUntil)
	}
	g := task(7)
	g.Status, g.Owner, g.LeaseUntil = store.StatusQueued, "n9", t0
	persistAll(t, su, g)
	if !tr(store.TransitionParams{ID: g.ID, To: store.StatusInProgress, From: []store.Status{store.StatusQueued}}) {
		t.Fatal("unleased claim did not apply")
	}
	if got := get(t, su, g.ID); got.Owner != "n9" || !got.LeaseUntil.Equal(t0) {
		t.Errorf("a transition to InProgress without a lease changed owner %q lease %v", got.Owner, got.LeaseUntil)
	}
	if !tr(store.TransitionParams{ID: g.ID, To: store.StatusQueued, From: in}) {
		t.Fatal("re-queue did not apply")
	}
	if got := get(t, su, g.ID); got.Owner != "" || !got.LeaseUntil.IsZero() {
		t.Errorf("re-queued row keeps owner %q lease %v", got.Owner, got.LeaseUntil)
	}
	checkIndexes(t, su)

	// CompleteRecurringRun and EndSeries.
	if !tr(store.TransitionParams{ID: c.ID, To: store.StatusInProgress, Lease: &store.Lease{Owner: "n1", For: time.Minute}}) {
		t.Fatal("leased claim did not apply")
	}
	run := store.RunParams{ID: c.ID, Now: t0, Status: store.StatusCompleted, NextRunAt: t0.Add(time.Hour), AuditLevel: store.AuditFull, HeldBy: "n2"}
	if ok, err := su.s.CompleteRecurringRun(ctx, run); err != nil || ok {
		t.Fatalf("run completion fenced on another owner = %v, %v", ok, err)
	}
	if _, err := su.s.IncrementRecoveryFailures(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	run.HeldBy = "n1"
	if ok, err := su.s.CompleteRecurringRun(ctx, run); err != nil || !ok {
		t.Fatalf("run completion fenced on the holder = %v, %v", ok, err)
	}
	if got := get(t, su, c.ID); got.Owner != "" || !got.LeaseUntil.IsZero() || got.RecoveryFailures != 0 || got.RunCount != 1 {
		t.Errorf("after the run: owner %q lease %v recovery failures %d runs %d", got.Owner, got.LeaseUntil, got.RecoveryFailures, got.RunCount)
	}
	checkIndexes(t, su)
	if !tr(store.TransitionParams{ID: c.ID, To: store.StatusInProgress, Lease: &store.Lease{Owner: "n1", For: time.Minute}}) {
		t.Fatal("leased claim did not apply")
	}
	if ok, err := su.s.EndSeries(ctx, store.EndSeriesParams{ID: c.ID, Status: store.StatusFailed, Now: t0, AuditLevel: store.AuditFull}); err != nil || !ok {
		t.Fatalf("EndSeries = %v, %v", ok, err)
	}
	if got := get(t, su, c.ID); got.Owner != "" || !got.LeaseUntil.IsZero() {
		t.Errorf("ended series keeps owner %q lease %v", got.Owner, got.LeaseUntil)
	}
	checkIndexes(t, su)

	// A fenced end of a recurring row by a plain transition keeps the row
	// due at its next run (the path a one-shot end takes would not).
	h := task(8)
	h.Status, h.Recurring, h.NextRunAt = store.StatusQueued, true, t0
	persistAll(t, su, h)
	if !tr(store.TransitionParams{ID: h.ID, To: store.StatusInProgress, Lease: &store.Lease{Owner: "n1", For: time.Minute}}) {
		t.Fatal("leased claim did not apply")
	}
	if !tr(store.TransitionParams{ID: h.ID, To: store.StatusCompleted, From: in, HeldBy: "n1"}) {
		t.Fatal("a fenced end of a recurring row did not apply")
	}
	checkIndexes(t, su)
	res, err := su.s.Claim(ctx, store.ClaimParams{Owner: "n2", Queue: h.Queue, Limit: 10, LeaseFor: time.Minute, Now: t0})
	if err != nil || !slices.Contains(ids(res.Tasks), h.ID) {
		t.Fatalf("claim after the recurring row's end = %v, %v; want the row again", ids(res.Tasks), err)
	}
}

func TestRenew(t *testing.T) {
	t.Parallel()
	su := newSetup(t)
	ctx := t.Context()
	var rows []*store.Task
	for i := range 5 {
		tk := task(i)
		tk.Status = store.StatusQueued
		rows = append(rows, tk)
	}
	persistAll(t, su, rows...)
	res, err := su.s.Claim(ctx, store.ClaimParams{Owner: "n1", Queue: "default", Limit: 3, LeaseFor: time.Minute, Now: t0})
	if err != nil || len(res.Tasks) != 3 {
		t.Fatalf("claim: %v, %v", len(res.Tasks), err)
	}
	short, err := su.s.Claim(ctx, store.ClaimParams{Owner: "n1", Queue: "default", Limit: 1, LeaseFor: time.Millisecond, Now: t0})
	if err != nil || len(short.Tasks) != 1 {
		t.Fatalf("claim: %v, %v", len(short.Tasks), err)
	}
	time.Sleep(5 * time.Millisecond) // let the short lease end at the store's clock
	// rows[0..2] held; rows[3] expired; rows[4] Queued; one unknown id; one
	// completed; one held by another owner.
	if ok, err := su.s.Transition(ctx, store.TransitionParams{ID: rows[2].ID, To: store.StatusCompleted, Now: t0, HeldBy: "n1"}); err != nil || !ok {
		t.Fatalf("fenced completion: %v, %v", ok, err)
	}
	other := task(9)
	other.Status = store.StatusQueued
	persistAll(t, su, other)
	if _, err := su.s.Claim(ctx, store.ClaimParams{Owner: "n2", Queue: "default", Limit: 2, LeaseFor: time.Minute, Now: t0}); err != nil {
		t.Fatal(err)
	}
	missing := uuid.Must(uuid.NewV7())
	before := get(t, su, rows[0].ID).LeaseUntil
	lost, err := su.s.Renew(ctx, store.RenewParams{Owner: "n1", LeaseFor: time.Hour,
		IDs: []uuid.UUID{rows[0].ID, rows[1].ID, rows[2].ID, rows[3].ID, rows[4].ID, missing, other.ID}})
	if err != nil {
		t.Fatal(err)
	}
	want := []uuid.UUID{rows[2].ID, rows[3].ID, rows[4].ID, missing, other.ID}
	if !slices.Equal(lost, want) {
		t.Errorf("lost = %v, want %v", lost, want)
	}
	if got := get(t, su, rows[0].ID).LeaseUntil; !got.After(before.Add(50 * time.Minute)) {
		t.Errorf("renewed lease ends %v, was %v", got, before)
	}
	if got := get(t, su, rows[3].ID); !got.LeaseUntil.Equal(short.Tasks[0].LeaseUntil) {
		t.Errorf("expired lease revived: %v, was %v", got.LeaseUntil, short.Tasks[0].LeaseUntil)
	}
	checkIndexes(t, su)
	if lost, err := su.s.Renew(ctx, store.RenewParams{Owner: "n1", LeaseFor: time.Hour}); err != nil || len(lost) != 0 {
		t.Errorf("renew of nothing = %v, %v", lost, err)
	}
	if _, err := su.s.Renew(ctx, store.RenewParams{LeaseFor: time.Hour, IDs: []uuid.UUID{rows[0].ID}}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("renew without owner: %v, want ErrInvalid", err)
	}
}

// TestRescue: expired leases from the lease index, live ones of gone
// owners, InProgress rows without a lease (found through the InProgress
// sets), the poison limit, and the limit per call.
func TestRescue(t *testing.T) {
	t.Parallel()
	su := newSetup(t)
	ctx := t.Context()
	var rows []*store.Task
	for i := range 8 {
		tk := task(i)
		tk.Status = store.StatusQueued
		rows = append(rows, tk)
	}
	rows[5].Recurring, rows[5].NextRunAt = true, t0
	rows[6].Queue = "a"
	rows[7].AuditLevel = store.AuditNone
	persistAll(t, su, rows...)
	lease := func(tk *store.Task, owner string, d time.Duration) {
		t.Helper()
		ok, err := su.s.Transition(ctx, store.TransitionParams{ID: tk.ID, To: store.StatusInProgress, Now: t0, AuditLevel: store.AuditNone,
			Lease: &store.Lease{Owner: owner, For: d}})
		if err != nil || !ok {
			t.Fatalf("lease %s: %v, %v", tk.ID, ok, err)
		}
	}
	lease(rows[0], "n1", time.Millisecond) // expired
	lease(rows[1], "n1", time.Hour)        // live
	lease(rows[2], "gone", time.Hour)      // live, owner gone
	lease(rows[3], "n2", time.Millisecond) // expired
	lease(rows[5], "n1", time.Millisecond) // expired, recurring, poisoned
	lease(rows[7], "n1", time.Millisecond) // expired, no audits
	if ok, err := su.s.Transition(ctx, store.TransitionParams{ID: rows[6].ID, To: store.StatusInProgress, Now: t0, AuditLevel: store.AuditNone}); err != nil || !ok {
		t.Fatalf("unleased claim: %v, %v", ok, err)
	}
	for range 2 {
		if _, err := su.s.IncrementRecoveryFailures(ctx, rows[5].ID); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(5 * time.Millisecond) // let the short leases end at the store's clock
	at := t0.Add(time.Hour)
	p := store.RescueParams{Owners: []string{"gone"}, Limit: 2, MaxFailures: 3, PoisonError: "poisoned", Now: at}
	var got []*store.Task
	for {
		res, err := su.s.Rescue(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		if len(res) > p.Limit {
			t.Fatalf("rescue returned %d rows, limit %d", len(res), p.Limit)
		}
		if len(res) == 0 {
			break
		}
		got = append(got, res...)
	}
	byID := map[uuid.UUID]*store.Task{}
	for _, tk := range got {
		if byID[tk.ID] != nil {
			t.Errorf("row %s rescued twice", tk.ID)
		}
		byID[tk.ID] = tk
		if stored := get(t, su, tk.ID); fmt.Sprint(stored) != fmt.Sprint(tk) {
			t.Errorf("rescue returned %+v, the store holds %+v", tk, stored)
		}
		if tk.Owner != "" || !tk.LeaseUntil.IsZero() {
			t.Errorf("rescued %s keeps owner %q lease %v", tk.ID, tk.Owner, tk.LeaseUntil)
		}
	}
	for _, i := range []int{0, 2, 3, 6, 7} {
		tk := byID[rows[i].ID]
		if tk == nil || tk.Status != store.StatusQueued || tk.RecoveryFailures != 1 {
			t.Errorf("row %d: rescued as %+v; want Queued with 1 recovery failure", i, tk)
		}
	}
	if tk := byID[rows[5].ID]; tk == nil || tk.Status != store.StatusFailed || tk.Error != "poisoned" || !tk.NextRunAt.IsZero() || tk.RecoveryFailures != 3 {
		t.Errorf("poisoned row: %+v; want Failed, poisoned, no next run, 3 failures", tk)
	}
	if byID[rows[1].ID] != nil || byID[rows[4].ID] != nil || len(byID) != 6 {
		t.Errorf("rescued %d rows (live lease rescued: %v, Queued rescued: %v); want 6", len(byID), byID[rows[1].ID] != nil, byID[rows[4].ID] != nil)
	}
	audits := func(tk *store.Task) []store.StatusAudit {
		a, err := su.s.StatusAudits(ctx, tk.ID)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	if a := audits(rows[0]); len(a) != 1 || a[0].Status != store.StatusQueued || !a[0].At.Equal(at) {
		t.Errorf("audits of a rescued row: %+v", a)
	}
	if a := audits(rows[5]); len(a) != 1 || a[0].Status != store.StatusFailed || a[0].Error != "poisoned" {
		t.Errorf("audits of a poisoned row: %+v", a)
	}
	if a := audits(rows[7]); len(a) != 0 {
		t.Errorf("audits of a rescued row at level None: %+v", a)
	}
	checkIndexes(t, su)
	// Rescued rows are claimable again.
	res, err := su.s.Claim(ctx, store.ClaimParams{Owner: "n3", Queue: "default", Limit: 10, LeaseFor: time.Minute, Now: at})
	if err != nil || len(res.Tasks) != 5 {
		t.Fatalf("claim after rescue: %d rows, %v; want 5 (4 rescued, 1 never claimed)", len(res.Tasks), err)
	}
	if _, err := su.s.Rescue(ctx, store.RescueParams{Limit: -1, Now: at}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("negative limit: %v, want ErrInvalid", err)
	}
}

// TestNodesLiveness: a node whose process (here: its client) ended is
// Gone; a live one is not, even without a recent heartbeat; LeaveCluster
// removes a node.
func TestNodesLiveness(t *testing.T) {
	t.Parallel()
	su := newSetup(t)
	ctx := t.Context()
	other := redis.NewClient(&redis.Options{Addr: testenv.RedisAddr()})
	defer other.Close()
	dying, err := redisstore.New(ctx, other, &redisstore.Opts{Prefix: su.prefix})
	if err != nil {
		t.Fatal(err)
	}
	started := t0.Add(-time.Hour)
	live := store.Node{ID: "live node\n1", Host: "h1", PID: 11, StartedAt: started.Add(time.Second), Queues: map[string]int{"default": 4, "a": 1}}
	dead := store.Node{ID: "dead", Host: "h2", PID: 22, StartedAt: started, Queues: map[string]int{"default": 2}}
	if err := su.s.JoinCluster(ctx, live); err != nil {
		t.Fatal(err)
	}
	if err := dying.JoinCluster(ctx, dead); err != nil {
		t.Fatal(err)
	}
	if err := dying.JoinCluster(ctx, dead); err != nil { // a heartbeat
		t.Fatal(err)
	}
	nodes, err := su.s.Nodes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	now := storeNow(t, su)
	if len(nodes) != 2 || nodes[0].ID != "dead" || nodes[1].ID != live.ID || nodes[0].Gone || nodes[1].Gone {
		t.Fatalf("nodes = %+v; want dead then live, neither gone", nodes)
	}
	n := nodes[1]
	if n.Host != "h1" || n.PID != 11 || !n.StartedAt.Equal(store.NormalizeTime(live.StartedAt)) || fmt.Sprint(n.Queues) != fmt.Sprint(live.Queues) ||
		n.LastHeartbeat.After(now) || n.LastHeartbeat.Before(now.Add(-time.Minute)) {
		t.Errorf("node = %+v, want %+v with a heartbeat at the store's clock (%v)", n, live, now)
	}
	// The process of "dead" ends: its connections close.
	dying.Close()
	other.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		nodes, err = su.s.Nodes(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(nodes) == 2 && nodes[0].Gone {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("nodes = %+v; want dead gone", nodes)
		}
		time.Sleep(10 * time.Millisecond) // the server notices the closed connection on its own
	}
	if nodes[1].Gone {
		t.Errorf("live node gone: %+v", nodes[1])
	}
	// A lost session (killed here by its id) shows the node gone until
	// its next heartbeat opens a new one.
	list, err := su.c.ClientList(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	var sessionID string
	for _, line := range strings.Split(list, "\n") {
		if strings.Contains(line, " name=evertask:live_node_1:") {
			sessionID = strings.TrimPrefix(strings.Fields(line)[0], "id=")
		}
	}
	if sessionID == "" {
		t.Fatalf("no session named after the live node in\n%s", list)
	}
	if err := su.c.Do(ctx, "CLIENT", "KILL", "ID", sessionID).Err(); err != nil {
		t.Fatal(err)
	}
	if nodes, err := su.s.Nodes(ctx); err != nil || !nodes[1].Gone {
		t.Fatalf("nodes after the live node's session was killed = %+v, %v; want it gone", nodes, err)
	}
	if err := su.s.JoinCluster(ctx, live); err != nil {
		t.Fatal(err)
	}
	if nodes, err := su.s.Nodes(ctx); err != nil || nodes[1].Gone {
		t.Fatalf("nodes after the next heartbeat = %+v, %v; want it back", nodes, err)
	}
	if err := su.s.LeaveCluster(ctx, "dead"); err != nil {
		t.Fatal(err)
	}
	if err := su.s.LeaveCluster(ctx, "never joined"); err != nil {
		t.Errorf("leave of an unknown node: %v", err)
	}
	nodes, err = su.s.Nodes(ctx)
	if err != nil || len(nodes) != 1 || nodes[0].ID != live.ID {
		t.Fatalf("nodes after leave = %+v, %v", nodes, err)
	}
	if err := su.s.JoinCluster(ctx, store.Node{}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("join without id: %v, want ErrInvalid", err)
	}
}

func TestNotifier(t *testing.T) {
	t.Parallel()
	su := newSetup(t)
	ctx, cancel := context.WithCancel(t.Context())
	ch, err := su.s.Subscribe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	other := newSetup(t) // another prefix: its notices are not ours
	if err := other.s.Publish(t.Context(), []store.Notice{{Kind: store.NoticeDue, Queue: "x"}}); err != nil {
		t.Fatal(err)
	}
	id := uuid.Must(uuid.NewV7())
	sent := []store.Notice{
		{Kind: store.NoticeDue, Queue: "default", At: t0},
		{Kind: store.NoticeCancel, ID: id},
	}
	if err := su.s.Publish(t.Context(), sent); err != nil {
		t.Fatal(err)
	}
	for i, want := range sent {
		select {
		case got := <-ch:
			if got.Kind != want.Kind || got.Queue != want.Queue || got.ID != want.ID || !got.At.Equal(want.At) {
				t.Errorf("notice %d = %+v, want %+v", i, got, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("notice %d not delivered", i)
		}
	}
	// A reader that does not read loses notices; nobody blocks.
	for range 10 {
		many := make([]store.Notice, 100)
		for i := range many {
			many[i] = store.Notice{Kind: store.NoticeDue, Queue: "q"}
		}
		if err := su.s.Publish(t.Context(), many); err != nil {
			t.Fatal(err)
		}
	}
	cancel()
	deadline := time.After(5 * time.Second)
	for n := 0; ; n++ {
		select {
		case _, ok := <-ch:
			if !ok {
				if n > 1000 {
					t.Errorf("read %d notices after the cancel; the buffer is smaller", n)
				}
				return
			}
		case <-deadline:
			t.Fatal("channel not closed after the context ended")
		}
	}
}

// TestClusterReplayAfterLostReply: a claim, a rescue and the fenced and
// leased transitions that go-redis sends twice, because the reply of the
// first run was lost, answer as the first run did and take nothing more.
func TestClusterReplayAfterLostReply(t *testing.T) {
	t.Parallel()
	su := newSetup(t)
	ctx := t.Context()
	proxy := newDropProxy(t, testenv.RedisAddr())
	c := redis.NewClient(&redis.Options{Addr: proxy.addr, MaxRetries: 3, MinRetryBackoff: time.Millisecond, MaxRetryBackoff: 2 * time.Millisecond})
	t.Cleanup(func() { c.Close() })
	s, err := redisstore.New(ctx, c, &redisstore.Opts{Prefix: su.prefix})
	if err != nil {
		t.Fatal(err)
	}
	lost := func(name string, fn func() error) {
		t.Helper()
		before := proxy.dropped.Load()
		proxy.armed.Store(true)
		if err := fn(); err != nil {
			t.Fatalf("%s after a lost reply: %v", name, err)
		}
		if proxy.dropped.Load() != before+1 {
			t.Fatalf("%s: the proxy dropped no reply", name)
		}
	}
	var rows []*store.Task
	for i := range 6 {
		tk := task(i)
		tk.Status = store.StatusQueued
		rows = append(rows, tk)
	}
	persistAll(t, su, rows...)

	var res store.ClaimResult
	lost("Claim", func() (err error) {
		res, err = s.Claim(ctx, store.ClaimParams{Owner: "n1", Queue: "default", Limit: 2, LeaseFor: time.Millisecond, Now: t0})
		return err
	})
	if got, want := ids(res.Tasks), ids(rows[:2]); !slices.Equal(got, want) {
		t.Fatalf("replayed Claim returned %v, want the first run's %v", got, want)
	}
	if got := get(t, su, rows[2].ID); got.Status != store.StatusQueued {
		t.Fatalf("replayed Claim took a second set of rows: row 2 is %s", got.Status)
	}
	time.Sleep(5 * time.Millisecond) // let the claim's short leases end at the store's clock
	var rescued []*store.Task
	lost("Rescue", func() (err error) {
		rescued, err = s.Rescue(ctx, store.RescueParams{Limit: 10, Now: t0})
		return err
	})
	if got, want := ids(rescued), ids(rows[:2]); !slices.Equal(got, want) {
		t.Fatalf("replayed Rescue returned %v, want the first run's %v", got, want)
	}
	for _, tk := range rows[:2] {
		if got := get(t, su, tk.ID); got.RecoveryFailures != 1 || got.Status != store.StatusQueued {
			t.Errorf("row rescued by a replayed call: %s with %d recovery failures, want Queued with 1", got.Status, got.RecoveryFailures)
		}
	}
	var applied bool
	lost("Transition with a lease", func() (err error) {
		applied, err = s.Transition(ctx, store.TransitionParams{ID: rows[0].ID, To: store.StatusInProgress, From: []store.Status{store.StatusQueued},
			Now: t0, AuditLevel: store.AuditFull, Lease: &store.Lease{Owner: "n1", For: time.Hour}})
		return err
	})
	if !applied {
		t.Errorf("replayed Transition with a lease reports not applied")
	}
	lost("fenced Transition", func() (err error) {
		applied, err = s.Transition(ctx, store.TransitionParams{ID: rows[0].ID, To: store.StatusCompleted, From: []store.Status{store.StatusInProgress},
			Now: t0, AuditLevel: store.AuditFull, HeldBy: "n1"})
		return err
	})
	if !applied {
		t.Errorf("replayed fenced Transition reports not applied")
	}
	if got := get(t, su, rows[0].ID); got.Status != store.StatusCompleted || got.Owner != "" || got.RecoveryFailures != 0 {
		t.Errorf("row after the replayed fenced completion: %s owner %q failures %d", got.Status, got.Owner, got.RecoveryFailures)
	}
	checkIndexes(t, su)
}
