package enginetest

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/evertask/evertask"
	"github.com/evertask/evertask/store"
)

// seed persists a row as a previous run would have left it.
func seed(t *testing.T, st store.Store, mutate func(*store.Task)) *store.Task {
	t.Helper()
	id, _ := uuid.NewV7()
	payload, _ := json.Marshal(Job{N: int(id[15])})
	row := &store.Task{
		ID: id, CreatedAt: time.Now().Add(-time.Minute), Kind: Job{}.Kind(), Payload: payload,
		Queue: evertask.DefaultQueue, Status: store.StatusQueued,
	}
	if mutate != nil {
		mutate(row)
	}
	if err := st.Persist(context.Background(), row); err != nil {
		t.Fatalf("seed: %v", err)
	}
	return row
}

func testRecovery(t *testing.T, newStore NewStore) {
	t.Run("RunsWhatWasLeftAndNothingElse", func(t *testing.T) {
		t.Parallel()
		st := newStore(t)
		var runnable []uuid.UUID
		for _, s := range []store.Status{store.StatusWaitingQueue, store.StatusQueued, store.StatusInProgress, store.StatusServiceStopped, store.StatusPending} {
			runnable = append(runnable, seed(t, st, func(r *store.Task) { r.Status = s }).ID)
		}
		finished := map[uuid.UUID]store.Status{}
		for _, s := range []store.Status{store.StatusCompleted, store.StatusFailed, store.StatusCancelled} {
			finished[seed(t, st, func(r *store.Task) { r.Status = s }).ID] = s
		}
		future := seed(t, st, func(r *store.Task) {
			r.Status = store.StatusWaitingQueue
			r.ScheduledAt = time.Now().Add(200 * time.Millisecond)
		})
		f := setupOn(t, st, nil, nil, nil).start()
		for _, id := range runnable {
			f.waitStatus(id, store.StatusCompleted)
		}
		f.waitStatus(future.ID, store.StatusCompleted)
		for id, s := range finished {
			if row := f.get(id); row.Status != s {
				t.Errorf("finished row %s became %s (resurrected: bug 8)", s, row.Status)
			}
		}
		if got := f.rec.totalCalls(); got != len(runnable)+1 {
			t.Errorf("handler ran %d times, want %d", got, len(runnable)+1)
		}
	})
	t.Run("KeepsAuditLevel", func(t *testing.T) {
		t.Parallel()
		st := newStore(t)
		row := seed(t, st, func(r *store.Task) { r.AuditLevel = store.AuditNone })
		f := setupOn(t, st, nil, nil, nil).start()
		f.waitStatus(row.ID, store.StatusCompleted)
		if a := f.statusAudits(row.ID); len(a) != 0 {
			t.Errorf("recovered task at audit None wrote %v (bug 11)", a)
		}
	})
	t.Run("PoisonsUnknownKindAtOnce", func(t *testing.T) {
		t.Parallel()
		st := newStore(t)
		row := seed(t, st, func(r *store.Task) { r.Kind = "enginetest.gone" })
		f := setupOn(t, st, nil, nil, nil).start()
		got := f.waitStatus(row.ID, store.StatusFailed)
		if !strings.Contains(got.Error, "enginetest.gone") {
			t.Errorf("poison reason %q does not name the kind", got.Error)
		}
	})
	t.Run("BadPayloadGetsBoundedRetries", func(t *testing.T) {
		t.Parallel()
		st := newStore(t)
		row := seed(t, st, func(r *store.Task) { r.Payload = []byte(`{"n":"not a number"}`) })
		if _, ok := st.(store.Cluster); ok {
			// In a cluster the claim that cannot decode is left to expire:
			// each rescue counts one failure, a lease apart, and the limit
			// poisons the row, without waiting for restarts.
			cc := fastCluster("")
			cc.LeaseDuration = 600 * time.Millisecond // each failure waits out one lease
			cfg := &evertask.Config{MaxRecoveryFailures: 3, Cluster: cc}
			f := setupOn(t, st, cfg, nil, nil).start()
			got := f.waitStatus(row.ID, store.StatusFailed)
			if got.RecoveryFailures != 3 || !strings.Contains(got.Error, "poisoned") {
				t.Errorf("poisoned row: %d failures, error %q; want 3 and the reason", got.RecoveryFailures, got.Error)
			}
			if f.rec.totalCalls() != 0 {
				t.Errorf("the handler ran %d times on an unreadable payload", f.rec.totalCalls())
			}
			return
		}
		if _, ok := st.(store.RecoveryCounter); !ok {
			// The count then lives in the engine's memory: each start
			// begins at 0, so failures across restarts are not bounded.
			t.Skipf("%T is not a store.RecoveryCounter: the poison count does not outlive an engine", st)
		}
		for start := 1; start <= 3; start++ {
			f := setupOn(t, st, &evertask.Config{MaxRecoveryFailures: 3}, nil, nil).start()
			if start < 3 {
				waitFor(t, 5*time.Second, "failure counted", func() bool { return f.get(row.ID).RecoveryFailures >= start || !f.get(row.ID).Recoverable(time.Now()) })
				if got := f.get(row.ID); got.Status != store.StatusQueued {
					t.Fatalf("after start %d: %s, want still Queued (bug 15)", start, got.Status)
				}
			} else {
				f.waitStatus(row.ID, store.StatusFailed)
			}
			_ = f.eng.Shutdown(context.Background())
		}
	})
	t.Run("CancelOfAClaimedRecoveredTaskHolds", func(t *testing.T) {
		t.Parallel()
		// At audit None recovery claims rows (InProgress) as it queues them;
		// a cancel while such a task waits in the queue must still win.
		f, rows, release := recoverBehindStuckTask(t, newStore(t), store.AuditNone)
		last := rows[2].ID
		_, cluster := f.store.(store.Cluster)
		if got := f.get(last).Status; got != store.StatusInProgress && !cluster {
			// (A cluster node claims only what its workers and prefetch
			// hold: the third row may still be Queued.)
			t.Fatalf("a queued recovered task at audit None is %s, want InProgress (claimed)", got)
		}
		if err := f.eng.Cancel(context.Background(), last); err != nil {
			t.Fatal(err)
		}
		close(release)
		f.waitStatus(rows[1].ID, store.StatusCompleted)
		never(t, 100*time.Millisecond, "the cancelled task ran", func() bool { return f.rec.totalCalls() > 2 })
		if got := f.get(last).Status; got != store.StatusCancelled {
			t.Errorf("cancelled task is %s", got)
		}
	})
	t.Run("QueuedRowFinishedBeforeItsClaimIsNotRun", func(t *testing.T) {
		t.Parallel()
		// A row recovery finds Queued is delivered without a write; the
		// worker's claim is then the check that it did not finish meanwhile
		// (bug 8): here another process completes it while it waits.
		st := newStore(t)
		if _, ok := st.(store.Cluster); ok {
			t.Skip("a cluster node claims the rows it buffers, so no other process can finish one meanwhile; the fence that refuses such writes is checked by storetest's Cluster group")
		}
		f, rows, release := recoverBehindStuckTask(t, st, store.AuditFull)
		last := rows[2].ID
		applied, err := f.store.Transition(context.Background(), store.TransitionParams{
			ID: last, To: store.StatusCompleted, From: []store.Status{store.StatusQueued}, Now: time.Now(),
			AuditLevel: store.AuditFull,
		})
		if err != nil || !applied {
			t.Fatalf("complete the waiting row elsewhere: applied %v, %v", applied, err)
		}
		close(release)
		f.waitStatus(rows[1].ID, store.StatusCompleted)
		never(t, 100*time.Millisecond, "the row finished elsewhere ran", func() bool { return f.rec.totalCalls() > 2 })
		// The audit trail of a recovered Queued row: no second Queued.
		want := []store.Status{store.StatusInProgress, store.StatusCompleted}
		if got := f.statusAudits(rows[1].ID); !slices.Equal(got, want) {
			t.Errorf("status audits of a recovered Queued task: %v, want %v", got, want)
		}
	})
	t.Run("WedgedQueueDoesNotStarveOthers", func(t *testing.T) {
		t.Parallel()
		st := newStore(t)
		release := make(chan struct{})
		defer close(release)
		// Created first, so recovery meets the slow queue's rows first.
		for range 30 {
			seed(t, st, func(r *store.Task) { r.Queue = "slow" })
		}
		var fast []uuid.UUID
		for range 30 {
			fast = append(fast, seed(t, st, nil).ID)
		}
		f := setupOn(t, st, &evertask.Config{
			RecoveryPageSize: 5,
			Queues:           []evertask.QueueConfig{{Name: "slow", Workers: 1, Capacity: 1}},
		}, nil, nil)
		blockingQueue(f, release) // the slow queue's only worker is stuck
		f.start()
		for _, id := range fast {
			f.waitStatus(id, store.StatusCompleted)
		}
	})
}

