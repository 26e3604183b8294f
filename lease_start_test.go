package evertask_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/evertask/evertask"
	"github.com/evertask/evertask/store"
	"github.com/evertask/evertask/store/memstore"
)

// stepClock is a clock that stands still until it is moved.
type stepClock struct{ ns atomic.Int64 }

func newStepClock(at time.Time) *stepClock {
	c := &stepClock{}
	c.ns.Store(at.UnixNano())
	return c
}

func (c *stepClock) now() time.Time      { return time.Unix(0, c.ns.Load()) }
func (c *stepClock) add(d time.Duration) { c.ns.Add(int64(d)) }

type leaseJob struct {
	Block bool `json:"block"`
}

func (leaseJob) Kind() string { return "test.lease" }

// warnings is a slog handler that keeps the messages logged.
type warnings struct {
	mu   sync.Mutex
	msgs []string
	seen chan struct{}
}

func (w *warnings) Enabled(context.Context, slog.Level) bool { return true }
func (w *warnings) WithAttrs([]slog.Attr) slog.Handler       { return w }
func (w *warnings) WithGroup(string) slog.Handler            { return w }

func (w *warnings) Handle(_ context.Context, r slog.Record) error {
	w.mu.Lock()
	w.msgs = append(w.msgs, r.Message)
	w.mu.Unlock()
	select {
	case w.seen <- struct{}{}:
	default:
	}
	return nil
}

func (w *warnings) has(sub string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, m := range w.msgs {
		if strings.Contains(m, sub) {
			return true
		}
	}
	return false
}

// A task claimed by the fetcher waits in the queue's buffer under a lease
// that only the keeper's ticks renew or give up. When the node was starved
// past them (here: its clock moves a whole lease while the keeper's next
// tick is far away), the worker that takes the task must not start its
// handler: the store may have let the lease expire, and another node may
// be running the task.
func TestStaleLeaseDoesNotStartTheHandler(t *testing.T) {
	t.Parallel()
	st := memstore.New()
	t.Cleanup(func() { _ = st.Close() })
	// Two rows left Queued: the blocker first, then the probe.
	created := time.Now().Add(-time.Minute)
	var probe uuid.UUID
	for i, block := range []bool{true, false} {
		id, _ := uuid.NewV7()
		payload, _ := json.Marshal(leaseJob{Block: block})
		row := &store.Task{ID: id, CreatedAt: created.Add(time.Duration(i) * time.Millisecond), Kind: leaseJob{}.Kind(),
			Payload: payload, Queue: evertask.DefaultQueue, Status: store.StatusQueued}
		if err := st.Persist(t.Context(), row); err != nil {
			t.Fatal(err)
		}
		probe = id
	}
	clock := newStepClock(time.Now())
	logs := &warnings{seen: make(chan struct{}, 1)}
	eng, err := evertask.New(st, &evertask.Config{
		Workers: 1, Now: clock.now, Logger: slog.New(logs), Retry: evertask.NoRetry(),
		// The keeper does not tick during the test: only the worker can
		// see that the lease grew too old.
		Cluster: evertask.ClusterConfig{LeaseDuration: time.Hour, RenewInterval: 30 * time.Minute},
	})
	if err != nil {
		t.Fatal(err)
	}
	blocked, release := make(chan struct{}), make(chan struct{})
	ranProbe := make(chan struct{}, 1)
	err = evertask.Register[leaseJob](eng, evertask.HandlerFunc[leaseJob](func(ctx context.Context, j leaseJob) error {
		if j.Block {
			close(blocked)
			<-release
			return nil
		}
		ranProbe <- struct{}{}
		return nil
	}), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := eng.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = eng.Shutdown(ctx)
	})
	select {
	case <-blocked:
	case <-time.After(5 * time.Second):
		t.Fatal("the blocker did not start")
	}
	// The probe was claimed with the blocker, in one claim: it waits in the
	// buffer. The node's clock moves past its lease.
	waitRow := func(what string, ok func(*store.Task) bool) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			row, err := st.Get(t.Context(), probe)
			if err == nil && ok(row) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("the probe is not %s: %+v, %v", what, row, err)
			}
			time.Sleep(time.Millisecond)
		}
	}
	waitRow("claimed", func(r *store.Task) bool { return r.Status == store.StatusInProgress })
	clock.add(time.Hour)
	close(release)
	deadline := time.After(5 * time.Second)
	for !logs.has("lease lost before the task started") {
		select {
		case <-ranProbe:
			t.Fatal("the handler started on a lease older than the node may hold it")
		case <-logs.seen:
		case <-deadline:
			t.Fatal("the worker neither ran the probe nor gave it up")
		}
	}
	select {
	case <-ranProbe:
		t.Fatal("the handler started on a lease older than the node may hold it")
	default:
	}
	// Nothing was recorded over the row: it waits for a rescue, InProgress
	// under this node's (stale) lease.
	if row, _ := st.Get(t.Context(), probe); row.Status != store.StatusInProgress {
		t.Errorf("probe row is %s, want InProgress until a rescue", row.Status)
	}
}
