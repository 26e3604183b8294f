package memstore

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/evertask/evertask/store"
	"github.com/google/uuid"
)

var testOwners = []string{"node-1", "node-2"}

// modelLease is the lease length of the cluster operations: far longer than
// a run, so a lease the store gave never expires during one.
const modelLease = time.Hour

// clusterOrder is the order Claim takes rows in: (DueAt, CreatedAt, ID).
func clusterOrder(a, b *store.Task) int {
	if c := a.DueAt().Compare(b.DueAt()); c != 0 {
		return c
	}
	switch {
	case store.CursorOf(a).Less(store.CursorOf(b)):
		return -1
	case store.CursorOf(b).Less(store.CursorOf(a)):
		return 1
	}
	return 0
}

// readLease copies the lease the store gave a row into the model, after
// checking it is the store's clock plus the lease's length.
func (mr *modelRun) readLease(id uuid.UUID, from, to time.Time) {
	mr.t.Helper()
	got, err := mr.s.Get(mr.ctx, id)
	if err != nil {
		mr.t.Fatalf("get %s: %v", id, err)
	}
	if got.LeaseUntil.Before(store.NormalizeTime(from.Add(modelLease))) || got.LeaseUntil.After(to.Add(modelLease)) {
		mr.t.Fatalf("lease of %s until %s, want the clock between %s and %s plus %s", id, got.LeaseUntil, from, to, modelLease)
	}
	mr.m.rows[id].LeaseUntil = got.LeaseUntil
}

// stepCluster does one random Cluster operation on both and compares the
// outcomes. The model computes Claim at the StoreNow the claim returns;
// the other operations read the clock themselves, which is safe because
// no time of the run is near it (see TestClusterIndexesMatchFullScan).
func (mr *modelRun) stepCluster() {
	t, s, ctx := mr.t, mr.s, mr.ctx
	t.Helper()
	owner := testOwners[mr.rng.IntN(len(testOwners))]
	switch mr.rng.IntN(5) {
	case 0: // Claim
		p := store.ClaimParams{Owner: owner, Queue: testQueues[mr.rng.IntN(len(testQueues))],
			Limit: 1 + mr.rng.IntN(4), LeaseFor: modelLease, Now: mr.time()}
		res, err := s.Claim(ctx, p)
		if err != nil {
			t.Fatalf("claim: %v", err)
		}
		now := res.StoreNow
		var due []*store.Task
		var next time.Time
		for _, r := range mr.m.rows {
			switch {
			case r.Queue != p.Queue || !r.Claimable(now):
			case r.DueAt().After(now):
				if next.IsZero() || r.DueAt().Before(next) {
					next = r.DueAt()
				}
			default:
				due = append(due, r)
			}
		}
		slices.SortFunc(due, clusterOrder)
		due = due[:min(len(due), p.Limit)]
		if !slices.Equal(ids(res.Tasks), ids(due)) || !res.NextDue.Equal(next) {
			t.Fatalf("claim %+v at %s = %v next %s;\nwant %v next %s", p, now, ids(res.Tasks), res.NextDue, ids(due), next)
		}
		for i, r := range due {
			r.Status, r.Owner, r.LeaseUntil = store.StatusInProgress, p.Owner, store.NormalizeTime(now.Add(p.LeaseFor))
			if !reflect.DeepEqual(res.Tasks[i], r) {
				t.Fatalf("claimed %+v, want %+v", res.Tasks[i], r)
			}
		}
	case 1: // Rescue
		p := store.RescueParams{Limit: mr.rng.IntN(4), MaxFailures: mr.rng.IntN(3), PoisonError: "poison", Now: mr.time()}
		if mr.rng.IntN(3) == 0 {
			p.Owners = []string{owner}
		}
		got, err := s.Rescue(ctx, p)
		if err != nil {
			t.Fatalf("rescue: %v", err)
		}
		now := time.Now()
		limit := p.Limit
		if limit == 0 {
			limit = store.DefaultPendingLimit
		}
		var want []*store.Task
		for _, r := range mr.m.sorted() {
			if len(want) < limit && r.Status == store.StatusInProgress && (!r.LeaseLive(now) || slices.Contains(p.Owners, r.Owner)) {
				want = append(want, r)
			}
		}
		if !slices.Equal(ids(got), ids(want)) {
			t.Fatalf("rescue %+v = %v, want %v", p, ids(got), ids(want))
		}
		for i, r := range want {
			r.RecoveryFailures++
			r.Owner, r.LeaseUntil = "", time.Time{}
			r.Status = store.StatusQueued
			if p.MaxFailures > 0 && r.RecoveryFailures >= p.MaxFailures {
				r.Status, r.Error = store.StatusFailed, p.PoisonError
				if r.Recurring {
					r.NextRunAt = time.Time{}
				}
			}
			if !reflect.DeepEqual(got[i], r) {
				t.Fatalf("rescued %+v, want %+v", got[i], r)
			}
		}
	case 2: // Renew
		p := store.RenewParams{Owner: owner, LeaseFor: modelLease}
		for range 1 + mr.rng.IntN(4) {
			p.IDs = append(p.IDs, mr.id())
		}
		from := time.Now()
		lost, err := s.Renew(ctx, p)
		to := time.Now()
		if err != nil {
			t.Fatalf("renew: %v", err)
		}
		var want []uuid.UUID
		for _, id := range p.IDs {
			if r := mr.m.rows[id]; r == nil || !r.Holds(owner, from) {
				want = append(want, id)
			}
		}
		if !slices.Equal(lost, want) {
			t.Fatalf("renew %+v lost %v, want %v", p, lost, want)
		}
		for _, id := range p.IDs {
			if !slices.Contains(lost, id) {
				mr.readLease(id, from, to)
			}
		}
	case 3: // a Transition fenced or with a lease
		p := mr.transitionParams()
		if mr.rng.IntN(2) == 0 {
			p.HeldBy = owner
		}
		if mr.rng.IntN(2) == 0 {
			p.To = store.StatusInProgress
			p.Lease = &store.Lease{Owner: owner, For: modelLease}
		}
		from := time.Now()
		got, err := s.Transition(ctx, p)
		to := time.Now()
		if mr.m.rows[p.ID] == nil {
			if !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("transition of missing row: %v", err)
			}
			return
		}
		if want := mr.modelTransition(p); got != want || err != nil {
			t.Fatalf("transition %+v = %v, %v; want %v", p, got, err, want)
		}
		if got && p.Lease != nil {
			mr.readLease(p.ID, from, to)
		}
	case 4: // a row moves to another queue or due time (the indexes move it)
		rows := mr.m.sorted()
		if len(rows) == 0 {
			return
		}
		def := rows[mr.rng.IntN(len(rows))].Clone()
		def.Queue = testQueues[mr.rng.IntN(len(testQueues))]
		if mr.rng.IntN(2) == 0 {
			def.ScheduledAt, def.NextRunAt = mr.maybeTime(), mr.maybeTime()
		}
		if err := s.UpdateDefinition(ctx, def); err != nil {
			t.Fatalf("update definition: %v", err)
		}
		store.ApplyDefinition(mr.m.rows[def.ID], def)
	}
}

