package pgstore_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/evertask/evertask"

	"github.com/evertask/evertask/store"
	"github.com/evertask/evertask/store/enginetest"
)

// TestEngine runs the engine's behaviour suite (lifecycle, retries,
// recovery, recurring series, task keys, ...) on the PostgreSQL store, each
// test in its own schema.
func TestEngine(t *testing.T) {
	t.Parallel()
	enginetest.Run(t, func(t *testing.T) store.Store { return newStore(t) })
}

type txJob struct {
	N int `json:"n"`
}

func (txJob) Kind() string { return "pgstore.txjob" }

// TestDispatchTx dispatches inside the caller's transaction: nothing runs
// before the commit, a rolled-back task never exists, and a committed one
// starts right after the commit, woken by the NOTIFY that is part of the
// transaction (the nodes' poll is a minute).
func TestDispatchTx(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := newStore(t)
	pool := testPool(t)
	started := make(chan time.Time, 4)
	newEngine := func(node string) *evertask.Engine {
		eng, err := evertask.New(st, &evertask.Config{
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
			// A poll far longer than the test: only the notice can wake the
			// runner in time.
			Cluster: evertask.ClusterConfig{NodeID: node, PollInterval: time.Minute},
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

	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rolledBack, err := evertask.DispatchTx(ctx, dispatcher, tx, txJob{N: 1}, nil)
	if err != nil {
		t.Fatalf("DispatchTx: %v", err)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Get(ctx, rolledBack); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a rolled-back dispatch left a row: %v", err)
	}

	tx, err = pool.Begin(ctx)
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
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case at := <-started:
		t.Logf("commit to handler start: %s", at.Sub(committed))
	case <-time.After(5 * time.Second):
		t.Fatal("the committed task did not start within 5 s (the poll is a minute: the notice was lost)")
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
	// A store that cannot write in the caller's transaction says so.
	plain, err := evertask.New(struct{ store.Store }{st}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := evertask.DispatchTx(ctx, plain, tx, txJob{}, nil); !errors.Is(err, evertask.ErrInvalidDispatch) {
		t.Errorf("DispatchTx on a store without transactions: %v, want ErrInvalidDispatch", err)
	}
}
