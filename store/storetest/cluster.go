package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/evertask/evertask/store"
	"github.com/google/uuid"
)

// The Cluster checks cannot stay on the suite's fixed base time: a lease
// is measured by the store's own clock, so every row whose due time or lease
// matters is placed relative to Cluster.Now, with margins of minutes. The
// few checks that need a lease to run out take one of shortLease and poll
// the store's clock until it passed; nothing depends on how fast the
// machine is. The times passed in params (Now) stay on the base time: they
// only reach audits and LastExecutionAt.

const (
	// longLease outlives any check.
	longLease = 10 * time.Minute
	// shortLease is the lease the checks wait out.
	shortLease = 300 * time.Millisecond
	// clusterQueue is the queue the checks claim from.
	clusterQueue = "cluster"
	// leaseSlack is how far a lease may be from the store's clock at the
	// call plus its length: a store may read its clock more than once in a
	// call, but a store that measures leases with the caller's Now (the
	// base time, months away) or with the wrong length is caught.
	leaseSlack = time.Minute
)

func clusterOf(s store.Store) store.Cluster { return s.(store.Cluster) }

// storeNow reads the store's clock.
func storeNow(t tb, c store.Cluster) time.Time {
	t.Helper()
	now, err := c.Now(t.Context())
	if err != nil {
		t.Fatalf("Now: %v", err)
	}
	if now.IsZero() || now.Location() != time.UTC || now.Nanosecond()%1000 != 0 {
		t.Fatalf("Now = %s, want a non-zero time in UTC at microsecond precision", fmtTime(now))
	}
	return now
}

// dueTask returns a Queued one-shot row of clusterQueue created an hour
// before the store's time now (plus n µs, so rows keep the order of n): it
// is due at once.
func dueTask(n int, now time.Time) *store.Task {
	task := newTask(n)
	task.Queue = clusterQueue
	task.Status = store.StatusQueued
	task.CreatedAt = now.Add(-time.Hour).Add(time.Duration(n) * time.Microsecond)
	return task
}

// leasedTask returns an InProgress row of clusterQueue held by owner until
// leaseUntil, as a node of another process would have left it.
func leasedTask(n int, now time.Time, owner string, leaseUntil time.Time) *store.Task {
	task := dueTask(n, now)
	task.Status = store.StatusInProgress
	task.Owner, task.LeaseUntil = owner, leaseUntil
	return task
}

func claimParams(owner string, limit int, lease time.Duration) store.ClaimParams {
	return store.ClaimParams{Owner: owner, Queue: clusterQueue, Limit: limit, LeaseFor: lease, Now: at(time.Minute)}
}

func claim(t tb, c store.Cluster, p store.ClaimParams) store.ClaimResult {
	t.Helper()
	res, err := c.Claim(t.Context(), p)
	if err != nil {
		t.Fatalf("Claim(%s, %s, limit %d): %v", p.Owner, p.Queue, p.Limit, err)
	}
	if res.StoreNow.IsZero() {
		t.Errorf("Claim(%s, %s) returned a zero StoreNow", p.Owner, p.Queue)
	}
	return res
}

// claimOne claims the one due row it expects to get.
func claimOne(t tb, c store.Cluster, owner string, lease time.Duration, want uuid.UUID) *store.Task {
	t.Helper()
	res := claim(t, c, claimParams(owner, 1, lease))
	if len(res.Tasks) != 1 || res.Tasks[0].ID != want {
		t.Fatalf("Claim(limit 1) took %v, want [%s]", ids(res.Tasks), want)
	}
	return res.Tasks[0]
}

// wantLease fails unless task is InProgress, held by owner until about
// from + lease by the store's clock, and after from.
func wantLease(t tb, what string, task *store.Task, owner string, from time.Time, lease time.Duration) {
	t.Helper()
	if task.Status != store.StatusInProgress || task.Owner != owner {
		t.Errorf("%s: row %s is %s held by %q, want InProgress held by %q", what, task.ID, task.Status, task.Owner, owner)
	}
	want := from.Add(lease)
	if !task.LeaseUntil.After(from) || task.LeaseUntil.Before(want.Add(-leaseSlack)) || task.LeaseUntil.After(want.Add(leaseSlack)) {
		t.Errorf("%s: row %s LeaseUntil = %s, want the store's clock %s plus %s (the lease comes from the store's clock)",
			what, task.ID, fmtTime(task.LeaseUntil), fmtTime(from), lease)
	}
	if !sameTime(task.LeaseUntil, task.LeaseUntil) {
		t.Errorf("%s: row %s LeaseUntil = %s, want UTC at microsecond precision", what, task.ID, fmtTime(task.LeaseUntil))
	}
}

