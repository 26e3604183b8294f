package pgstore_test

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/evertask/evertask/store"
	"github.com/evertask/evertask/store/pgstore"
)

// ownPool is a pool of the test's own, closed when the test ends.
func ownPool(t *testing.T) *pgxpool.Pool {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(testPool(t).Config().ConnString())
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 2
	pool, err := pgxpool.NewWithConfig(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// sessionOf returns the backend pid of the session holding the advisory
// lock of a node: the session its process keeps open.
func sessionOf(t *testing.T, schema, node string) int32 {
	t.Helper()
	var pid int32
	err := testPool(t).QueryRow(t.Context(), `SELECT l.pid FROM pg_locks l JOIN `+pgx.Identifier{schema, "nodes"}.Sanitize()+` n
		ON l.classid = ((n.lock_key >> 32) & 4294967295)::oid AND l.objid = (n.lock_key & 4294967295)::oid
		WHERE l.locktype = 'advisory' AND l.objsubid = 1 AND l.granted AND n.id = $1`, node).Scan(&pid)
	if err != nil {
		t.Fatalf("session of node %s: %v", node, err)
	}
	return pid
}

// waitGone waits until Nodes reports the node gone: the server ends a
// session a moment after its socket closed.
func waitGone(t *testing.T, s *pgstore.Store, node string) store.Node {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; {
		nodes, err := s.Nodes(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range nodes {
			if n.ID == node && n.Gone {
				return n
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("node %s not reported gone: %+v", node, nodes)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestNodes(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := t.Context()
	schema := s.Schema()
	started := time.Now().Add(-time.Minute)
	live := store.Node{ID: "live", Host: "h1", PID: 101, StartedAt: started, Queues: map[string]int{"default": 4, "mail": 1}}
	if err := s.JoinCluster(ctx, live); err != nil {
		t.Fatal(err)
	}

	// Two more processes on the same schema, each with its own pool: one
	// that closes its store without leaving, one whose session the server
	// loses as when the process is killed.
	other := func() *pgstore.Store {
		o, err := pgstore.New(ctx, ownPool(t), &pgstore.Opts{Schema: schema, SkipMigrations: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { o.Close() })
		return o
	}
	closed, killed := other(), other()
	if err := closed.JoinCluster(ctx, store.Node{ID: "closed", Host: "h2", PID: 202, StartedAt: started.Add(time.Second)}); err != nil {
		t.Fatal(err)
	}
	if err := killed.JoinCluster(ctx, store.Node{ID: "killed", Host: "h3", PID: 303, StartedAt: started.Add(2 * time.Second)}); err != nil {
		t.Fatal(err)
	}
	nodes, err := s.Nodes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(nodes) != 3 || nodes[0].ID != "live" || nodes[1].ID != "closed" || nodes[2].ID != "killed" {
		t.Fatalf("nodes = %+v, want live, closed, killed (oldest first)", nodes)
	}
	for _, n := range nodes {
		if n.Gone {
			t.Errorf("node %s gone while its process runs", n.ID)
		}
	}
	got := nodes[0]
	if got.Host != "h1" || got.PID != 101 || !got.StartedAt.Equal(store.NormalizeTime(started)) ||
		!reflect.DeepEqual(got.Queues, live.Queues) || got.LastHeartbeat.IsZero() {
		t.Errorf("live node = %+v, want %+v with a heartbeat", got, live)
	}

	// A heartbeat refreshes the row and keeps the session.
	pid := sessionOf(t, schema, "live")
	live.Queues = map[string]int{"default": 8}
	if err := s.JoinCluster(ctx, live); err != nil {
		t.Fatal(err)
	}
	nodes, _ = s.Nodes(ctx)
	if !nodes[0].LastHeartbeat.After(got.LastHeartbeat) || !reflect.DeepEqual(nodes[0].Queues, live.Queues) {
		t.Errorf("after a heartbeat: %+v (was %+v)", nodes[0], got)
	}
	if again := sessionOf(t, schema, "live"); again != pid {
		t.Errorf("a heartbeat opened a new session: %d, was %d", again, pid)
	}

	closed.Close()
	waitGone(t, s, "closed")
	if _, err := testPool(t).Exec(ctx, "SELECT pg_terminate_backend($1)", sessionOf(t, schema, "killed")); err != nil {
		t.Fatal(err)
	}
	if n := waitGone(t, s, "killed"); n.Host != "h3" || n.PID != 303 {
		t.Errorf("a gone node keeps its registration: %+v", n)
	}
	nodes, _ = s.Nodes(ctx)
	if nodes[0].Gone {
		t.Error("the live node is reported gone")
	}

	// The next heartbeat of the killed node opens a new session.
	if err := killed.JoinCluster(ctx, store.Node{ID: "killed", Host: "h3", PID: 303, StartedAt: started.Add(2 * time.Second)}); err != nil {
		t.Fatal(err)
	}
	nodes, _ = s.Nodes(ctx)
	if nodes[2].Gone {
		t.Error("a node that joined again is still reported gone")
	}
	// Another process cannot join with a node id a live session holds.
	if err := other().JoinCluster(ctx, live); err == nil {
		t.Error("a second process joined with a live node's id")
	}

	// Leaving removes the row and ends the session.
	if err := s.LeaveCluster(ctx, "live"); err != nil {
		t.Fatal(err)
	}
	if err := s.LeaveCluster(ctx, "never-joined"); err != nil {
		t.Errorf("leaving a node that never joined = %v", err)
	}
	nodes, _ = s.Nodes(ctx)
	if len(nodes) != 2 || nodes[0].ID != "closed" {
		t.Errorf("after leaving: %+v", nodes)
	}
	if err := other().JoinCluster(ctx, live); err != nil {
		t.Errorf("joining with the id of a node that left = %v", err)
	}
	if err := s.JoinCluster(ctx, store.Node{}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("joining without an id = %v, want ErrInvalid", err)
	}
	if err := closed.JoinCluster(ctx, live); !errors.Is(err, store.ErrClosed) {
		t.Errorf("joining through a closed store = %v, want ErrClosed", err)
	}
}

// TestNodesOutliveThePool: a node's session is out of the pool, so the
// application can close the pool while the store lives; Close ends it.
func TestNodesOutliveThePool(t *testing.T) {
	t.Parallel()
	pool := ownPool(t)
	s, err := pgstore.New(t.Context(), pool, &pgstore.Opts{Schema: freshSchema(t, testPool(t))})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.JoinCluster(t.Context(), store.Node{ID: "n"}); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { pool.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("pool.Close waits for the node's session")
	}
	watcher, err := pgstore.New(t.Context(), testPool(t), &pgstore.Opts{Schema: s.Schema(), SkipMigrations: true})
	if err != nil {
		t.Fatal(err)
	}
	nodes, err := watcher.Nodes(t.Context())
	if err != nil || len(nodes) != 1 || nodes[0].Gone {
		t.Fatalf("nodes after the pool closed = %+v, %v; want n alive", nodes, err)
	}
	s.Close()
	waitGone(t, watcher, "n")
}