// recoverBehindStuckTask seeds three Queued rows at level on queue "slow"
// (one worker) and starts an engine on st: it returns once recovery
// delivered them and the first is running, stuck until release closes, so
// the other two wait in the queue.
func recoverBehindStuckTask(t *testing.T, st store.Store, level store.AuditLevel) (*fixture, []*store.Task, chan struct{}) {
	t.Helper()
	release := make(chan struct{})
	var rows []*store.Task
	for range 3 {
		rows = append(rows, seed(t, st, func(r *store.Task) { r.Queue, r.AuditLevel = "slow", level }))
	}
	f := setupOn(t, st, &evertask.Config{
		Queues: []evertask.QueueConfig{{Name: "slow", Workers: 1, Capacity: 5}},
	}, nil, nil)
	blockingQueue(f, release)
	f.start()
	waitFor(t, 5*time.Second, "the first task to run", func() bool { return f.rec.totalCalls() == 1 })
	return f, rows, release
}

// blockingQueue makes every execution on queue "slow" block until release
// closes, by wrapping the fixture's recorder.
func blockingQueue(f *fixture, release chan struct{}) {
	inner := f.rec.run
	f.rec.run = func(ctx context.Context, j Job) error {
		row, err := f.store.Get(context.Background(), evertask.TaskID(ctx))
		if err == nil && row.Queue == "slow" {
			select {
			case <-release:
			case <-ctx.Done():
			}
		}
		return inner(ctx, j)
	}
}