// waitPast polls the store's clock until it is after until.
func waitPast(t tb, c store.Cluster, until time.Time) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		if storeNow(t, c).After(until) {
			return
		}
		select {
		case <-deadline:
			t.Fatalf("the store's clock did not pass %s within 30s", fmtTime(until))
		case <-t.Context().Done():
			t.Fatalf("waiting for the store's clock: %v", t.Context().Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// wantLeaseReleased sets on want, a row a write just moved out of
// InProgress, what that write does to its lease fields: a Cluster store
// clears them (the row invariant); another store may clear or keep them,
// since only cluster mode reads them.
func wantLeaseReleased(t tb, s store.Store, want *store.Task) {
	t.Helper()
	if _, ok := s.(store.Cluster); !ok {
		if got := get(t, s, want.ID); got.Owner != "" || !got.LeaseUntil.IsZero() {
			return
		}
	}
	want.Owner, want.LeaseUntil = "", time.Time{}
}

// released is task as a write out of InProgress leaves its lease fields.
func released(task *store.Task) *store.Task {
	c := task.Clone()
	c.Owner, c.LeaseUntil = "", time.Time{}
	return c
}

// held is task as a claim by owner leaves it, with the lease got shows.
func held(task *store.Task, owner string, got *store.Task) *store.Task {
	c := task.Clone()
	c.Status = store.StatusInProgress
	c.Owner = owner
	if got != nil {
		c.LeaseUntil = got.LeaseUntil
	}
	return c
}

// wantUnchanged fails unless the row and its status audits are as before.
func wantUnchanged(t tb, s store.Store, what string, before *store.Task, audits int) {
	t.Helper()
	wantRow(t, s, what, before)
	if got := len(statusAudits(t, s, before.ID)); got != audits {
		t.Errorf("%s: %d status audits, want %d: a write that did not apply wrote an audit", what, got, audits)
	}
}

func transitionMany(t tb, s store.Store, params ...store.TransitionParams) []bool {
	t.Helper()
	applied, err := s.(store.BatchStore).TransitionMany(t.Context(), params)
	if err != nil {
		t.Fatalf("TransitionMany: %v", err)
	}
	if len(applied) != len(params) {
		t.Fatalf("TransitionMany returned %d results for %d params", len(applied), len(params))
	}
	return applied
}

func rescue(t tb, c store.Cluster, p store.RescueParams) []*store.Task {
	t.Helper()
	got, err := c.Rescue(t.Context(), p)
	if err != nil {
		t.Fatalf("Rescue: %v", err)
	}
	return got
}

// wantTasks compares returned rows with want, by id in any order.
func wantTasks(t tb, what string, got []*store.Task, want ...*store.Task) {
	t.Helper()
	wantSameIDs(t, what, ids(got), ids(want))
	byID := map[uuid.UUID]*store.Task{}
	for _, w := range want {
		byID[w.ID] = w
	}
	for _, g := range got {
		if w := byID[g.ID]; w != nil {
			wantTask(t, what, g, w)
		}
	}
}

// claimIsExclusive has 32 goroutines claim 300 due rows at once, each
// with small limits, and checks that no row went to two claims and every
// row to one. With alone, every claim says it is alone (ClaimParams.Alone):
// the worst case of nodes that do not know of each other yet.
func claimIsExclusive(t tb, s store.Store, alone bool) {
	c := clusterOf(s)
	now := storeNow(t, c)
	const rows, claimers = 300, 32
	seeded := make([]*store.Task, rows)
	for i := range seeded {
		seeded[i] = dueTask(i+1, now)
	}
	persistBatches(t, s, seeded)

	got := make([][]*store.Task, claimers)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for g := range claimers {
		wg.Go(func() {
			<-start
			owner := fmt.Sprintf("node-%02d", g)
			// Stop at the first empty claim: the rows another
			// claimer skipped past are claimed by it.
			for range rows + 1 {
				p := claimParams(owner, 1+g%3, longLease)
				p.Alone = alone
				res, err := c.Claim(t.Context(), p)
				if err != nil {
					t.Errorf("Claim by %s: %v", owner, err)
					return
				}
				if len(res.Tasks) == 0 {
					return
				}
				for _, task := range res.Tasks {
					if task.Owner != owner || task.Status != store.StatusInProgress || !task.LeaseUntil.After(res.StoreNow) {
						t.Errorf("Claim by %s returned row %s %s held by %q until %s at store time %s; want InProgress held by %s after it",
							owner, task.ID, task.Status, task.Owner, fmtTime(task.LeaseUntil), fmtTime(res.StoreNow), owner)
					}
				}
				got[g] = append(got[g], res.Tasks...)
			}
		})
	}
	close(start)
	wg.Wait()
	if alone {
		// A claim that was wrongly alone may come back empty while rows
		// are left (it waited for another claim and lost its rows to it):
		// a last claimer takes what is left.
		for range rows + 1 {
			res := claim(t, c, claimParams("sweeper", 10, longLease))
			if len(res.Tasks) == 0 {
				break
			}
			got = append(got, res.Tasks)
		}
	}

	claimedBy := map[uuid.UUID]string{}
	claimed := map[uuid.UUID]*store.Task{}
	for g, tasks := range got {
		owner := fmt.Sprintf("node-%02d", g)
		if g >= claimers {
			owner = "sweeper"
		}
		for _, task := range tasks {
			if first, dup := claimedBy[task.ID]; dup {
				t.Errorf("row %s was claimed twice, by %s and by %s: claims are not exclusive", task.ID, first, owner)
				continue
			}
			claimedBy[task.ID], claimed[task.ID] = owner, task
		}
	}
	if len(claimed) != rows {
		t.Errorf("the claimers took %d distinct rows, want all %d", len(claimed), rows)
	}
	if res := claim(t, c, claimParams("late", 10, longLease)); len(res.Tasks) != 0 {
		t.Errorf("a claim after the claimers stopped took %v, want nothing", ids(res.Tasks))
	}
	for _, row := range allRows(t, s) {
		ret := claimed[row.ID]
		if ret == nil {
			t.Errorf("row %s is %s held by %q: no claim returned it", row.ID, row.Status, row.Owner)
			continue
		}
		wantTask(t, "a claimed row as the claim returned it", ret, row)
	}
}

func clusterChecks() []check {
	return []check{
		{"ClaimIsExclusiveUnder32Goroutines", func(t tb, s store.Store) { claimIsExclusive(t, s, false) }},
		{"ClaimIsExclusiveUnder32GoroutinesThatThinkTheyAreAlone", func(t tb, s store.Store) { claimIsExclusive(t, s, true) }},
		{"ClaimTakesOnlyDueClaimableRowsInOrder", func(t tb, s store.Store) {
			c := clusterOf(s)
			now := storeNow(t, c)
			mins := func(m int) time.Time { return now.Add(time.Duration(m) * time.Minute) }
			row := func(n int, status store.Status, created time.Time, edit func(*store.Task)) *store.Task {
				task := dueTask(n, now)
				task.Status, task.CreatedAt = status, created
				if edit != nil {
					edit(task)
				}
				return task
			}
			recurring := func(next time.Time) func(*store.Task) {
				return func(task *store.Task) {
					task.Recurring, task.Schedule, task.ScheduleInfo = true, []byte(`{"every":"1m"}`), "every minute"
					task.RunCount, task.NextRunAt = 2, next
				}
			}
			scheduled := func(at time.Time) func(*store.Task) { return func(task *store.Task) { task.ScheduledAt = at } }

			// The due, claimable rows, in the order a claim takes them:
			// (DueAt, CreatedAt, ID), whatever order they were written in.
			due := []*store.Task{
				row(1, store.StatusQueued, mins(-120), scheduled(mins(-50))),
				row(2, store.StatusWaitingQueue, mins(-40), nil), // due at its creation
				row(3, store.StatusCompleted, mins(-180), func(task *store.Task) {
					recurring(mins(-30))(task) // NextRunAt wins over ScheduledAt
					task.ScheduledAt = mins(-170)
				}),
				// Tied due times: the earlier creation first, though its id is larger.
				row(60, store.StatusQueued, mins(-100), scheduled(mins(-20))),
				row(50, store.StatusQueued, mins(-90), scheduled(mins(-20))),
				// Tied due and creation times: the smaller id first.
				row(70, store.StatusQueued, mins(-80), scheduled(mins(-10))),
				row(71, store.StatusQueued, mins(-80), scheduled(mins(-10))),
				row(8, store.StatusFailed, mins(-200), func(task *store.Task) {
					recurring(mins(-5))(task)
					task.Error = "boom"
				}),
				row(9, store.StatusServiceStopped, mins(-2), nil),
				row(10, store.StatusPending, mins(-1), nil),
				row(11, store.StatusQueued, mins(-60), func(task *store.Task) {
					task.ScheduledAt = now.Add(-30 * time.Second)
					task.RunUntil = mins(60)
				}),
			}
			nextDue := row(20, store.StatusCompleted, mins(-300), recurring(mins(60)))
			notTaken := []*store.Task{
				nextDue,
				row(21, store.StatusQueued, mins(-10), scheduled(mins(120))),
				row(22, store.StatusWaitingQueue, mins(-10), scheduled(mins(180))),
				// Not claimable, so not NextDue either, however early.
				row(23, store.StatusCancelled, mins(-10), scheduled(mins(30))),
				row(24, store.StatusCancelled, mins(-70), nil),
				row(25, store.StatusCompleted, mins(-70), nil),
				row(26, store.StatusFailed, mins(-70), nil),
				row(27, store.StatusCompleted, mins(-70), recurring(time.Time{})), // series ended
				row(28, store.StatusInProgress, mins(-70), nil),                   // Rescue's, not Claim's
				row(29, store.StatusInProgress, mins(-70), func(task *store.Task) { task.Owner, task.LeaseUntil = "node-x", mins(60) }),
				row(30, store.StatusInProgress, mins(-70), scheduled(mins(25))),
				row(31, store.StatusQueued, mins(-70), func(task *store.Task) { task.Queue = "other" }),
				row(32, store.StatusQueued, mins(-70), func(task *store.Task) { task.Queue, task.ScheduledAt = "other", mins(10) }),
				row(33, store.StatusCompleted, mins(-70), func(task *store.Task) { // runs exhausted
					recurring(mins(-60))(task)
					task.MaxRuns, task.RunCount = 3, 3
				}),
				row(34, store.StatusQueued, mins(-150), func(task *store.Task) { task.ScheduledAt, task.RunUntil = mins(-120), mins(-60) }),
				row(35, store.StatusQueued, mins(-150), func(task *store.Task) { task.ScheduledAt, task.RunUntil = mins(5), mins(-60) }),
			}
			// Written in another order than the claims take them.
			persist(t, s, notTaken...)
			for i := len(due) - 1; i >= 0; i-- {
				persist(t, s, due[i])
			}

			var taken []*store.Task
			for _, limit := range []int{3, 100, 100} {
				res := claim(t, c, claimParams("node-a", limit, longLease))
				if len(res.Tasks) > limit {
					t.Errorf("Claim(limit %d) took %d rows", limit, len(res.Tasks))
				}
				if !sameTime(res.NextDue, nextDue.NextRunAt) {
					t.Errorf("Claim(limit %d) NextDue = %s, want %s: the earliest claimable row not yet due",
						limit, fmtTime(res.NextDue), fmtTime(nextDue.NextRunAt))
				}
				for _, task := range res.Tasks {
					wantLease(t, "a claimed row", task, "node-a", res.StoreNow, longLease)
				}
				taken = append(taken, res.Tasks...)
			}
			if got, want := ids(taken), ids(due); !slices.Equal(got, want) {
				t.Errorf("claims took, in order:\n\t%v\nwant the due claimable rows in (DueAt, CreatedAt, ID) order:\n\t%v", got, want)
			}
			for i, task := range taken {
				if i < len(due) && task.ID == due[i].ID {
					wantTask(t, "a claimed row as the claim returned it", task, held(due[i], "node-a", task))
					wantRow(t, s, "a claimed row", held(due[i], "node-a", task))
				}
			}
			for _, task := range notTaken {
				wantRow(t, s, "a row a claim must not take", task)
			}
			res := claim(t, c, store.ClaimParams{Owner: "node-a", Queue: "empty", Limit: 10, LeaseFor: longLease, Now: at(time.Minute)})
			if len(res.Tasks) != 0 || !res.NextDue.IsZero() {
				t.Errorf("Claim of a queue without rows = %v, NextDue %s; want nothing and a zero NextDue", ids(res.Tasks), fmtTime(res.NextDue))
			}
		}},
		{"ClaimWritesTheAuditsOfQueuedAndInProgress", func(t tb, s store.Store) {
			c := clusterOf(s)
			now := storeNow(t, c)
			claimAt := at(time.Hour)
			for i, level := range []store.AuditLevel{store.AuditFull, store.AuditMinimal, store.AuditErrorsOnly, store.AuditNone} {
				queue := fmt.Sprint("audit-", level)
				waiting, queued, series := dueTask(10*i+1, now), dueTask(10*i+2, now), dueTask(10*i+3, now)
				waiting.Status = store.StatusWaitingQueue
				series.Status, series.Recurring, series.NextRunAt = store.StatusCompleted, true, now.Add(-time.Minute)
				for _, task := range []*store.Task{waiting, queued, series} {
					task.Queue, task.AuditLevel = queue, level
				}
				persist(t, s, waiting, queued, series)
				res := claim(t, c, store.ClaimParams{Owner: "node-a", Queue: queue, Limit: 10, LeaseFor: longLease, Now: claimAt})
				wantSameIDs(t, fmt.Sprintf("Claim of the rows at %s", level), ids(res.Tasks), []uuid.UUID{waiting.ID, queued.ID, series.ID})
				audits := func(statuses ...store.Status) []store.StatusAudit {
					var out []store.StatusAudit
					for _, st := range statuses {
						if store.StatusAuditRequired(level, st, "") {
							out = append(out, store.StatusAudit{At: claimAt, Status: st})
						}
					}
					return out
				}
				wantStatusAudits(t, s, fmt.Sprintf("a claimed WaitingQueue row at %s", level), waiting.ID,
					audits(store.StatusInProgress, store.StatusQueued))
				wantStatusAudits(t, s, fmt.Sprintf("a claimed Queued row at %s", level), queued.ID,
					audits(store.StatusInProgress))
				wantStatusAudits(t, s, fmt.Sprintf("a claimed recurring Completed row at %s", level), series.ID,
					audits(store.StatusInProgress, store.StatusQueued))
				wantRunsAudits(t, s, fmt.Sprintf("a claimed recurring row at %s", level), series.ID, nil)
			}
		}},
		{"LeaseExpiry", func(t tb, s store.Store) {
			c := clusterOf(s)
			now := storeNow(t, c)
			short, long := dueTask(1, now), dueTask(2, now)
			unleased := dueTask(3, now) // InProgress without a lease: a process without leases wrote it
			unleased.Status = store.StatusInProgress
			persist(t, s, short, long, unleased)
			gotShort := claimOne(t, c, "node-a", shortLease, short.ID)
			claimOne(t, c, "node-a", longLease, long.ID)
			waitPast(t, c, gotShort.LeaseUntil)

			lost, err := c.Renew(t.Context(), store.RenewParams{Owner: "node-a", IDs: []uuid.UUID{short.ID, long.ID}, LeaseFor: longLease})
			if err != nil {
				t.Fatalf("Renew: %v", err)
			}
			wantSameIDs(t, "Renew of an expired and a live lease: lost", lost, []uuid.UUID{short.ID})
			wantRow(t, s, "a row whose lease expired, after Renew (an expired lease is never revived)", gotShort)
			gotLong := get(t, s, long.ID)

			rescued := rescue(t, c, store.RescueParams{Now: at(2 * time.Hour)})
			wantShort := short.Clone()
			wantShort.RecoveryFailures = 1
			wantUnleased := unleased.Clone()
			wantUnleased.Status, wantUnleased.RecoveryFailures = store.StatusQueued, 1
			wantTasks(t, "Rescue after the lease expired", rescued, wantShort, wantUnleased)
			wantRow(t, s, "the row whose lease expired, after Rescue", wantShort)
			wantRow(t, s, "the row without a lease, after Rescue", wantUnleased)
			wantRow(t, s, "the row with a live lease, after Rescue", gotLong)
			wantStatusAudits(t, s, "the rescued row", short.ID, []store.StatusAudit{
				{At: at(2 * time.Hour), Status: store.StatusQueued},
				{At: at(time.Minute), Status: store.StatusInProgress},
			})
			if again := rescue(t, c, store.RescueParams{Now: at(3 * time.Hour)}); len(again) != 0 {
				t.Errorf("a second Rescue took %v, want nothing", ids(again))
			}
			// The rescued rows are claimable again.
			res := claim(t, c, claimParams("node-b", 10, longLease))
			wantSameIDs(t, "Claim after Rescue", ids(res.Tasks), []uuid.UUID{short.ID, unleased.ID})
		}},
		{"FencedWritesRefused", func(t tb, s store.Store) {
			c := clusterOf(s)
			now := storeNow(t, c)
			expiring := dueTask(1, now) // the earliest: the short claim takes it
			one, many, cancelled := dueTask(2, now), dueTask(3, now), dueTask(4, now)
			series := dueTask(5, now)
			series.Status, series.Recurring, series.NextRunAt = store.StatusCompleted, true, now.Add(-time.Minute)
			series.Schedule, series.ScheduleInfo, series.RunCount = []byte(`{"every":"1m"}`), "every minute", 4
			never := dueTask(6, now)
			never.Queue = "unclaimed"
			for _, task := range []*store.Task{one, many, series} {
				task.RecoveryFailures = 1 // taken over once before
			}
			persist(t, s, expiring, one, many, cancelled, series, never)
			gotExpiring := claimOne(t, c, "node-a", shortLease, expiring.ID)
			res := claim(t, c, claimParams("node-a", 10, longLease))
			wantSameIDs(t, "Claim", ids(res.Tasks), []uuid.UUID{one.ID, many.ID, cancelled.ID, series.ID})
			claimed := map[uuid.UUID]*store.Task{}
			for _, task := range res.Tasks {
				claimed[task.ID] = task
			}
			if len(claimed) != 4 {
				t.Fatalf("Claim took %d rows, want 4", len(claimed))
			}
			_, isBatch := s.(store.BatchStore)
			rs, isRecurring := s.(store.RecurringStore)
			done := func(id uuid.UUID, holder string) store.TransitionParams {
				return store.TransitionParams{ID: id, To: store.StatusCompleted, Now: at(time.Hour), ExecutionTime: time.Second, HeldBy: holder}
			}
			run := func(holder string) store.RunParams {
				return store.RunParams{ID: series.ID, Now: at(time.Hour), Status: store.StatusCompleted, ExecutionTime: time.Second,
					NextRunAt: now.Add(time.Hour), HeldBy: holder}
			}
			// audits counts the status audits of a row before the refusals: the
			// claim's, and the Cancel's.
			audits := map[uuid.UUID]int{one.ID: 1, many.ID: 1, cancelled.ID: 2, series.ID: 2, expiring.ID: 1}
			refused := func(what string, task *store.Task, applied bool) {
				t.Helper()
				if applied {
					t.Errorf("%s applied, want it refused", what)
				}
				wantUnchanged(t, s, what, task, audits[task.ID])
			}

			// Another owner.
			refused("Transition fenced on another owner", claimed[one.ID], transition(t, s, done(one.ID, "node-b")))
			if isBatch {
				refused("TransitionMany fenced on another owner", claimed[many.ID], transitionMany(t, s, done(many.ID, "node-b"))[0])
			}
			if isRecurring {
				applied, err := rs.CompleteRecurringRun(t.Context(), run("node-b"))
				if err != nil {
					t.Fatalf("CompleteRecurringRun: %v", err)
				}
				refused("CompleteRecurringRun fenced on another owner", claimed[series.ID], applied)
			}
			// A row nobody claimed.
			if transition(t, s, done(never.ID, "node-a")) {
				t.Errorf("a fenced Transition of a Queued row nobody claimed applied")
			}
			wantUnchanged(t, s, "a Queued row after a fenced Transition", never, 0)

			// A cancel (unfenced) ends the lease: the holder's outcome is refused.
			if !transition(t, s, store.TransitionParams{ID: cancelled.ID, To: store.StatusCancelled,
				From: []store.Status{store.StatusQueued, store.StatusInProgress}, Now: at(30 * time.Minute)}) {
				t.Fatalf("Cancel of a claimed row did not apply")
			}
			wantCancelled := released(claimed[cancelled.ID])
			wantCancelled.Status = store.StatusCancelled
			wantRow(t, s, "a claimed row after Cancel", wantCancelled)
			refused("Transition by the holder after a Cancel", wantCancelled, transition(t, s, done(cancelled.ID, "node-a")))
			if isBatch {
				refused("TransitionMany by the holder after a Cancel", wantCancelled, transitionMany(t, s, done(cancelled.ID, "node-a"))[0])
			}

			// An expired lease.
			waitPast(t, c, gotExpiring.LeaseUntil)
			refused("Transition by the holder after the lease expired", gotExpiring, transition(t, s, done(expiring.ID, "node-a")))
			if isBatch {
				refused("TransitionMany by the holder after the lease expired", gotExpiring, transitionMany(t, s, done(expiring.ID, "node-a"))[0])
			}

			// The holder: applied, lease released, take-overs forgiven.
			finished := func(task *store.Task, to store.Status, errText string) *store.Task {
				w := released(task)
				w.Status, w.Error, w.RecoveryFailures = to, errText, 0
				w.LastExecutionAt, w.ExecutionTime = at(time.Hour), time.Second
				return w
			}
			if !transition(t, s, done(one.ID, "node-a")) {
				t.Errorf("Transition by the holder did not apply")
			}
			wantRow(t, s, "after Transition by the holder", finished(claimed[one.ID], store.StatusCompleted, ""))
			if isBatch {
				p := done(many.ID, "node-a")
				p.To, p.Error = store.StatusFailed, "boom"
				if !transitionMany(t, s, p)[0] {
					t.Errorf("TransitionMany by the holder did not apply")
				}
				wantRow(t, s, "after TransitionMany by the holder", finished(claimed[many.ID], store.StatusFailed, "boom"))
			}
			if isRecurring {
				applied, err := rs.CompleteRecurringRun(t.Context(), run("node-a"))
				if err != nil || !applied {
					t.Errorf("CompleteRecurringRun by the holder = %v, %v; want applied", applied, err)
				}
				w := finished(claimed[series.ID], store.StatusCompleted, "")
				w.RunCount, w.NextRunAt = 5, now.Add(time.Hour)
				wantRow(t, s, "after CompleteRecurringRun by the holder", w)
			}
		}},
		{"WritesOutOfInProgressReleaseTheLease", func(t tb, s store.Store) {
			c := clusterOf(s)
			now := storeNow(t, c)
			var tasks []*store.Task
			for i := range 4 {
				task := dueTask(i+1, now)
				task.Recurring, task.NextRunAt, task.RecoveryFailures = true, now.Add(-time.Minute), 2
				tasks = append(tasks, task)
			}
			persist(t, s, tasks...)
			res := claim(t, c, claimParams("node-a", 10, longLease))
			if len(res.Tasks) != len(tasks) {
				t.Fatalf("Claim took %d rows, want %d", len(res.Tasks), len(tasks))
			}
			got := map[uuid.UUID]*store.Task{}
			for _, task := range res.Tasks {
				got[task.ID] = task
			}
			// Unfenced writes release the lease too, and keep the count: only
			// the holder's own outcome forgives the take-overs.
			if !transition(t, s, store.TransitionParams{ID: tasks[0].ID, To: store.StatusQueued, Now: at(time.Hour)}) {
				t.Errorf("Transition to Queued did not apply")
			}
			w := released(got[tasks[0].ID])
			w.Status = store.StatusQueued
			wantRow(t, s, "after an unfenced Transition to Queued", w)
			if _, ok := s.(store.BatchStore); ok {
				if !transitionMany(t, s, store.TransitionParams{ID: tasks[1].ID, To: store.StatusServiceStopped, Now: at(time.Hour)})[0] {
					t.Errorf("TransitionMany to ServiceStopped did not apply")
				}
				w := released(got[tasks[1].ID])
				w.Status, w.LastExecutionAt = store.StatusServiceStopped, at(time.Hour)
				wantRow(t, s, "after an unfenced TransitionMany to ServiceStopped", w)
			}
			if rs, ok := s.(store.RecurringStore); ok {
				applied, err := rs.CompleteRecurringRun(t.Context(), store.RunParams{ID: tasks[2].ID, Now: at(time.Hour),
					Status: store.StatusFailed, Error: "boom", NextRunAt: now.Add(time.Hour)})
				if err != nil || !applied {
					t.Errorf("CompleteRecurringRun = %v, %v; want applied", applied, err)
				}
				w := released(got[tasks[2].ID])
				w.Status, w.Error, w.LastExecutionAt, w.RunCount, w.NextRunAt = store.StatusFailed, "boom", at(time.Hour), 1, now.Add(time.Hour)
				wantRow(t, s, "after an unfenced CompleteRecurringRun", w)

				applied, err = rs.EndSeries(t.Context(), store.EndSeriesParams{ID: tasks[3].ID, Status: store.StatusCompleted, Now: at(time.Hour)})
				if err != nil || !applied {
					t.Errorf("EndSeries = %v, %v; want applied", applied, err)
				}
				w = released(got[tasks[3].ID])
				w.Status, w.NextRunAt = store.StatusCompleted, time.Time{}
				wantRow(t, s, "after EndSeries", w)
			}
		}},
		{"IfRecoverableRespectsLiveLease", func(t tb, s store.Store) {
			c := clusterOf(s)
			now := storeNow(t, c)
			expiring, live := dueTask(1, now), dueTask(2, now)
			unleased := dueTask(3, now)
			unleased.Status = store.StatusInProgress
			expired := leasedTask(4, now, "node-x", now.Add(-time.Minute)) // left by a node long gone
			persist(t, s, expiring, live, unleased, expired)
			gotExpiring := claimOne(t, c, "node-a", shortLease, expiring.ID)
			gotLive := claimOne(t, c, "node-a", longLease, live.ID)
			requeue := func(id uuid.UUID, from ...store.Status) store.TransitionParams {
				return store.TransitionParams{ID: id, To: store.StatusQueued, From: from, IfRecoverable: true, Now: at(time.Hour)}
			}
			if transition(t, s, requeue(live.ID)) {
				t.Errorf("a conditional re-queue of a row with a live lease applied")
			}
			if transition(t, s, requeue(live.ID, store.StatusInProgress)) {
				t.Errorf("a conditional re-queue from InProgress of a row with a live lease applied")
			}
			if _, ok := s.(store.BatchStore); ok && transitionMany(t, s, requeue(live.ID))[0] {
				t.Errorf("a conditional re-queue of a row with a live lease applied through TransitionMany")
			}
			wantUnchanged(t, s, "a row with a live lease after conditional re-queues", gotLive, 1)

			want := func(task *store.Task) *store.Task {
				w := released(task)
				w.Status = store.StatusQueued
				return w
			}
			if !transition(t, s, requeue(unleased.ID)) {
				t.Errorf("a conditional re-queue of an InProgress row without a lease did not apply")
			}
			wantRow(t, s, "an InProgress row without a lease after a conditional re-queue", want(unleased))
			if !transition(t, s, requeue(expired.ID, store.StatusInProgress)) {
				t.Errorf("a conditional re-queue of a row whose lease expired did not apply")
			}
			wantRow(t, s, "a row whose lease expired after a conditional re-queue", want(expired))
			waitPast(t, c, gotExpiring.LeaseUntil)
			if !transition(t, s, requeue(expiring.ID)) {
				t.Errorf("a conditional re-queue of a claimed row after its lease expired did not apply")
			}
			wantRow(t, s, "a claimed row after its lease expired and a conditional re-queue", want(gotExpiring))
		}},
		{"TransitionWithLeaseClaims", func(t tb, s store.Store) {
			c := clusterOf(s)
			now := storeNow(t, c)
			one, many := dueTask(1, now), dueTask(2, now)
			persist(t, s, one, many)
			start := func(id uuid.UUID) store.TransitionParams {
				return store.TransitionParams{ID: id, To: store.StatusInProgress, From: []store.Status{store.StatusQueued},
					Now: at(time.Hour), Lease: &store.Lease{Owner: "node-a", For: longLease}}
			}
			before := storeNow(t, c)
			if !transition(t, s, start(one.ID)) {
				t.Fatalf("Transition to InProgress with a lease did not apply")
			}
			got := get(t, s, one.ID)
			wantLease(t, "after Transition with a lease", got, "node-a", before, longLease)
			wantTask(t, "after Transition with a lease", got, held(one, "node-a", got))
			wantStatusAudits(t, s, "after Transition with a lease", one.ID, []store.StatusAudit{{At: at(time.Hour), Status: store.StatusInProgress}})
			// The lease is a real one: fenced writes of its owner apply.
			if transition(t, s, start(one.ID)) {
				t.Errorf("a second Transition with a lease from Queued applied to an InProgress row")
			}
			wantRow(t, s, "after a refused second lease", got)
			if !transition(t, s, store.TransitionParams{ID: one.ID, To: store.StatusCompleted, Now: at(2 * time.Hour), HeldBy: "node-a"}) {
				t.Errorf("a write fenced on the lease a Transition gave did not apply")
			}
			if _, ok := s.(store.BatchStore); ok {
				before := storeNow(t, c)
				if !transitionMany(t, s, start(many.ID))[0] {
					t.Fatalf("TransitionMany to InProgress with a lease did not apply")
				}
				got := get(t, s, many.ID)
				wantLease(t, "after TransitionMany with a lease", got, "node-a", before, longLease)
				wantTask(t, "after TransitionMany with a lease", got, held(many, "node-a", got))
			}
		}},
		{"RenewIsBatchedAndExtends", func(t tb, s store.Store) {
			c := clusterOf(s)
			now := storeNow(t, c)
			var mine []*store.Task
			for i := range 50 {
				mine = append(mine, dueTask(i+1, now))
			}
			theirs := dueTask(100, now) // the last due: claimed after mine
			finished := dueTask(101, now)
			finished.Status = store.StatusCompleted
			persistBatches(t, s, append(slices.Clone(mine), theirs, finished))
			res := claim(t, c, claimParams("node-a", 50, time.Minute))
			wantSameIDs(t, "Claim", ids(res.Tasks), ids(mine))
			gotTheirs := claimOne(t, c, "node-b", time.Minute, theirs.ID)
			old := map[uuid.UUID]*store.Task{}
			for _, task := range res.Tasks {
				old[task.ID] = task
			}

			unknown := tid(999)
			all := append(ids(mine), unknown, theirs.ID, finished.ID)
			before := storeNow(t, c)
			lost, err := c.Renew(t.Context(), store.RenewParams{Owner: "node-a", IDs: all, LeaseFor: longLease})
			if err != nil {
				t.Fatalf("Renew: %v", err)
			}
			wantSameIDs(t, "Renew: lost", lost, []uuid.UUID{unknown, theirs.ID, finished.ID})
			for _, task := range mine {
				got := get(t, s, task.ID)
				wantLease(t, "a renewed row", got, "node-a", before, longLease)
				if prev := old[task.ID]; prev != nil {
					if !got.LeaseUntil.After(prev.LeaseUntil) {
						t.Errorf("Renew did not move the lease of %s later: %s, was %s", task.ID, fmtTime(got.LeaseUntil), fmtTime(prev.LeaseUntil))
					}
					wantTask(t, "a renewed row", got, held(prev, "node-a", got))
				}
			}
			wantRow(t, s, "a row another node holds, after Renew", gotTheirs)
			wantRow(t, s, "a finished row, after Renew", finished)
			if lost, err := c.Renew(t.Context(), store.RenewParams{Owner: "node-a", LeaseFor: longLease}); err != nil || len(lost) != 0 {
				t.Errorf("Renew of no ids = %v, %v; want nothing lost", lost, err)
			}
		}},
		{"RescueCountsAndPoisons", func(t tb, s store.Store) {
			c := clusterOf(s)
			now := storeNow(t, c)
			gone := now.Add(-time.Minute)
			first := leasedTask(1, now, "node-x", gone)
			last := leasedTask(2, now, "node-x", gone)
			last.RecoveryFailures = 1
			series := leasedTask(3, now, "node-x", gone)
			series.Recurring, series.RecoveryFailures, series.NextRunAt = true, 1, now.Add(time.Hour)
			series.LastExecutionAt, series.ExecutionTime, series.RunCount = now.Add(-2*time.Hour), time.Second, 9
			live := leasedTask(4, now, "node-live", now.Add(time.Hour))
			dead := leasedTask(5, now, "node-dead", now.Add(time.Hour))
			persist(t, s, first, last, series, live, dead)

			const poison = "poisoned: taken over too often"
			p := store.RescueParams{MaxFailures: 2, PoisonError: poison, Now: at(time.Hour)}
			wantFirst := released(first)
			wantFirst.Status, wantFirst.RecoveryFailures = store.StatusQueued, 1
			wantLast := released(last)
			wantLast.Status, wantLast.Error, wantLast.RecoveryFailures = store.StatusFailed, poison, 2
			wantSeries := released(series)
			wantSeries.Status, wantSeries.Error, wantSeries.RecoveryFailures, wantSeries.NextRunAt = store.StatusFailed, poison, 2, time.Time{}
			wantTasks(t, "Rescue", rescue(t, c, p), wantFirst, wantLast, wantSeries)
			wantRow(t, s, "a rescued row", wantFirst)
			wantRow(t, s, "a poisoned one-shot row", wantLast)
			wantRow(t, s, "a poisoned recurring row", wantSeries)
			wantRow(t, s, "a row with a live lease", live)
			wantRow(t, s, "a row with a live lease of a node nobody named", dead)
			wantStatusAudits(t, s, "a rescued row", first.ID, []store.StatusAudit{{At: at(time.Hour), Status: store.StatusQueued}})
			wantStatusAudits(t, s, "a poisoned row", last.ID, []store.StatusAudit{{At: at(time.Hour), Status: store.StatusFailed, Error: poison}})

			// A node proven gone: its rows are rescued whatever their lease.
			p.Owners, p.Now = []string{"node-dead", "node-unknown"}, at(2*time.Hour)
			wantDead := released(dead)
			wantDead.Status, wantDead.RecoveryFailures = store.StatusQueued, 1
			wantTasks(t, "Rescue of a gone node's rows", rescue(t, c, p), wantDead)
			wantRow(t, s, "a row with a live lease, after a rescue of another node", live)

			// Taken over a second time through the store's own lease: poisoned.
			got := claimOne(t, c, "node-a", shortLease, first.ID)
			waitPast(t, c, got.LeaseUntil)
			p.Owners, p.Now = nil, at(3*time.Hour)
			wantFirst.Status, wantFirst.Error, wantFirst.RecoveryFailures = store.StatusFailed, poison, 2
			wantTasks(t, "Rescue of a row rescued before", rescue(t, c, p), wantFirst)
			wantRow(t, s, "a row poisoned after its second take-over", wantFirst)
		}},
		{"RescueIsLimitedAndNeverPoisonsAtZero", func(t tb, s store.Store) {
			c := clusterOf(s)
			now := storeNow(t, c)
			var rows []*store.Task
			for i := range 5 {
				task := leasedTask(i+1, now, "node-x", now.Add(-time.Minute))
				task.RecoveryFailures = 5
				rows = append(rows, task)
			}
			persist(t, s, rows...)
			seen := map[uuid.UUID]bool{}
			for _, want := range []int{2, 2, 1, 0} {
				got := rescue(t, c, store.RescueParams{Limit: 2, Now: at(time.Hour), PoisonError: "poison"})
				if len(got) != want {
					t.Errorf("Rescue(limit 2) took %d rows, want %d", len(got), want)
				}
				for _, task := range got {
					if seen[task.ID] {
						t.Errorf("Rescue took row %s twice", task.ID)
					}
					seen[task.ID] = true
				}
			}
			for _, task := range rows {
				w := released(task)
				w.Status, w.RecoveryFailures = store.StatusQueued, 6
				wantRow(t, s, "a row rescued with MaxFailures 0 (never poison)", w)
			}
		}},
		{"NodesRegistry", func(t tb, s store.Store) {
			c := clusterOf(s)
			nodes := func() []store.Node {
				t.Helper()
				got, err := c.Nodes(t.Context())
				if err != nil {
					t.Fatalf("Nodes: %v", err)
				}
				return got
			}
			join := func(n store.Node) (time.Time, time.Time) {
				t.Helper()
				before := storeNow(t, c)
				if err := c.JoinCluster(t.Context(), n); err != nil {
					t.Fatalf("JoinCluster(%s): %v", n.ID, err)
				}
				t.Cleanup(func() { _ = c.LeaveCluster(context.Background(), n.ID) })
				return before, storeNow(t, c)
			}
			wantNode := func(what string, got, want store.Node, from, to time.Time) {
				t.Helper()
				if got.ID != want.ID || got.Host != want.Host || got.PID != want.PID || !sameTime(got.StartedAt, want.StartedAt) ||
					fmt.Sprint(got.Queues) != fmt.Sprint(want.Queues) || got.Gone {
					t.Errorf("%s: node = %+v, want %+v, not Gone", what, got, want)
				}
				if got.LastHeartbeat.Before(from) || got.LastHeartbeat.After(to) {
					t.Errorf("%s: node %s LastHeartbeat = %s, want the store's clock at JoinCluster, between %s and %s",
						what, got.ID, fmtTime(got.LastHeartbeat), fmtTime(from), fmtTime(to))
				}
			}
			if got := nodes(); len(got) != 0 {
				t.Errorf("Nodes of a fresh store = %+v, want none", got)
			}
			one := store.Node{ID: "node-1", Host: "host-a", PID: 4242, StartedAt: at(time.Second).In(elsewhere),
				Queues: map[string]int{"default": 4, "mail": 2}}
			two := store.Node{ID: "node-2", Host: "host-b", PID: 7, StartedAt: at(time.Minute), Queues: map[string]int{"default": 1}}
			from1, to1 := join(one)
			got := nodes()
			if len(got) != 1 {
				t.Fatalf("Nodes after one JoinCluster = %+v, want one node", got)
			}
			wantNode("after JoinCluster", got[0], one, from1, to1)
			firstBeat := got[0].LastHeartbeat
			got[0].Queues["mail"] = 99 // a copy: the store must not share it
			if again := nodes(); len(again) == 1 {
				wantNode("after the caller changed the returned Queues", again[0], one, from1, to1)
			}

			from2, to2 := join(two)
			one.Queues = map[string]int{"default": 8}
			fromAgain, toAgain := join(one)
			got = nodes()
			if len(got) != 2 {
				t.Fatalf("Nodes after two nodes joined = %+v, want two", got)
			}
			wantNode("the first node after its second JoinCluster", got[0], one, fromAgain, toAgain)
			wantNode("the second node", got[1], two, from2, to2)
			if got[0].LastHeartbeat.Before(firstBeat) {
				t.Errorf("a second JoinCluster moved LastHeartbeat back from %s to %s", fmtTime(firstBeat), fmtTime(got[0].LastHeartbeat))
			}

			if err := c.LeaveCluster(t.Context(), one.ID); err != nil {
				t.Fatalf("LeaveCluster: %v", err)
			}
			if got := nodes(); len(got) != 1 || got[0].ID != two.ID {
				t.Errorf("Nodes after the first node left = %+v, want only %s", got, two.ID)
			}
			for _, id := range []string{one.ID, "node-never-joined"} {
				if err := c.LeaveCluster(t.Context(), id); err != nil {
					t.Errorf("LeaveCluster(%s) of a node that is not registered: %v, want nil", id, err)
				}
			}
		}},
		{"InvalidParams", func(t tb, s store.Store) {
			c := clusterOf(s)
			now := storeNow(t, c)
			queued := dueTask(1, now)
			expired := leasedTask(2, now, "node-x", now.Add(-time.Minute))
			persist(t, s, queued, expired)
			good := claimParams("node-a", 1, longLease)
			for name, edit := range map[string]func(*store.ClaimParams){
				"no owner": func(p *store.ClaimParams) { p.Owner = "" },
				"no queue": func(p *store.ClaimParams) { p.Queue = "" },
				"limit 0":  func(p *store.ClaimParams) { p.Limit = 0 },
				"no lease": func(p *store.ClaimParams) { p.LeaseFor = 0 },
				"no time":  func(p *store.ClaimParams) { p.Now = time.Time{} },
			} {
				p := good
				edit(&p)
				res, err := c.Claim(t.Context(), p)
				wantErr(t, "Claim with "+name, err, store.ErrInvalid)
				if len(res.Tasks) != 0 {
					t.Errorf("Claim with %s took %v", name, ids(res.Tasks))
				}
			}
			for name, p := range map[string]store.RenewParams{
				"no owner": {IDs: []uuid.UUID{expired.ID}, LeaseFor: longLease},
				"no lease": {Owner: "node-x", IDs: []uuid.UUID{expired.ID}},
			} {
				_, err := c.Renew(t.Context(), p)
				wantErr(t, "Renew with "+name, err, store.ErrInvalid)
			}
			for name, p := range map[string]store.RescueParams{
				"a negative limit":        {Limit: -1, Now: at(time.Hour)},
				"a negative poison limit": {MaxFailures: -1, Now: at(time.Hour)},
				"no time":                 {},
			} {
				got, err := c.Rescue(t.Context(), p)
				wantErr(t, "Rescue with "+name, err, store.ErrInvalid)
				if len(got) != 0 {
					t.Errorf("Rescue with %s took %v", name, ids(got))
				}
			}
			for name, p := range map[string]store.TransitionParams{
				"a lease to Queued":       {ID: queued.ID, To: store.StatusQueued, Now: at(time.Hour), Lease: &store.Lease{Owner: "node-a", For: longLease}},
				"a lease without owner":   {ID: queued.ID, To: store.StatusInProgress, Now: at(time.Hour), Lease: &store.Lease{For: longLease}},
				"a lease without a time":  {ID: queued.ID, To: store.StatusInProgress, Now: at(time.Hour), Lease: &store.Lease{Owner: "node-a"}},
				"a negative lease length": {ID: queued.ID, To: store.StatusInProgress, Now: at(time.Hour), Lease: &store.Lease{Owner: "node-a", For: -time.Second}},
			} {
				_, err := s.Transition(t.Context(), p)
				wantErr(t, "Transition with "+name, err, store.ErrInvalid)
				if bs, ok := s.(store.BatchStore); ok {
					_, err := bs.TransitionMany(t.Context(), []store.TransitionParams{p})
					wantErr(t, "TransitionMany with "+name, err, store.ErrInvalid)
				}
			}
			wantUnchanged(t, s, "a due row after invalid calls", queued, 0)
			wantUnchanged(t, s, "a row with an expired lease after invalid calls", expired, 0)
		}},
		{"CancelledContextAndClosedStore", func(t tb, s store.Store) {
			c := clusterOf(s)
			now := storeNow(t, c)
			task := dueTask(1, now)
			persist(t, s, task)
			clusterCalls := func(ctx context.Context) map[string]error {
				out := map[string]error{}
				_, out["Now"] = c.Now(ctx)
				_, out["Claim"] = c.Claim(ctx, claimParams("node-a", 1, longLease))
				_, out["Renew"] = c.Renew(ctx, store.RenewParams{Owner: "node-a", IDs: []uuid.UUID{task.ID}, LeaseFor: longLease})
				_, out["Rescue"] = c.Rescue(ctx, store.RescueParams{Now: at(time.Hour)})
				out["JoinCluster"] = c.JoinCluster(ctx, store.Node{ID: "node-a", Host: "h", PID: 1, StartedAt: at(0)})
				_, out["Nodes"] = c.Nodes(ctx)
				out["LeaveCluster"] = c.LeaveCluster(ctx, "node-a")
				if n, ok := s.(store.Notifier); ok {
					out["Publish"] = n.Publish(ctx, []store.Notice{{Kind: store.NoticeDue, Queue: clusterQueue}})
					sub, err := n.Subscribe(ctx)
					out["Subscribe"] = err
					if err == nil {
						drainClosed(t, "Subscribe that returned no error", sub)
					}
				}
				return out
			}
			ctx, cancel := context.WithCancel(t.Context())
			cancel()
			for name, err := range clusterCalls(ctx) {
				if !errors.Is(err, context.Canceled) {
					t.Errorf("%s with a cancelled context: err = %v, want errors.Is(err, context.Canceled)", name, err)
				}
			}
			wantRow(t, s, "a due row after calls with a cancelled context", task)
			closer, ok := s.(interface{ Close() error })
			if !ok {
				return
			}
			if err := closer.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			for name, err := range clusterCalls(t.Context()) {
				if !errors.Is(err, store.ErrClosed) {
					t.Errorf("%s on a closed store: err = %v, want ErrClosed", name, err)
				}
			}
		}},
	}
}

// drainClosed reads sub until it closes, failing after 10s.
func drainClosed(t tb, what string, sub <-chan store.Notice) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case _, ok := <-sub:
			if !ok {
				return
			}
		case <-deadline:
			t.Errorf("%s: the channel did not close within 10s", what)
			return
		}
	}
}

