package evertask_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

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

// Of two live nodes only the one with the smaller id rescues, at its start
// and on its polls; when the leader leaves, the other takes the role over.
func TestOneNodeRescuesPerPoll(t *testing.T) {
	t.Parallel()
	st := memstore.New()
	t.Cleanup(func() { _ = st.Close() })
	var na, nb atomic.Int32
	start := func(id string, n *atomic.Int32) *evertask.Engine {
		eng, err := evertask.New(countRescues{st, n}, &evertask.Config{Cluster: evertask.ClusterConfig{
			NodeID: id, LeaseDuration: 2 * time.Second, RenewInterval: 200 * time.Millisecond,
			PollInterval: 20 * time.Millisecond,
		}})
		if err != nil {
			t.Fatal(err)
		}
		if err := eng.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		return eng
	}
	stop := func(eng *evertask.Engine) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = eng.Shutdown(ctx)
	}
	waitCount := func(what string, n *atomic.Int32, want int32) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for n.Load() < want {
			if time.Now().After(deadline) {
				t.Fatalf("%s: %d rescues, want %d", what, n.Load(), want)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	a := start("node-a", &na)
	b := start("node-b", &nb)
	defer stop(b)
	b0 := nb.Load()
	if b0 != 0 {
		t.Errorf("the follower rescued %d times at its start, beside a live leader", b0)
	}
	waitCount("the leader", &na, na.Load()+20)
	// 20 polls of the leader are 20 of the follower's too: it made at most
	// a few while a late heartbeat of the leader looked stale.
	if got := nb.Load() - b0; got > 4 {
		t.Errorf("the follower rescued %d times during 20 of the leader's polls", got)
	}
	stop(a) // leaves the registry
	waitCount("the follower once the leader left", &nb, nb.Load()+10)
}
