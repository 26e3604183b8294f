package evertask_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/evertask/evertask"
	"github.com/evertask/evertask/store"
	"github.com/evertask/evertask/store/memstore"
)

func observed(t *testing.T, cfg *evertask.Config, h evertask.HandlerFunc[Greet]) *evertask.Engine {
	t.Helper()
	cfg.Logger = slog.New(slog.DiscardHandler)
	e, err := evertask.New(memstore.New(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := evertask.Register[Greet](e, h, nil); err != nil {
		t.Fatal(err)
	}
	if err := e.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		e.Shutdown(ctx)
	})
	return e
}

func TestObserverSeesEventsWithoutSubscribers(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var evs []evertask.Event
	done := make(chan struct{})
	e := observed(t, &evertask.Config{Observer: evertask.Observer{Event: func(ev evertask.Event) {
		mu.Lock()
		evs = append(evs, ev)
		mu.Unlock()
		if ev.Type == evertask.EventCompleted {
			close(done)
		}
	}}}, func(context.Context, Greet) error { return nil })
	const delay = 50 * time.Millisecond
	if _, err := e.Dispatch(t.Context(), Greet{}, &evertask.DispatchOpts{Delay: delay}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("no completed event")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(evs) != 2 || evs[0].Type != evertask.EventStarted {
		t.Fatalf("events %v, want started then completed", evs)
	}
	// Waited counts from the due time: a delayed task waits the delay
	// less than its start, never the delay itself.
	if w := evs[0].Waited; w < 0 || w >= delay+5*time.Second {
		t.Errorf("Waited = %s", w)
	}
}

func TestDispatchMetadata(t *testing.T) {
	t.Parallel()
	seen := make(chan map[string]string, 1)
	var dispatched []*evertask.DispatchInfo
	var results []error
	mw := evertask.Middleware{
		Dispatch: func(ctx context.Context, d *evertask.DispatchInfo) func(error) {
			d.Metadata["from"] = "middleware"
			dispatched = append(dispatched, d)
			return func(err error) { results = append(results, err) }
		},
		Attempt: func(next evertask.AttemptFunc) evertask.AttemptFunc {
			return func(ctx context.Context, a *evertask.AttemptInfo) error {
				seen <- a.Metadata
				if evertask.TaskID(ctx) != a.TaskID {
					t.Errorf("the handler's context lost the task's metadata")
				}
				return next(ctx, a)
			}
		},
	}
	e := observed(t, &evertask.Config{Middleware: []evertask.Middleware{mw}}, func(context.Context, Greet) error { return nil })
	user := map[string]string{"tenant": "acme"}
	id, err := e.Dispatch(t.Context(), Greet{}, &evertask.DispatchOpts{Metadata: user})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case md := <-seen:
		if md["tenant"] != "acme" || md["from"] != "middleware" {
			t.Errorf("attempt metadata %v", md)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the task did not run")
	}
	if len(user) != 1 {
		t.Errorf("the caller's map was changed: %v", user)
	}
	if len(dispatched) != 1 || dispatched[0].TaskID != id || len(results) != 1 || results[0] != nil {
		t.Errorf("dispatch middleware calls: %d infos, results %v", len(dispatched), results)
	}

	// Bad metadata is the caller's error, named, and nothing is stored.
	for name, md := range map[string]map[string]string{
		"empty key": {"": "x"},
		"too large": {"k": strings.Repeat("x", store.MaxMetadataBytes+1)},
	} {
		if _, err := e.Dispatch(t.Context(), Greet{}, &evertask.DispatchOpts{Metadata: md}); !errors.Is(err, evertask.ErrInvalidDispatch) {
			t.Errorf("%s: err = %v, want ErrInvalidDispatch", name, err)
		}
	}
}

func TestQueueStatsCountBusyWorkers(t *testing.T) {
	t.Parallel()
	release, started := make(chan struct{}), make(chan struct{}, 8)
	e := observed(t, &evertask.Config{Queues: []evertask.QueueConfig{{Name: evertask.DefaultQueue, Workers: 3, Capacity: 8}}},
		func(context.Context, Greet) error { started <- struct{}{}; <-release; return nil })
	for range 5 {
		if _, err := e.Dispatch(t.Context(), Greet{}, nil); err != nil {
			t.Fatal(err)
		}
	}
	for range 3 {
		<-started
	}
	var def evertask.QueueStats
	for _, q := range e.QueueStats() {
		if q.Name == evertask.DefaultQueue {
			def = q
		}
	}
	if def.Busy != 3 || def.Buffered != 2 || def.Workers != 3 || def.Capacity != 8 {
		t.Errorf("default queue stats %+v, want 3 busy, 2 buffered, 3 workers, capacity 8", def)
	}
	close(release)
	deadline := time.Now().Add(10 * time.Second)
	for {
		busy := 0
		for _, q := range e.QueueStats() {
			busy += q.Busy
		}
		if busy == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d workers still busy after every handler returned", busy)
		}
		time.Sleep(time.Millisecond)
	}
}