func subscribe(t tb, n store.Notifier, ctx context.Context) <-chan store.Notice {
	t.Helper()
	sub, err := n.Subscribe(ctx)
	if err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	if sub == nil {
		t.Fatalf("Subscribe returned a nil channel")
	}
	return sub
}

func publish(t tb, n store.Notifier, notices ...store.Notice) {
	t.Helper()
	if err := n.Publish(t.Context(), notices); err != nil {
		t.Fatalf("Publish: %v", err)
	}
}

// receive reads notices from sub until every one of want arrived (in any
// order; other notices are skipped) or 10s passed.
func receive(t tb, what string, sub <-chan store.Notice, want ...store.Notice) {
	t.Helper()
	missing := slices.Clone(want)
	deadline := time.After(10 * time.Second)
	for len(missing) > 0 {
		select {
		case got, ok := <-sub:
			if !ok {
				t.Errorf("%s: the channel closed before %v arrived", what, missing)
				return
			}
			missing = slices.DeleteFunc(missing, func(w store.Notice) bool {
				return got.Kind == w.Kind && got.Queue == w.Queue && got.ID == w.ID && got.At.Equal(w.At)
			})
		case <-deadline:
			t.Errorf("%s: %v did not arrive within 10s", what, missing)
			return
		}
	}
}

