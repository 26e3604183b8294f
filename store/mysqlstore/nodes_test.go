package mysqlstore_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"testing"
	"time"

	"github.com/evertask/evertask"
	"github.com/evertask/evertask/internal/testenv"
	"github.com/evertask/evertask/store"
	"github.com/evertask/evertask/store/mysqlstore"
)

// sessionOf returns the connection id of the session holding the lock of
// a node: the session its process keeps open.
func sessionOf(t *testing.T, s *mysqlstore.Store, node string) int64 {
	t.Helper()
	var id int64
	err := testDB(t).QueryRowContext(t.Context(), "SELECT IS_USED_LOCK(lock_name) FROM `"+s.Database()+"`.`evertask_nodes` WHERE id = ?", node).Scan(&id)
	if err != nil {
		t.Fatalf("session of node %s: %v", node, err)
	}
	return id
}

// waitGone waits until Nodes reports the node gone: the server ends a
// session a moment after its socket closed.
func waitGone(t *testing.T, s *mysqlstore.Store, node string) store.Node {
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
	started := time.Now().Add(-time.Minute)
	live := store.Node{ID: "live", Host: "h1", PID: 101, StartedAt: started, Queues: map[string]int{"default": 4, "mail": 1}}
	if err := s.JoinCluster(ctx, live); err != nil {
		t.Fatal(err)
	}
	// Two more processes on the same tables, each with its own pool: one
	// that closes its store without leaving, one whose session the server
	// kills as when the process dies.
	other := func() *mysqlstore.Store {
		db, err := testenv.OpenMySQL(testenv.MySQLDSN(), 3)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		o, err := mysqlstore.New(ctx, db, &mysqlstore.Config{Database: s.Database(), SkipMigrations: true})
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
	session := sessionOf(t, s, "live")
	live.Queues = map[string]int{"default": 8}
	if err := s.JoinCluster(ctx, live); err != nil {
		t.Fatal(err)
	}
	nodes, _ = s.Nodes(ctx)
	if nodes[0].LastHeartbeat.Before(got.LastHeartbeat) || !reflect.DeepEqual(nodes[0].Queues, live.Queues) {
		t.Errorf("after a heartbeat: %+v (was %+v)", nodes[0], got)
	}
	if again := sessionOf(t, s, "live"); again != session {
		t.Errorf("a heartbeat opened a new session: %d, was %d", again, session)
	}

	closed.Close()
	waitGone(t, s, "closed")
	if _, err := testDB(t).ExecContext(ctx, fmt.Sprintf("KILL %d", sessionOf(t, s, "killed"))); err != nil {
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
	nodes, _ = s.Nodes(ctx)
	if len(nodes) != 2 || nodes[0].ID != "closed" {
		t.Errorf("after leaving: %+v", nodes)
	}
	if err := other().JoinCluster(ctx, live); err != nil {
		t.Errorf("joining with the id of a node that left = %v", err)
	}
	if err := closed.JoinCluster(ctx, live); !errors.Is(err, store.ErrClosed) {
		t.Errorf("joining through a closed store = %v, want ErrClosed", err)
	}
}

type txJob struct {
	N int `json:"n"`
}

func (txJob) Kind() string { return "mysqlstore.txjob" }

// TestDispatchTx dispatches inside the caller's *sql.Tx: nothing runs
// before the commit, a rolled-back task never exists, and a committed one
// runs on another node after the commit, found by its poll (the store has
// no notifier).
func TestDispatchTx(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := newStore(t)
	started := make(chan time.Time, 4)
	newEngine := func(node string) *evertask.Engine {
		eng, err := evertask.New(st, &evertask.Config{
			Logger:  slog.New(slog.NewTextHandler(io.Discard, nil)),
			Cluster: evertask.ClusterConfig{NodeID: node, PollInterval: 100 * time.Millisecond},
		})
		if err != nil {
			t.Fatal(err)
		}
		err = evertask.Register[txJob](eng, evertask.HandlerFunc[txJob](func(ctx context.Context, j txJob) error {
			started <- time.Now()
			return nil
		}), nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := eng.Start(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = eng.Shutdown(context.Background()) })
		return eng
	}
	newEngine("runner")
	dispatcher := newEngine("dispatcher")

	tx, err := st.DB().BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	rolledBack, err := evertask.DispatchTx(ctx, dispatcher, tx, txJob{N: 1}, nil)
	if err != nil {
		t.Fatalf("DispatchTx: %v", err)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Get(ctx, rolledBack); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a rolled-back dispatch left a row: %v", err)
	}

	tx, err = st.DB().BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	id, err := evertask.DispatchTx(ctx, dispatcher, tx, txJob{N: 2}, nil)
	if err != nil {
		t.Fatalf("DispatchTx: %v", err)
	}
	select {
	case <-started:
		t.Fatal("the task ran before its transaction committed")
	case <-time.After(300 * time.Millisecond):
	}
	committed := time.Now()
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	select {
	case at := <-started:
		t.Logf("commit to handler start: %s", at.Sub(committed))
	case <-time.After(5 * time.Second):
		t.Fatal("the committed task did not start within 5 s (the poll is 100 ms)")
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		row, err := st.Get(ctx, id)
		if err == nil && row.Status == store.StatusCompleted {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the committed task is not Completed: %v, %v", row, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
