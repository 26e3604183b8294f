package evertask_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/evertask/evertask"
	"github.com/evertask/evertask/store"
	"github.com/evertask/evertask/store/memstore"
)

// countRescues is a node's view of a shared memory store that counts its
// Rescue calls.
type countRescues struct {
	*memstore.Store
	n *atomic.Int32
}

func (c countRescues) Rescue(ctx context.Context, p store.RescueParams) ([]*store.Task, error) {
	c.n.Add(1)
	return c.Store.Rescue(ctx, p)
}

// rescueNodes starts engines on one memory store that count their Rescue
// calls: lease 1 s, renewal every 100 ms, a poll every 20 ms.
type rescueNodes struct {
	t  *testing.T
	st *memstore.Store
}

func (r rescueNodes) start(id string, n *atomic.Int32) *evertask.Engine {
	return r.startOn(countRescues{r.st, n}, id)
}

func (r rescueNodes) startOn(st store.Store, id string) *evertask.Engine {
	r.t.Helper()
	eng := r.engine(st, id)
	if err := eng.Start(r.t.Context()); err != nil {
		r.t.Fatal(err)
	}
	return eng
}

func (r rescueNodes) engine(st store.Store, id string) *evertask.Engine {
	r.t.Helper()
	eng, err := evertask.New(st, &evertask.Config{Cluster: rescueCluster(id)})
	if err != nil {
		r.t.Fatal(err)
	}
	return eng
}

// rescueCluster is the cluster settings of the nodes of these tests.
func rescueCluster(id string) evertask.ClusterConfig {
	return evertask.ClusterConfig{
		NodeID: id, LeaseDuration: time.Second, RenewInterval: 100 * time.Millisecond,
		PollInterval: 20 * time.Millisecond,
	}
}

func stopEngine(eng *evertask.Engine) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = eng.Shutdown(ctx)
}

// waitRescues waits until n reaches want.
func waitRescues(t *testing.T, what string, n *atomic.Int32, want int32) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for n.Load() < want {
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d rescues, want %d", what, n.Load(), want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Of two live nodes only the one with the smaller id rescues: at its start,
// then, while every node beats, once a lease (not at each of its polls);
// when the leader leaves, the other takes the role over at once.
func TestOneNodeRescuesPerLease(t *testing.T) {
	t.Parallel()
	st := memstore.New()
	t.Cleanup(func() { _ = st.Close() })
	nodes := rescueNodes{t, st}
	var na, nb atomic.Int32
	a := nodes.start("node-a", &na)
	b := nodes.start("node-b", &nb)
	defer stopEngine(b)
	if b0 := nb.Load(); b0 != 0 {
		t.Errorf("the follower rescued %d times at its start, beside a live leader", b0)
	}
	a0 := na.Load()
	time.Sleep(2500 * time.Millisecond) // 125 polls, 2.5 leases
	if got := na.Load() - a0; got < 1 || got > 4 {
		t.Errorf("the leader looked for expired leases %d times in 2.5 leases (125 polls), want 1 to 4", got)
	}
	// A late heartbeat of the leader can make it look stale for a moment.
	if got := nb.Load(); got > 2 {
		t.Errorf("the follower rescued %d times beside a live leader", got)
	}
	b1 := nb.Load()
	stopEngine(a) // leaves the registry
	waitRescues(t, "the follower once the leader left", &nb, b1+1)
}

// While a node of the registry misses its heartbeats, the leader looks for
// expired leases at every poll: that node's leases may be running out.
func TestAStaleNodeMakesTheLeaderLookEveryPoll(t *testing.T) {
	t.Parallel()
	st := memstore.New()
	t.Cleanup(func() { _ = st.Close() })
	var na atomic.Int32
	a := rescueNodes{t, st}.start("node-a", &na)
	defer stopEngine(a)
	// A node that beats once and then stops (a paused process: the memory
	// store never proves a node gone).
	stale := store.Node{ID: "node-z", StartedAt: time.Now()}
	if err := st.JoinCluster(t.Context(), stale); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // stale after 2 × RenewInterval
	a0 := na.Load()
	time.Sleep(500 * time.Millisecond) // 25 polls
	if got := na.Load() - a0; got < 10 {
		t.Errorf("with a stale node the leader looked for expired leases %d times in 25 polls", got)
	}
	// It beats again: the leader goes back to a look per lease.
	beat := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-beat:
				return
			case <-time.After(50 * time.Millisecond):
				_ = st.JoinCluster(context.Background(), stale)
			}
		}
	}()
	defer func() { close(beat); <-done }()
	time.Sleep(200 * time.Millisecond)
	a1 := na.Load()
	time.Sleep(500 * time.Millisecond)
	if got := na.Load() - a1; got > 1 {
		t.Errorf("once every node beat again the leader looked %d times in 25 polls", got)
	}
}