func notifierChecks() []check {
	return []check{
		{"PublishReachesEverySubscriberIntact", func(t tb, s store.Store) {
			n := s.(store.Notifier)
			a := subscribe(t, n, t.Context())
			b := subscribe(t, n, t.Context())
			notices := []store.Notice{
				{Kind: store.NoticeDue, Queue: "mail", At: at(90 * time.Second).In(elsewhere)},
				{Kind: store.NoticeCancel, ID: tid(7)},
				{Kind: store.NoticeDue, Queue: "default"},
			}
			publish(t, n, notices...)
			receive(t, "the first subscriber", a, notices...)
			receive(t, "the second subscriber", b, notices...)
			if err := n.Publish(t.Context(), nil); err != nil {
				t.Errorf("Publish of no notices: %v", err)
			}
		}},
		{"ChannelClosesWhenContextEnds", func(t tb, s store.Store) {
			n := s.(store.Notifier)
			ctx, cancel := context.WithCancel(t.Context())
			ended := subscribe(t, n, ctx)
			stays := subscribe(t, n, t.Context())
			cancel()
			drainClosed(t, "a subscription whose context ended", ended)
			notice := store.Notice{Kind: store.NoticeCancel, ID: tid(1)}
			publish(t, n, notice)
			receive(t, "a subscription that stays", stays, notice)
		}},
		{"SlowReaderDoesNotBlock", func(t tb, s store.Store) {
			n := s.(store.Notifier)
			_ = subscribe(t, n, t.Context()) // never read
			// The publisher reports through done, not t: if it blocks, it
			// outlives the check.
			done := make(chan error, 1)
			go func() {
				batch := make([]store.Notice, 100)
				for i := range 10 {
					for j := range batch {
						batch[j] = store.Notice{Kind: store.NoticeDue, Queue: fmt.Sprint("q", i*100+j)}
					}
					if err := n.Publish(t.Context(), batch); err != nil {
						done <- err
						return
					}
				}
				done <- nil
			}()
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("Publish: %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("Publish of 1000 notices to a subscriber that never reads did not return within 10s")
			}
			// Delivery to others goes on. Notices are hints, so the marker
			// is published again until it arrives.
			reader := subscribe(t, n, t.Context())
			marker := store.Notice{Kind: store.NoticeCancel, ID: tid(42)}
			deadline := time.After(20 * time.Second)
			tick := time.NewTicker(200 * time.Millisecond)
			defer tick.Stop()
			publish(t, n, marker)
			for {
				select {
				case got, ok := <-reader:
					if !ok {
						t.Fatalf("a reading subscriber's channel closed")
					}
					if got.Kind == marker.Kind && got.ID == marker.ID {
						return
					}
				case <-tick.C:
					publish(t, n, marker)
				case <-deadline:
					t.Fatalf("after a flood, a reading subscriber got no notice within 20s")
				}
			}
		}},
	}
}
