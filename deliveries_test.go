package evertask

import (
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/evertask/evertask/store"
)

// A renewal's "lost" answer is about the deliveries it renewed. One that
// comes back after that delivery ended (its outcome's write released the
// lease) must not stop the task's next delivery, a series' next occurrence
// claimed under a new lease; one that comes back while the outcome is being
// written must leave the decision to the write's fence.
func TestLostLeaseTouchesOnlyTheRenewedDelivery(t *testing.T) {
	q := &queue{}
	id := uuid.New()
	var d deliveries
	now := time.Now()

	first := &job{id: id, queue: q}
	if !d.beginClaimed(first, now) {
		t.Fatal("beginClaimed refused the first delivery")
	}
	held, _ := d.leases(now.Add(-time.Hour), now.Add(time.Second))
	if len(held) != 1 || held[0] != first {
		t.Fatalf("leases returned %v, want the first delivery", held)
	}

	// The outcome is being written when the renewal answers.
	if leased, lost := d.settle(first); !leased || lost {
		t.Fatalf("settle = leased %v, lost %v; want leased, not lost", leased, lost)
	}
	if d.current(first) || d.markLost(first) {
		t.Error("a delivery writing its outcome was marked lost")
	}

	// The outcome ended it and the next occurrence was claimed.
	d.end(first)
	next := &job{id: id, queue: q}
	if !d.beginClaimed(next, now) {
		t.Fatal("beginClaimed refused the next delivery")
	}
	if d.markLost(first) {
		t.Error("the ended delivery was marked lost")
	}
	if d.isLost(next) {
		t.Fatal("a lost lease of the ended delivery stopped the next one")
	}

	// The next delivery's own lease is lost: it stops, and its outcome is
	// not written.
	if !d.markLost(next) || !d.isLost(next) {
		t.Fatal("the current delivery was not marked lost")
	}
	if _, lost := d.settle(next); !lost {
		t.Error("settle let a lost delivery write its outcome")
	}
}

// A dispatch or worker whose write found the row claimed by this node's
// fetcher must not end the delivery the fetcher adopted with that claim.
func TestEndUnclaimedKeepsAnAdoptedDelivery(t *testing.T) {
	q := &queue{}
	var d deliveries
	j := &job{id: uuid.New(), queue: q}
	if !d.begin(j) {
		t.Fatal("begin refused")
	}
	adopter := &job{id: j.id, queue: q}
	if d.beginClaimed(adopter, time.Now()) {
		t.Fatal("the fetcher's claim registered a second delivery")
	}
	if d.endUnclaimed(j) {
		t.Fatal("endUnclaimed ended the delivery that holds the fetcher's claim")
	}
	if !d.inFlight(j.id) || !d.claim(j, time.Time{}) {
		t.Fatal("the adopted delivery is gone or unclaimed")
	}

	other := &job{id: uuid.New(), queue: q}
	d.begin(other)
	if !d.endUnclaimed(other) || d.inFlight(other.id) {
		t.Fatal("endUnclaimed kept a delivery nobody claimed")
	}
	if n := q.load.Load(); n != 1 {
		t.Fatalf("queue load %d, want 1", n)
	}
}

// One live node at a time runs the periodic rescue: the smallest id among
// the nodes whose session holds and whose heartbeat is fresh; a node proven
// gone or silent for 2 × RenewInterval leaves the role to the next.
func TestRescueLeader(t *testing.T) {
	now := time.Now()
	r := &rescuer{rescuerDeps: rescuerDeps{cfg: ClusterConfig{RenewInterval: time.Second}, self: "b"}}
	self := store.Node{ID: "b", LastHeartbeat: now}
	for _, tc := range []struct {
		name  string
		other store.Node
		leads bool
	}{
		{"AloneLeads", store.Node{ID: "b", LastHeartbeat: now}, true},
		{"SmallerLiveLeads", store.Node{ID: "a", LastHeartbeat: now.Add(-2 * time.Second)}, false},
		{"LargerLiveFollows", store.Node{ID: "c", LastHeartbeat: now}, true},
		{"SmallerGoneIsReplaced", store.Node{ID: "a", LastHeartbeat: now, Gone: true}, true},
		{"SmallerSilentIsReplaced", store.Node{ID: "a", LastHeartbeat: now.Add(-2*time.Second - time.Millisecond)}, true},
	} {
		if got := r.leads([]store.Node{tc.other, self}, now); got != tc.leads {
			t.Errorf("%s: leads = %v, want %v", tc.name, got, tc.leads)
		}
	}
}

// A delivery is registered as running (its execution set) before its first
// attempt begins, so a cancel can start a watchdog in between. That
// watchdog must take nothing over: had it taken the execution, it would
// serve as the queue's worker while the worker went on with the attempt,
// two workers in one slot (CI once saw the negative worker count at
// Shutdown). The attempt then sees its context ended instead.
func TestWatchdogBeforeTheFirstAttemptTakesNothingOver(t *testing.T) {
	x := &execution{} // no engine, no job: a watchdog that took over would touch them
	x.watchdog()
	if got := x.owner.Load(); got != ownerNone {
		t.Fatalf("owner after a watchdog before any attempt = %d, want ownerNone", got)
	}
}