// TestClusterIndexesMatchFullScan is TestIndexesMatchFullScan with the
// Cluster operations mixed in, so the due trees and the InProgress index
// are checked against the model through every kind of write: Claim and
// Rescue answer from them, and the model from a full scan. Rows take one of
// 8 times 5 minutes apart around the clock, 150s away from it at the start,
// so some rows are due, some not, some RunUntil passed, and many tie. A run
// on a machine so slow that the clock comes near one of them stops early.
func TestClusterIndexesMatchFullScan(t *testing.T) {
	t.Parallel()
	for seed := range uint64(8) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			mr := &modelRun{
				t: t, rng: rand.New(rand.NewPCG(seed, 11)), s: New(), m: model{rows: map[uuid.UUID]*store.Task{}},
				base: start.Add(-20*time.Minute + 150*time.Second), ctx: context.Background(),
				spots: 8, unit: 5 * time.Minute, cluster: true,
			}
			// Half the runs build the indexes at once, half on the first
			// Claim or Rescue, over the rows written before.
			if seed%2 == 0 {
				if _, err := mr.s.Rescue(mr.ctx, store.RescueParams{Now: mr.base}); err != nil {
					t.Fatal(err)
				}
			}
			// A backlog, so claims find many due rows, tied on DueAt.
			for range 60 {
				task := mr.task()
				task.Key = ""
				if err := mr.s.Persist(mr.ctx, task); err != nil {
					t.Fatal(err)
				}
				mr.m.rows[task.ID] = task.Normalize()
			}
			for i := range 600 {
				if time.Since(start) > 2*time.Minute {
					t.Logf("stopped after %d steps: the clock comes near the times of the run", i)
					break
				}
				mr.step()
				mr.check()
			}
		})
	}
}

// TestClusterIndexesStayOffUntilUsed: the single-process engine never
// claims, so its writes must not maintain the claim indexes.
func TestClusterIndexesStayOffUntilUsed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := New()
	task := &store.Task{ID: uuid.Must(uuid.NewV7()), CreatedAt: time.Now(), Kind: "k", Queue: "q", Status: store.StatusQueued}
	if err := s.Persist(ctx, task); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Transition(ctx, store.TransitionParams{ID: task.ID, To: store.StatusInProgress, Now: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if s.cluster || s.held.len() != 0 || s.queues["q"].due != nil {
		t.Fatalf("cluster indexes built without a Claim or Rescue")
	}
	if _, err := s.Rescue(ctx, store.RescueParams{Now: time.Now(), Limit: 1}); err != nil {
		t.Fatal(err)
	}
	if !s.cluster {
		t.Fatalf("Rescue did not build the cluster indexes")
	}
}

// TestTransitionAllocatesNothingMore: a transition without the lease fields
// costs what it did before cluster mode, nothing on the heap.
func TestTransitionAllocatesNothingMore(t *testing.T) {
	ctx := context.Background()
	s := New()
	task := &store.Task{ID: uuid.Must(uuid.NewV7()), CreatedAt: time.Now(), Kind: "k", Queue: "q", Status: store.StatusQueued}
	if err := s.Persist(ctx, task); err != nil {
		t.Fatal(err)
	}
	p := []store.TransitionParams{
		{ID: task.ID, To: store.StatusInProgress, From: []store.Status{store.StatusQueued}, Now: time.Now(), AuditLevel: store.AuditNone},
		{ID: task.ID, To: store.StatusQueued, IfRecoverable: true, Now: time.Now(), AuditLevel: store.AuditNone},
	}
	i := 0
	if n := testing.AllocsPerRun(1000, func() {
		if ok, err := s.Transition(ctx, p[i%2]); !ok || err != nil {
			t.Fatalf("transition: %v, %v", ok, err)
		}
		i++
	}); n != 0 {
		t.Errorf("Transition allocates %.1f times per call, want 0", n)
	}
}
