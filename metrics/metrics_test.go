package metrics_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/goleak"

	"github.com/evertask/evertask"
	"github.com/evertask/evertask/inspect"
	"github.com/evertask/evertask/metrics"
	"github.com/evertask/evertask/store"
	"github.com/evertask/evertask/store/memstore"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type job struct {
	Fail bool `json:"fail"`
}

func (job) Kind() string { return "metrics.job" }

// setup returns an engine over st that reports to a fresh registry.
func setup(t *testing.T, st store.Store, cfg *evertask.Config, h evertask.HandlerFunc[job]) (*evertask.Engine, *prometheus.Registry, *metrics.Metrics) {
	t.Helper()
	reg := prometheus.NewRegistry()
	m, err := metrics.New(&metrics.Config{Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	if cfg == nil {
		cfg = &evertask.Config{}
	}
	cfg.Logger = slog.New(slog.DiscardHandler)
	cfg.Observer = m.Observer()
	e, err := evertask.New(st, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := evertask.Register[job](e, h, &evertask.HandlerOpts{Retry: evertask.Linear(3, time.Millisecond)}); err != nil {
		t.Fatal(err)
	}
	m.Watch(e)
	if err := e.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		e.Shutdown(ctx)
	})
	return e, reg, m
}

// value reads one sample of the registry: a counter's or gauge's value, or
// a histogram's sample count. ok is false when no such series exists.
func value(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) (float64, bool) {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
	metric:
		for _, m := range f.GetMetric() {
			have := map[string]string{}
			for _, l := range m.GetLabel() {
				have[l.GetName()] = l.GetValue()
			}
			for k, v := range labels {
				if have[k] != v {
					continue metric
				}
			}
			switch f.GetType() {
			case dto.MetricType_COUNTER:
				return m.GetCounter().GetValue(), true
			case dto.MetricType_GAUGE:
				return m.GetGauge().GetValue(), true
			case dto.MetricType_HISTOGRAM:
				return float64(m.GetHistogram().GetSampleCount()), true
			}
		}
	}
	return 0, false
}

func want(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string, w float64) {
	t.Helper()
	got, ok := value(t, reg, name, labels)
	if !ok {
		t.Errorf("%s%v: no such series", name, labels)
		return
	}
	if got != w {
		t.Errorf("%s%v = %v, want %v", name, labels, got, w)
	}
}

