package inspect_test

import (
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/evertask/evertask/inspect"
	"github.com/evertask/evertask/store"
	"github.com/evertask/evertask/store/memstore"
)

// The actions against live engines on every store are in
// store/enginetest (Inspect, QueuePause); these are the reads and the
// refusals, on the memory store.

var t0 = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

func row(status store.Status, queue string) *store.Task {
	return &store.Task{ID: uuid.Must(uuid.NewV7()), CreatedAt: t0, Kind: "k", Queue: queue, Status: status}
}

func setup(t testing.TB, rows ...*store.Task) (*memstore.Store, *inspect.Inspector) {
	t.Helper()
	st := memstore.New()
	t.Cleanup(func() { _ = st.Close() })
	for _, r := range rows {
		if err := st.Persist(t.Context(), r); err != nil {
			t.Fatal(err)
		}
	}
	return st, inspect.New(st, &inspect.Config{Now: func() time.Time { return t0.Add(time.Hour) }})
}

func TestQueuesCountsPausesAndNodes(t *testing.T) {
	t.Parallel()
	st, in := setup(t, row(store.StatusFailed, "mail"), row(store.StatusFailed, "mail"), row(store.StatusQueued, "mail"), row(store.StatusCompleted, "default"))
	if err := st.JoinCluster(t.Context(), store.Node{ID: "n1", Queues: map[string]int{"mail": 3, "idle": 2}}); err != nil {
		t.Fatal(err)
	}
	if err := in.PauseQueue(t.Context(), "mail"); err != nil {
		t.Fatal(err)
	}
	if err := in.PauseQueue(t.Context(), ""); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("PauseQueue(\"\") = %v, want ErrInvalid", err)
	}
	qs, err := in.Queues(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(qs) != 3 || qs[0].Name != "default" || qs[1].Name != "idle" || qs[2].Name != "mail" {
		t.Fatalf("Queues = %+v, want default, idle, mail", qs)
	}
	mail := qs[2]
	if mail.Total != 3 || mail.Counts[store.StatusFailed] != 2 || !mail.Paused || !mail.PausedAt.Equal(t0.Add(time.Hour)) || mail.Workers != 3 || mail.Nodes["n1"] != 3 {
		t.Errorf("mail = %+v, want 3 tasks (2 Failed), paused at %v, 3 workers on n1", mail, t0.Add(time.Hour))
	}
	if qs[1].Total != 0 || qs[1].Workers != 2 || qs[1].Paused {
		t.Errorf("idle = %+v, want no tasks, 2 workers, running", qs[1])
	}
	if err := in.ResumeQueue(t.Context(), "mail"); err != nil {
		t.Fatal(err)
	}
	if p, err := in.PausedQueues(t.Context()); err != nil || len(p) != 0 {
		t.Errorf("PausedQueues after resume = %v, %v", p, err)
	}
}

// coreOnly hides every capability of a store.
type coreOnly struct{ store.Store }

func TestCapabilitiesMissing(t *testing.T) {
	t.Parallel()
	st, _ := setup(t, row(store.StatusFailed, "mail"))
	in := inspect.New(coreOnly{st}, nil)
	if err := in.PauseQueue(t.Context(), "mail"); !errors.Is(err, inspect.ErrUnsupported) {
		t.Errorf("PauseQueue without QueuePauser = %v, want ErrUnsupported", err)
	}
	if _, err := in.Nodes(t.Context()); !errors.Is(err, inspect.ErrUnsupported) {
		t.Errorf("Nodes without Cluster = %v, want ErrUnsupported", err)
	}
	if _, err := in.Purge(t.Context(), store.RetentionPolicy{FailedTaskAge: time.Minute}); !errors.Is(err, inspect.ErrUnsupported) {
		t.Errorf("Purge without Retainer = %v, want ErrUnsupported", err)
	}
	// Queues still answers, from the fallback counts.
	qs, err := in.Queues(t.Context())
	if err != nil || len(qs) != 1 || qs[0].Total != 1 {
		t.Errorf("Queues on a core store = %+v, %v; want mail with 1 task", qs, err)
	}
}

func TestActionsRefusedByStatus(t *testing.T) {
	t.Parallel()
	running, done, waiting := row(store.StatusInProgress, "q"), row(store.StatusCompleted, "q"), row(store.StatusWaitingQueue, "q")
	_, in := setup(t, running, done, waiting)
	ctx := t.Context()
	for name, err := range map[string]error{
		"Retry of a running task":    in.Retry(ctx, running.ID),
		"Retry of a waiting task":    in.Retry(ctx, waiting.ID),
		"RunNow of a running task":   in.RunNow(ctx, running.ID),
		"RunNow of a completed task": in.RunNow(ctx, done.ID),
		"Delete of a running task":   in.Delete(ctx, running.ID),
		"Cancel of a completed task": in.Cancel(ctx, done.ID),
	} {
		if !errors.Is(err, inspect.ErrStatus) {
			t.Errorf("%s = %v, want ErrStatus", name, err)
		}
	}
	for name, err := range map[string]error{
		"Cancel": in.Cancel(ctx, uuid.New()), "Retry": in.Retry(ctx, uuid.New()),
		"RunNow": in.RunNow(ctx, uuid.New()), "Delete": in.Delete(ctx, uuid.New()),
	} {
		if !errors.Is(err, inspect.ErrNotFound) {
			t.Errorf("%s of an unknown id = %v, want ErrNotFound", name, err)
		}
	}
}

func TestPurgeUsesTheInspectorsClock(t *testing.T) {
	t.Parallel()
	old := row(store.StatusFailed, "q")
	old.LastExecutionAt = t0
	st, in := setup(t, old)
	// The inspector's clock is an hour after t0: a 30 minute age deletes it.
	res, err := in.Purge(t.Context(), store.RetentionPolicy{FailedTaskAge: 30 * time.Minute})
	if err != nil || res.Tasks != 1 {
		t.Fatalf("Purge = %+v, %v; want 1 task", res, err)
	}
	if _, err := st.Get(t.Context(), old.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("purged task still there: %v", err)
	}
}