// A node stale past every lease it can have held (paused for good: the
// memory store never proves it gone) no longer makes the leader look at
// every poll; the look every LeaseDuration goes on.
func TestALongStaleNodeStopsTheLooksEveryPoll(t *testing.T) {
	t.Parallel()
	st := memstore.New()
	t.Cleanup(func() { _ = st.Close() })
	cfg := rescueCluster("node-a")
	// staleWatch of rescueCluster: 1.5 × LeaseDuration + RenewInterval +
	// PollInterval.
	watch := cfg.LeaseDuration*3/2 + cfg.RenewInterval + cfg.PollInterval
	stale := store.Node{ID: "node-z", StartedAt: time.Now()}
	if err := st.JoinCluster(t.Context(), stale); err != nil {
		t.Fatal(err)
	}
	joined := time.Now()
	var na atomic.Int32
	a := rescueNodes{t, st}.start(cfg.NodeID, &na)
	defer stopEngine(a)
	// Its leases can still be running out a lease after its heartbeat.
	time.Sleep(time.Until(joined.Add(cfg.LeaseDuration)))
	a0 := na.Load()
	time.Sleep(500 * time.Millisecond) // 25 polls, inside the watch
	if got := na.Load() - a0; got < 10 {
		t.Errorf("a lease after a node's last heartbeat the leader looked for expired leases %d times in 25 polls", got)
	}
	time.Sleep(time.Until(joined.Add(watch + 2*cfg.PollInterval)))
	a1 := na.Load()
	time.Sleep(cfg.LeaseDuration * 3 / 2) // 75 polls
	if got := na.Load() - a1; got < 1 || got > 3 {
		t.Errorf("%v after the stale node's last heartbeat the leader looked %d times in 1.5 leases, want 1 to 3 (one a lease)", watch, got)
	}
}

type renewJob struct{}

func (renewJob) Kind() string { return "test.renewfails" }

// failingRenewals is a node's view of a shared memory store whose Renew
// fails while fail is set.
type failingRenewals struct {
	*memstore.Store
	fail *atomic.Bool
}

func (f failingRenewals) Renew(ctx context.Context, p store.RenewParams) ([]uuid.UUID, error) {
	if f.fail.Load() {
		return nil, errors.New("renew refused by the test")
	}
	return f.Store.Renew(ctx, p)
}

// A node whose renewals fail stops beating, so the rescue leader sees it
// stale and watches its leases; it beats again once they succeed.
func TestNoHeartbeatWithoutRenewal(t *testing.T) {
	t.Parallel()
	st := memstore.New()
	t.Cleanup(func() { _ = st.Close() })
	var fail atomic.Bool
	eng := rescueNodes{t, st}.engine(failingRenewals{st, &fail}, "node-r")
	running, release := make(chan struct{}), make(chan struct{})
	err := evertask.Register[renewJob](eng, evertask.HandlerFunc[renewJob](func(ctx context.Context, _ renewJob) error {
		close(running)
		select {
		case <-release:
		case <-ctx.Done():
		}
		return nil
	}), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := eng.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	defer stopEngine(eng)
	defer close(release)
	if _, err := eng.Dispatch(t.Context(), renewJob{}, nil); err != nil {
		t.Fatal(err)
	}
	<-running
	heartbeat := func() time.Time {
		t.Helper()
		nodes, err := st.Nodes(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range nodes {
			if n.ID == "node-r" {
				return n.LastHeartbeat
			}
		}
		t.Fatal("node-r is not in the registry")
		return time.Time{}
	}
	// The lease is renewed once a third old (333 ms): from then on every
	// tick renews it, and fails.
	fail.Store(true)
	time.Sleep(700 * time.Millisecond)
	if age := time.Since(heartbeat()); age < 200*time.Millisecond {
		t.Errorf("the node beat %s ago, while its renewals failed", age.Round(time.Millisecond))
	}
	fail.Store(false)
	time.Sleep(300 * time.Millisecond)
	if age := time.Since(heartbeat()); age > 200*time.Millisecond {
		t.Errorf("the node last beat %s ago, with its renewals working again", age.Round(time.Millisecond))
	}
}

type undecodableJob struct{ N int }

func (undecodableJob) Kind() string { return "test.undecodable" }

// A row a live node claimed and cannot run (its payload does not decode)
// is left claimed and not renewed: with every node beating, the leader's
// look once a lease finds it, within two leases of its claim, and counts
// it, so it is poisoned at MaxRecoveryFailures.
func TestAnUnrenewedClaimIsRescuedWithinTwoLeases(t *testing.T) {
	t.Parallel()
	st := memstore.New()
	t.Cleanup(func() { _ = st.Close() })
	eng, err := evertask.New(st, &evertask.Config{MaxRecoveryFailures: 2, Cluster: rescueCluster("node-u")})
	if err != nil {
		t.Fatal(err)
	}
	err = evertask.Register[undecodableJob](eng, evertask.HandlerFunc[undecodableJob](func(context.Context, undecodableJob) error {
		t.Error("the handler ran on a payload that does not decode")
		return nil
	}), nil)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := uuid.NewV7()
	row := &store.Task{ID: id, CreatedAt: time.Now().Add(-time.Second), Kind: undecodableJob{}.Kind(),
		Payload: []byte("{not json"), Queue: evertask.DefaultQueue, Status: store.StatusQueued}
	if err := st.Persist(t.Context(), row); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	if err := eng.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	defer stopEngine(eng)
	// Each claim is rescued one to two leases (and a poll) later; the
	// second rescue reaches the limit of 2 and poisons the row. The bound
	// leaves 1.5 s for a loaded machine; a leader that never looks while
	// every node beats never rescues it.
	const bound = 2*(2*time.Second+20*time.Millisecond) + 1500*time.Millisecond
	var got *store.Task
	for {
		got, err = st.Get(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status == store.StatusFailed || time.Since(began) > bound {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	took := time.Since(began)
	if got.Status != store.StatusFailed || got.RecoveryFailures != 2 {
		t.Fatalf("after %s the row is %s with %d recovery failures, want Failed (poisoned) with 2", took.Round(time.Millisecond), got.Status, got.RecoveryFailures)
	}
	if took < 1900*time.Millisecond {
		t.Errorf("poisoned after %s: two claims were rescued before their leases (1 s each) ran out", took.Round(time.Millisecond))
	}
	t.Logf("claimed twice, rescued twice, poisoned after %s (lease 1 s)", took.Round(time.Millisecond))
}
