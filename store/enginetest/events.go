package enginetest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/evertask/evertask"
	"github.com/evertask/evertask/store"
)

// cancelRounds × cancelBatch running tasks are cancelled per store: the
// race between a Cancel's write and the stopped handler's own outcome is
// lost one way or the other many times over, and each batch runs at once.
const (
	cancelRounds = 4
	cancelBatch  = 50
)

// testEventsExactlyOnce checks that every lifecycle transition is
// announced exactly once, on the engine whose write made it (see
// evertask.Event), however a Cancel and the stopped handler's outcome race.
func testEventsExactlyOnce(t *testing.T, newStore NewStore) {
	t.Run("CancelRunning", func(t *testing.T) {
		t.Parallel()
		running := make(chan int, cancelRounds*cancelBatch)
		rec := newRecorder(func(ctx context.Context, j Job) error {
			running <- j.N
			<-ctx.Done()
			if j.N%2 == 1 {
				// Ignores the cancel and succeeds: its Completed races the
				// Cancelled, and whichever lands first is the one outcome.
				return nil
			}
			return ctx.Err()
		})
		f := setup(t, newStore, &evertask.Config{Workers: cancelBatch}, rec, nil)
		events, unsubscribe := f.eng.Subscribe(4 * cancelRounds * cancelBatch)
		defer unsubscribe()
		f.start()

		ids := map[uuid.UUID]int{}
		finished := map[uuid.UUID]bool{} // Cancel returned ErrTaskFinished
		var mu sync.Mutex
		for round := range cancelRounds {
			batch := make([]uuid.UUID, cancelBatch)
			for i := range batch {
				n := round*cancelBatch + i
				batch[i] = f.dispatch(Job{N: n}, nil)
				ids[batch[i]] = n
			}
			waitRunning(t, running, len(batch))
			var wg sync.WaitGroup
			for _, id := range batch {
				wg.Go(func() {
					err := f.eng.Cancel(context.Background(), id)
					switch {
					case errors.Is(err, evertask.ErrTaskFinished):
						mu.Lock()
						finished[id] = true
						mu.Unlock()
					case err != nil:
						t.Errorf("Cancel %s: %v", id, err)
					}
				})
			}
			wg.Wait()
		}
		// Shutdown waits for every outcome and its event, then closes the
		// channel: what it held is everything that was announced.
		if err := f.eng.Shutdown(context.Background()); err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
		got := countEvents(events)
		if d := f.eng.DroppedEvents(); d != 0 {
			t.Fatalf("%d events dropped: the buffer is too small for the check", d)
		}
		checkOnce(t, f, ids, finished, got)
	})
	t.Run("CancelFromAnotherNode", func(t *testing.T) {
		probe := newStore(t)
		if _, ok := probe.(store.Cluster); !ok {
			t.Skipf("%T does not implement store.Cluster: one engine per store", probe)
		}
		t.Parallel()
		st := newStore(t)
		running := make(chan int, cancelRounds*cancelBatch)
		rec := newRecorder(func(ctx context.Context, j Job) error {
			running <- j.N
			<-ctx.Done()
			return ctx.Err()
		})
		const total = cancelRounds * cancelBatch
		// Leases long enough that no renewal delayed by a loaded machine
		// loses one: a take-over would stop a handler for another reason.
		cc := steadyCluster
		runner := setupOn(t, st, &evertask.Config{Workers: total, Cluster: cc("runner")}, rec, nil)
		onRunner, unsubscribeRunner := runner.eng.Subscribe(4 * total)
		defer unsubscribeRunner()
		runner.start()
		// The canceller starts once the runner holds every task, so it
		// cannot claim one: every cancel crosses nodes.
		other := setupOn(t, st, &evertask.Config{Cluster: cc("canceller"),
			Queues: []evertask.QueueConfig{{Name: evertask.DefaultQueue, Workers: 1}}}, newRecorder(nil), nil)
		onOther, unsubscribeOther := other.eng.Subscribe(4 * total)
		defer unsubscribeOther()

		ids := map[uuid.UUID]int{}
		var all []uuid.UUID
		for n := range total {
			id := runner.dispatch(Job{N: n}, nil)
			ids[id] = n
			all = append(all, id)
		}
		waitRunning(t, running, total)
		other.start()
		for round := range cancelRounds {
			batch := all[round*cancelBatch : (round+1)*cancelBatch]
			var wg sync.WaitGroup
			for _, id := range batch {
				wg.Go(func() {
					if err := other.eng.Cancel(context.Background(), id); err != nil {
						t.Errorf("Cancel %s: %v", id, err)
					}
				})
			}
			wg.Wait()
		}
		// The runner learns of a cancel by a notice or at its next
		// renewal; every handler stops.
		waitFor(t, 60*time.Second, "the runner's handlers to stop", func() bool {
			return len(rec.errors()) == total
		})
		if err := runner.eng.Shutdown(context.Background()); err != nil {
			t.Fatalf("Shutdown runner: %v", err)
		}
		if err := other.eng.Shutdown(context.Background()); err != nil {
			t.Fatalf("Shutdown canceller: %v", err)
		}
		r, o := countEvents(onRunner), countEvents(onOther)
		if d := runner.eng.DroppedEvents() + other.eng.DroppedEvents(); d != 0 {
			t.Fatalf("%d events dropped: the buffer is too small for the check", d)
		}
		bad := 0
		for id, n := range ids {
			rc, oc := r[id][evertask.EventCancelled], o[id][evertask.EventCancelled]
			if rc != 0 || oc != 1 || r[id][evertask.EventStarted] != 1 || o[id][evertask.EventStarted] != 0 {
				bad++
				if bad <= 10 {
					t.Errorf("task %d: cancelled events %d on the runner, %d on the canceller; started %d on the runner (want 0, 1, 1)",
						n, rc, oc, r[id][evertask.EventStarted])
				}
			}
		}
		if bad > 0 {
			t.Errorf("%d of %d cross-node cancels not announced exactly once by the canceller", bad, len(ids))
		}
	})
}

