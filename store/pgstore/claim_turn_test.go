package pgstore

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/evertask/evertask/store"
)

// TestClaimTakesTurns checks that a claim of a node with peers waits for
// its turn on the queue (claimInTurn) while another transaction holds it,
// and that one whose turn does not come within claimTurnWait claims
// without it: it still returns the due rows, and no other claim holding
// the turn can take them; the claims after it skip turns for a while.
func TestClaimTakesTurns(t *testing.T) {
	ctx := t.Context()
	s, pool, schema := schemaStore(t, "et_claimturn_")
	tasks, now := dueTasks(t, s, 8)
	claim := func(owner string, alone bool) (store.ClaimResult, time.Duration) {
		t.Helper()
		began := time.Now()
		// Bounded: a claim that waits for its turn for ever fails here.
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		res, err := s.Claim(ctx, store.ClaimParams{Owner: owner, Queue: "q", Limit: 2, LeaseFor: time.Minute, Now: now, Alone: alone})
		if err != nil {
			t.Fatalf("claim of %s: %v", owner, err)
		}
		return res, time.Since(began)
	}

	// Free turns: no wait.
	if res, took := claim("n1", false); len(res.Tasks) != 2 || took > claimTurnWait {
		t.Fatalf("claim with a free turn: %d rows in %v, want 2 at once", len(res.Tasks), took)
	}

	// The turn held by another transaction (a claim whose node is slow to
	// read its rows): the claim waits claimTurnWait, then claims anyway.
	holder, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Rollback(ctx) //nolint:errcheck
	if _, err := holder.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", queueLockKey(schema, "q")); err != nil {
		t.Fatal(err)
	}
	res, took := claim("n2", false)
	if len(res.Tasks) != 2 {
		t.Fatalf("claim while the turn is held: %d rows, want 2", len(res.Tasks))
	}
	if took < claimTurnWait {
		t.Errorf("claim while the turn is held took %v: it did not wait for its turn (%v)", took, claimTurnWait)
	}
	if took > 10*claimTurnWait {
		t.Errorf("claim while the turn is held took %v: it waited past its turn's wait (%v)", took, claimTurnWait)
	}

	// The next claims take no turns for a while: they do not each wait
	// for the stuck one.
	if res, took := claim("n3", false); len(res.Tasks) != 2 || took > claimTurnWait {
		t.Errorf("claim after a turn that did not come: %d rows in %v, want 2 at once", len(res.Tasks), took)
	}
	// The turn is not the queue's only guard: a lone node's claim takes
	// none and still never shares a row with the others.
	if res, took := claim("n5", true); len(res.Tasks) != 2 || took > claimTurnWait {
		t.Errorf("lone claim while the turn is held: %d rows in %v, want 2 at once", len(res.Tasks), took)
	}
	if err := holder.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if res, _ := claim("n4", false); len(res.Tasks) != 0 {
		t.Errorf("claim of an empty queue: %d rows", len(res.Tasks))
	}
	owners := map[string]int{}
	for _, task := range tasks {
		got, err := s.Get(ctx, task.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != store.StatusInProgress {
			t.Errorf("task %s is %s, want InProgress", got.ID, got.Status)
		}
		owners[got.Owner]++
	}
	for _, o := range []string{"n1", "n2", "n3", "n5"} {
		if owners[o] != 2 {
			t.Errorf("rows per owner %v, want 2 each for n1, n2, n3 and n5", owners)
			break
		}
	}
}

// TestClaimKindsNeverShareARow runs the three kinds of claim at once on one
// queue: in turns, without turns (FOR UPDATE SKIP LOCKED, a Store whose
// turns are paused) and alone (no row locks, no turn). Only the claim's
// update (it reaches the row version its claim read, and re-checks it)
// keeps a claim in its turn from taking a row a claim of another kind took
// in the meantime: every row must be claimed exactly once. (With the update
// by id and no re-check, rows were claimed twice in each of 3 runs.)
func TestClaimKindsNeverShareARow(t *testing.T) {
	ctx := t.Context()
	inTurns, pool, schema := schemaStore(t, "et_claimkinds_")
	skipping, err := New(ctx, pool, &Opts{Schema: schema, SkipMigrations: true})
	if err != nil {
		t.Fatal(err)
	}
	skipping.noTurnsUntil.Store(time.Now().Add(time.Hour).UnixNano())
	const rows = 600
	_, now := dueTasks(t, inTurns, rows)
	var (
		mu    sync.Mutex
		seen  = map[uuid.UUID]string{}
		dupes []string
		wg    sync.WaitGroup
	)
	deadline := time.Now().Add(20 * time.Second)
	for c := range 24 {
		wg.Go(func() {
			owner := fmt.Sprintf("n%d", c)
			s, alone := inTurns, false
			switch c % 3 {
			case 1:
				s = skipping
			case 2:
				alone = true
			}
			for time.Now().Before(deadline) {
				res, err := s.Claim(ctx, store.ClaimParams{Owner: owner, Queue: "q", Limit: 5, LeaseFor: time.Minute, Now: now, Alone: alone})
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				for _, task := range res.Tasks {
					if prev, ok := seen[task.ID]; ok {
						dupes = append(dupes, fmt.Sprintf("%s by %s and %s", task.ID, prev, owner))
					}
					seen[task.ID] = owner
				}
				done := len(seen) == rows
				mu.Unlock()
				if done {
					return
				}
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

// dueTasks persists n Queued rows of queue "q", created an hour before the
// store's clock a microsecond apart, and returns them with that clock.
func dueTasks(t *testing.T, s *Store, n int) ([]*store.Task, time.Time) {
	t.Helper()
	now, err := s.Now(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	tasks := make([]*store.Task, n)
	for i := range tasks {
		tasks[i] = &store.Task{
			ID: uuid.Must(uuid.NewV7()), CreatedAt: now.Add(-time.Hour + time.Duration(i)*time.Microsecond),
			Kind: "claim.Task", Payload: []byte(`{}`), Handler: "claim.Handler", Queue: "q",
			Status: store.StatusQueued,
		}
	}
	if err := s.PersistMany(t.Context(), tasks); err != nil {
		t.Fatal(err)
	}
	return tasks, now
}