// waitFor polls cond until it holds or 10 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestOutcomesRetriesAndHistograms(t *testing.T) {
	t.Parallel()
	e, reg, _ := setup(t, memstore.New(), nil, func(ctx context.Context, j job) error {
		if j.Fail {
			return errors.New("boom")
		}
		return nil
	})
	ends, unsub := e.Subscribe(64)
	defer unsub()
	ctx := t.Context()
	for range 3 {
		if _, err := e.Dispatch(ctx, job{}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.Dispatch(ctx, job{Fail: true}, nil); err != nil {
		t.Fatal(err)
	}
	// A delayed task waits from its due time, not from its dispatch.
	if _, err := e.Dispatch(ctx, job{}, &evertask.DispatchOpts{Delay: 30 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	finals := 0
	for finals < 5 {
		select {
		case ev := <-ends:
			if ev.Type == evertask.EventCompleted || ev.Type == evertask.EventFailed {
				finals++
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%d of 5 tasks ended", finals)
		}
	}
	k := map[string]string{"queue": "default", "kind": "metrics.job"}
	with := func(extra ...string) map[string]string {
		out := map[string]string{"queue": "default", "kind": "metrics.job"}
		for i := 0; i < len(extra); i += 2 {
			out[extra[i]] = extra[i+1]
		}
		return out
	}
	want(t, reg, "evertask_tasks_started_total", k, 5)
	want(t, reg, "evertask_tasks_total", with("outcome", "completed"), 4)
	want(t, reg, "evertask_tasks_total", with("outcome", "failed"), 1)
	// Linear(3, ...) retries the failing task three times.
	want(t, reg, "evertask_task_retries_total", k, 3)
	want(t, reg, "evertask_task_execution_seconds", k, 5)
	want(t, reg, "evertask_task_wait_seconds", k, 5)
	if _, ok := value(t, reg, "evertask_tasks_total", with("outcome", "timed_out")); ok {
		t.Error("a series for an outcome that never happened")
	}
	want(t, reg, "evertask_queue_workers", map[string]string{"queue": "default"}, float64(max(4, 2*runtimeCPUs())))
}

func TestQueueGaugesReadTheEngine(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	var running atomic.Int32
	cfg := &evertask.Config{Queues: []evertask.QueueConfig{{Name: "default", Workers: 2, Capacity: 10}}}
	e, reg, _ := setup(t, memstore.New(), cfg, func(ctx context.Context, j job) error {
		running.Add(1)
		<-release
		return nil
	})
	defer close(release)
	for range 5 {
		if _, err := e.Dispatch(t.Context(), job{}, nil); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "two running handlers", func() bool { return running.Load() == 2 })
	q := map[string]string{"queue": "default"}
	want(t, reg, "evertask_queue_busy_workers", q, 2)
	want(t, reg, "evertask_queue_depth", q, 3)
	want(t, reg, "evertask_queue_workers", q, 2)
	want(t, reg, "evertask_queue_paused", q, 0)
}

func TestPausedQueueGauge(t *testing.T) {
	t.Parallel()
	st := memstore.New()
	e, reg, _ := setup(t, st, nil, func(context.Context, job) error { return nil })
	if err := inspect.New(st, nil).PauseQueue(t.Context(), "default"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the engine to see the pause", func() bool { return e.QueuePaused("default") })
	want(t, reg, "evertask_queue_paused", map[string]string{"queue": "default"}, 1)
	want(t, reg, "evertask_queue_paused", map[string]string{"queue": "recurring"}, 0)
}

// failingStore fails the Persist calls it is told to, as a store that
// lost its server does.
type failingStore struct {
	store.Store
	fail atomic.Int32
}

func (s *failingStore) Persist(ctx context.Context, t *store.Task) error {
	if s.fail.Add(-1) >= 0 {
		return store.ErrUnavailable
	}
	return s.Store.Persist(ctx, t)
}

func TestStoreErrors(t *testing.T) {
	t.Parallel()
	st := &failingStore{Store: memstore.New()}
	st.fail.Store(2)
	e, reg, _ := setup(t, st, nil, func(context.Context, job) error { return nil })
	for range 3 {
		e.Dispatch(t.Context(), job{}, nil)
	}
	want(t, reg, "evertask_store_errors_total", map[string]string{"op": "persist"}, 2)
}

func TestLeaseTakeOver(t *testing.T) {
	t.Parallel()
	st := memstore.New()
	ctx := t.Context()
	// A node that is gone left a task claimed under a short lease.
	row := &store.Task{ID: evertaskID(t), CreatedAt: time.Now(), Kind: "metrics.job", Payload: []byte(`{}`),
		Queue: "default", Status: store.StatusQueued}
	if err := st.Persist(ctx, row); err != nil {
		t.Fatal(err)
	}
	res, err := st.Claim(ctx, store.ClaimParams{Owner: "ghost", Queue: "default", Limit: 1, LeaseFor: 20 * time.Millisecond, Now: time.Now()})
	if err != nil || len(res.Tasks) != 1 {
		t.Fatalf("claim as ghost: %v, %d tasks", err, len(res.Tasks))
	}
	done := make(chan struct{}, 1)
	cfg := &evertask.Config{Cluster: evertask.ClusterConfig{LeaseDuration: time.Second, PollInterval: 10 * time.Millisecond}}
	_, reg, _ := setup(t, st, cfg, func(context.Context, job) error { done <- struct{}{}; return nil })
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the ghost's task never ran")
	}
	want(t, reg, "evertask_lease_takeovers_total", map[string]string{"queue": "default"}, 1)
}

func TestSecondMetricsOnOneRegistryIsAnError(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	if _, err := metrics.New(&metrics.Config{Registerer: reg}); err != nil {
		t.Fatal(err)
	}
	if _, err := metrics.New(&metrics.Config{Registerer: reg}); err == nil {
		t.Fatal("a second Metrics with the same names registered")
	}
	if _, err := metrics.New(&metrics.Config{Registerer: reg, Namespace: "other"}); err != nil {
		t.Fatalf("a second Metrics under another namespace: %v", err)
	}
}

func TestHandlerServesTextFormat(t *testing.T) {
	t.Parallel()
	e, reg, _ := setup(t, memstore.New(), nil, func(context.Context, job) error { return nil })
	_ = e
	srv := httptest.NewServer(metrics.Handler(reg))
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.Contains(string(body), "evertask_queue_workers{queue=\"default\"}") {
		t.Fatalf("status %d, body:\n%s", resp.StatusCode, body)
	}
}
