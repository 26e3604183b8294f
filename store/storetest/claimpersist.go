package storetest

import (
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/evertask/evertask/store"
)

// The checks of store.ClaimingPersister, run in the Cluster group by stores
// that implement it.

func claimingOf(t tb, s store.Store) store.ClaimingPersister {
	t.Helper()
	cp, ok := s.(store.ClaimingPersister)
	if !ok {
		t.Skipf("%T does not implement store.ClaimingPersister: the engine persists, then claims", s)
	}
	return cp
}

func persistClaimed(t tb, cp store.ClaimingPersister, owner string, lease time.Duration, tasks ...*store.Task) {
	t.Helper()
	if err := cp.PersistClaimed(t.Context(), store.PersistClaimedParams{Tasks: tasks, Owner: owner, LeaseFor: lease, Now: at(time.Hour)}); err != nil {
		t.Fatalf("PersistClaimed(%d tasks): %v", len(tasks), err)
	}
}

func claimingPersisterChecks() []check {
	return []check{
		{"PersistClaimedWritesRowsClaimedWithTheirAudits", func(t tb, s store.Store) {
			cp := claimingOf(t, s)
			c := clusterOf(s)
			before := storeNow(t, c)
			var tasks []*store.Task
			for i, level := range []store.AuditLevel{store.AuditFull, store.AuditMinimal, store.AuditErrorsOnly, store.AuditNone} {
				waiting, queued := dueTask(10*i+1, before), dueTask(10*i+2, before)
				waiting.Status = store.StatusWaitingQueue
				waiting.AuditLevel, queued.AuditLevel = level, level
				waiting.Key = fmt.Sprint("claimed-key-", i)
				waiting.Metadata = map[string]string{"tenant": "a"}
				tasks = append(tasks, waiting, queued)
			}
			persistClaimed(t, cp, "node-a", longLease, tasks...)
			// A call none of whose rows is audited (a store may write it
			// without its audit step).
			bare := []*store.Task{dueTask(91, before), dueTask(92, before)}
			bare[0].Status = store.StatusWaitingQueue
			for _, task := range bare {
				task.AuditLevel = store.AuditNone
			}
			persistClaimed(t, cp, "node-a", longLease, bare...)
			tasks = append(tasks, bare...)
			after := storeNow(t, c)
			for _, task := range tasks {
				what := fmt.Sprintf("a %s row persisted claimed at %s", task.Status, task.AuditLevel)
				got := get(t, s, task.ID)
				wantLease(t, what, got, "node-a", before, longLease)
				if got.LeaseUntil.After(after.Add(longLease)) {
					t.Errorf("%s: LeaseUntil %s is past the store's clock after the call (%s) plus the lease", what, fmtTime(got.LeaseUntil), fmtTime(after))
				}
				wantTask(t, what, got, held(task.Normalize(), "node-a", got))
				var want []store.StatusAudit
				audits := store.ClaimedAudits(task.AuditLevel, task.Status)
				for i := len(audits) - 1; i >= 0; i-- { // newest first
					want = append(want, store.StatusAudit{At: at(time.Hour), Status: audits[i]})
				}
				wantStatusAudits(t, s, what, task.ID, want)
				if task.Status != store.StatusQueued && task.AuditLevel == store.AuditFull && len(want) != 2 {
					t.Errorf("%s: ClaimedAudits = %v, want Queued then InProgress", what, audits)
				}
			}
			// Held: no claim takes them, no rescue before the lease ends, and
			// the owner's fence and renewal hold.
			if res := claim(t, c, claimParams("node-b", 100, longLease)); len(res.Tasks) != 0 {
				t.Errorf("a claim took %v, rows persisted claimed by another node under a live lease", ids(res.Tasks))
			}
			if got := rescue(t, c, store.RescueParams{Now: at(time.Hour)}); len(got) != 0 {
				t.Errorf("a rescue took %v, rows persisted claimed under a live lease", ids(got))
			}
			lost, err := c.Renew(t.Context(), store.RenewParams{Owner: "node-a", IDs: ids(tasks), LeaseFor: longLease})
			if err != nil || len(lost) != 0 {
				t.Errorf("Renew of the rows persisted claimed = %v, %v; want every lease held", lost, err)
			}
			if !transition(t, s, store.TransitionParams{ID: tasks[0].ID, To: store.StatusCompleted, From: []store.Status{store.StatusInProgress},
				HeldBy: "node-a", Now: at(2 * time.Hour), AuditLevel: tasks[0].AuditLevel}) {
				t.Errorf("the owner's fenced outcome of a row persisted claimed did not apply")
			}
			if transition(t, s, store.TransitionParams{ID: tasks[1].ID, To: store.StatusCompleted, From: []store.Status{store.StatusInProgress},
				HeldBy: "node-b", Now: at(2 * time.Hour), AuditLevel: tasks[1].AuditLevel}) {
				t.Errorf("another node's fenced outcome of a row persisted claimed applied")
			}
		}},
		{"PersistClaimedLeaseExpiresAndIsRescued", func(t tb, s store.Store) {
			cp := claimingOf(t, s)
			c := clusterOf(s)
			now := storeNow(t, c)
			task := dueTask(1, now)
			persistClaimed(t, cp, "node-a", shortLease, task)
			got := get(t, s, task.ID)
			waitPast(t, c, got.LeaseUntil)
			rescued := rescue(t, c, store.RescueParams{Now: at(2 * time.Hour)})
			wantSameIDs(t, "a rescue after the lease of a row persisted claimed ran out", ids(rescued), []uuid.UUID{task.ID})
			if lost, err := c.Renew(t.Context(), store.RenewParams{Owner: "node-a", IDs: []uuid.UUID{task.ID}, LeaseFor: longLease}); err != nil || len(lost) != 1 {
				t.Errorf("Renew after the rescue = %v, %v; want the lease lost", lost, err)
			}
			res := claim(t, c, claimParams("node-b", 10, longLease))
			wantSameIDs(t, "a claim after the rescue", ids(res.Tasks), []uuid.UUID{task.ID})
		}},
		{"PersistClaimedKeysAndIDsAsPersist", func(t tb, s store.Store) {
			cp := claimingOf(t, s)
			c := clusterOf(s)
			now := storeNow(t, c)
			holder := dueTask(1, now)
			holder.Key = "held"
			persist(t, s, holder)
			call := func(tasks ...*store.Task) error {
				return cp.PersistClaimed(t.Context(), store.PersistClaimedParams{Tasks: tasks, Owner: "node-a", LeaseFor: longLease, Now: at(time.Hour)})
			}
			fresh, clash := dueTask(2, now), dueTask(3, now)
			clash.Key = "held"
			wantErr(t, "PersistClaimed with a key a stored row holds", call(fresh, clash), store.ErrDuplicateKey)
			a, b := dueTask(4, now), dueTask(5, now)
			a.Key, b.Key = "twice", "twice"
			wantErr(t, "PersistClaimed with one key twice in the batch", call(a, b), store.ErrDuplicateKey)
			again := dueTask(6, now)
			again.ID = holder.ID
			wantErr(t, "PersistClaimed of an id that exists", call(fresh, again), store.ErrInvalid)
			for _, id := range []uuid.UUID{fresh.ID, clash.ID, a.ID, b.ID} {
				if _, err := s.Get(t.Context(), id); err == nil {
					t.Errorf("row %s was written by a PersistClaimed that failed: it must write all or nothing", id)
				}
				if got, err := s.StatusAudits(t.Context(), id); len(got) != 0 || err != nil && !errors.Is(err, store.ErrNotFound) {
					t.Errorf("row %s has audits %v (%v) from a PersistClaimed that failed", id, got, err)
				}
			}
			wantRow(t, s, "the key's holder", holder.Normalize())

			bad := func(what string, edit func(*store.PersistClaimedParams)) {
				p := store.PersistClaimedParams{Tasks: []*store.Task{dueTask(7, now)}, Owner: "node-a", LeaseFor: longLease, Now: at(time.Hour)}
				edit(&p)
				wantErr(t, "PersistClaimed "+what, cp.PersistClaimed(t.Context(), p), store.ErrInvalid)
			}
			bad("without an owner", func(p *store.PersistClaimedParams) { p.Owner = "" })
			bad("without a lease", func(p *store.PersistClaimedParams) { p.LeaseFor = 0 })
			bad("without a time", func(p *store.PersistClaimedParams) { p.Now = time.Time{} })
			bad("of an InProgress row", func(p *store.PersistClaimedParams) { p.Tasks[0].Status = store.StatusInProgress })
			bad("of a row with an owner", func(p *store.PersistClaimedParams) { p.Tasks[0].Owner = "node-b" })
			bad("of an invalid row", func(p *store.PersistClaimedParams) { p.Tasks[0].Kind = "" })
			if _, err := s.Get(t.Context(), tid(7)); err == nil {
				t.Errorf("an invalid PersistClaimed wrote its row")
			}
			wantRowCount(t, s, 1)
		}},
	}
}