func testRecoveryBacklog(t *testing.T, newStore NewStore) {
	// A backlog far larger than the queue buffer must not deadlock startup
	// (bug 1), and every row runs exactly once.
	st := newStore(t)
	const n = 2000
	rows := make([]*store.Task, n)
	base := time.Now().Add(-time.Hour)
	for i := range rows {
		id, _ := uuid.NewV7()
		rows[i] = &store.Task{
			ID: id, CreatedAt: base.Add(time.Duration(i/10) * time.Millisecond), Kind: Job{}.Kind(),
			Payload: []byte(`{"n":` + itoa(i) + `}`), Queue: evertask.DefaultQueue, Status: store.StatusQueued,
			AuditLevel: store.AuditNone,
		}
	}
	if err := store.PersistMany(context.Background(), st, rows); err != nil {
		t.Fatal(err)
	}
	f := setupOn(t, st, &evertask.Config{Workers: 2, Capacity: 10, RecoveryPageSize: 50}, nil, nil).start()
	waitFor(t, 60*time.Second, "the backlog to drain", func() bool { return f.rec.totalCalls() >= n })
	for i := range n {
		if c := f.rec.callsOf(i); c != 1 {
			t.Fatalf("task %d ran %d times, want 1", i, c)
		}
	}
	var counts map[store.Status]int
	waitFor(t, 10*time.Second, "all completed", func() bool {
		counts, _ = store.CountByStatus(context.Background(), st, store.CountParams{})
		return counts[store.StatusCompleted] == n
	})
}

func itoa(i int) string {
	b, _ := json.Marshal(i)
	return string(b)
}