// waitRunning waits until n handlers reported running.
func waitRunning(t *testing.T, running <-chan int, n int) {
	t.Helper()
	deadline := time.After(60 * time.Second)
	for i := range n {
		select {
		case <-running:
		case <-deadline:
			t.Fatalf("%d of %d handlers running after 60s", i, n)
		}
	}
}

// countEvents drains a closed subscription: events per task and type.
func countEvents(events <-chan evertask.Event) map[uuid.UUID]map[evertask.EventType]int {
	got := map[uuid.UUID]map[evertask.EventType]int{}
	for ev := range events {
		if got[ev.TaskID] == nil {
			got[ev.TaskID] = map[evertask.EventType]int{}
		}
		got[ev.TaskID][ev.Type]++
	}
	return got
}

// checkOnce checks each task had one Started and exactly one terminal
// event, the one matching its row: Cancelled, or Completed when its handler
// won the race against Cancel (which then said ErrTaskFinished).
func checkOnce(t *testing.T, f *fixture, ids map[uuid.UUID]int, finished map[uuid.UUID]bool, got map[uuid.UUID]map[evertask.EventType]int) {
	t.Helper()
	missing, duplicated, wrong := 0, 0, 0
	for id, n := range ids {
		row := f.get(id)
		c := got[id]
		want := evertask.EventCancelled
		if row.Status == store.StatusCompleted && finished[id] {
			want = evertask.EventCompleted
		} else if row.Status != store.StatusCancelled || finished[id] {
			wrong++
			t.Errorf("task %d: row %s, Cancel said finished: %v", n, row.Status, finished[id])
			continue
		}
		terminal := c[evertask.EventCancelled] + c[evertask.EventCompleted] + c[evertask.EventFailed] + c[evertask.EventStopped]
		switch {
		case c[want] == 0:
			missing++
		case c[want] > 1 || terminal > 1:
			duplicated++
		}
		if c[want] != 1 || terminal != 1 || c[evertask.EventStarted] != 1 {
			if missing+duplicated <= 10 {
				t.Errorf("task %d (row %s): events %v, want one %s and one started", n, row.Status, c, want)
			}
		}
	}
	if missing+duplicated+wrong > 0 {
		t.Errorf("of %d cancels of running tasks: %d missing, %d duplicated, %d wrong outcomes", len(ids), missing, duplicated, wrong)
	}
	t.Logf("%d cancels of running tasks: %d missing, %d duplicated", len(ids), missing, duplicated)
}

// testRecoveredOnce checks that a task left by a run that stopped is
// announced recovered exactly once, however it is picked up (in a
// cluster: a rescue of an expired lease, then a claim).
func testRecoveredOnce(t *testing.T, newStore NewStore) {
	st := newStore(t)
	left := map[uuid.UUID]store.Status{}
	for _, s := range []store.Status{store.StatusQueued, store.StatusInProgress, store.StatusServiceStopped} {
		for range 5 {
			left[seed(t, st, func(r *store.Task) { r.Status = s }).ID] = s
		}
	}
	f := setupOn(t, st, nil, nil, nil)
	events, unsubscribe := f.eng.Subscribe(1000)
	defer unsubscribe()
	f.start()
	for id := range left {
		f.waitStatus(id, store.StatusCompleted)
	}
	if err := f.eng.Shutdown(context.Background()); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	got := countEvents(events)
	for id, s := range left {
		if n := got[id][evertask.EventRecovered]; n != 1 {
			t.Errorf("task left %s: %d recovered events, want 1 (events %v)", s, n, got[id])
		}
	}
}
