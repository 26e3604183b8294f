package evertask

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/evertask/evertask/store"
	"github.com/evertask/evertask/store/memstore"
)

// fakeClock is the engine's clock in the retention test, moved only by the
// test.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// Retention runs on its own, driven only by a fake clock: the engine asks to
// sleep, the test moves the clock by that much and lets it go on; each sweep
// leaves exactly what the policy keeps, at the cutoff to the microsecond.
func TestRetentionRunsOnItsOwn(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t0 := time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := &fakeClock{now: t0}
	t1 := t0.Add(retentionFirstSweep) // the first sweep's Now
	st := memstore.New()

	n := 0
	row := func(status store.Status, recurring bool, last time.Time) uuid.UUID {
		n++
		task := &store.Task{ID: uuid.New(), CreatedAt: t0.Add(-1000 * time.Hour).Add(time.Duration(n) * time.Microsecond),
			Kind: "k", Payload: []byte(`{}`), Queue: DefaultQueue, Status: status, Recurring: recurring,
			LastExecutionAt: last, AuditLevel: AuditFull}
		if recurring {
			task.Schedule, task.ScheduleInfo, task.NextRunAt = []byte(`{}`), "every hour", t0.Add(time.Hour)
		}
		if err := st.Persist(ctx, task); err != nil {
			t.Fatal(err)
		}
		return task.ID
	}
	const us = time.Microsecond
	policy := store.RetentionPolicy{StatusAuditAge: 10 * time.Hour, LogAge: 5 * time.Hour,
		CompletedTaskAge: 48 * time.Hour, FailedTaskAge: 24 * time.Hour}
	doneOld := row(StatusCompleted, false, t1.Add(-48*time.Hour-us))
	doneAtCut := row(StatusCompleted, false, t1.Add(-48*time.Hour))
	failedOld := row(StatusFailed, false, t1.Add(-24*time.Hour-us))
	failedNew := row(StatusFailed, false, t1.Add(-24*time.Hour+us))
	// A series between two runs: nothing of the engine touches it (its
	// next run is due after the store's real clock reaches 2100).
	series := row(StatusCompleted, true, time.Time{})
	// Status audits, attempts and logs of the series at cut-1µs, cut and
	// cut+1µs of their rules.
	for i, d := range []time.Duration{-us, 0, us} {
		at := t1.Add(-10 * time.Hour).Add(d)
		if _, err := st.Transition(ctx, store.TransitionParams{ID: series, To: StatusCompleted, Now: at}); err != nil {
			t.Fatal(err)
		}
		if _, err := st.RecordAttempt(ctx, store.AttemptParams{AuditLevel: AuditFull,
			Attempt: store.Attempt{TaskID: series, Run: 1, Number: i + 1, StartedAt: at, Error: "boom"}}); err != nil {
			t.Fatal(err)
		}
		l := store.ExecutionLog{ID: uuid.Must(uuid.NewV7()), TaskID: series, At: t1.Add(-5 * time.Hour).Add(d),
			Level: "INFO", Message: fmt.Sprint("log ", i), Seq: i}
		if err := st.SaveLogs(ctx, series, []store.ExecutionLog{l}); err != nil {
			t.Fatal(err)
		}
	}

	eng, err := New(st, &Config{Now: clock.Now, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Retention: RetentionConfig{Policy: policy, Interval: 6 * time.Hour, BatchSize: 1}})
	if err != nil {
		t.Fatal(err)
	}
	asked := make(chan time.Duration)
	proceed := make(chan struct{})
	sweeps := make(chan store.PurgeResult)
	eng.retention.wait = func(ctx context.Context, d time.Duration) bool {
		select {
		case asked <- d:
		case <-ctx.Done():
			return false
		}
		select {
		case <-proceed:
			return true
		case <-ctx.Done():
			return false
		}
	}
	eng.retention.swept = func(res store.PurgeResult, ran bool, err error) {
		if err != nil || !ran {
			t.Errorf("sweep: ran %v, err %v", ran, err)
		}
		sweeps <- res
	}
	if err := eng.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer eng.Shutdown(ctx)

	cycle := func(want time.Duration) store.PurgeResult {
		t.Helper()
		select {
		case d := <-asked:
			if d != want {
				t.Fatalf("the runner sleeps %s, want %s", d, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the retention runner never asked to sleep")
		}
		clock.advance(want)
		proceed <- struct{}{}
		select {
		case res := <-sweeps:
			return res
		case <-time.After(10 * time.Second):
			t.Fatal("no sweep after the clock moved")
		}
		return store.PurgeResult{}
	}
	exists := func(id uuid.UUID) bool {
		_, err := st.Get(ctx, id)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			t.Fatal(err)
		}
		return err == nil
	}

	res := cycle(retentionFirstSweep)
	if want := (store.PurgeResult{Tasks: 2, StatusAudits: 1, Attempts: 1, Logs: 1}); res != want {
		t.Errorf("first sweep deleted %+v, want %+v", res, want)
	}
	for id, want := range map[uuid.UUID]bool{doneOld: false, doneAtCut: true, failedOld: false, failedNew: true, series: true} {
		if exists(id) != want {
			t.Errorf("after the first sweep, task %s exists = %v, want %v", id, !want, want)
		}
	}
	info, err := eng.Task(ctx, series)
	if err != nil {
		t.Fatal(err)
	}
	if len(info.StatusHistory) != 2 || len(info.Attempts) != 2 || info.Attempts[0].Number != 2 {
		t.Errorf("series keeps %d status audits and attempts %+v, want 2 and 2 (those at and after the cut)",
			len(info.StatusHistory), info.Attempts)
	}
	page, err := eng.Logs(ctx, store.LogQuery{TaskID: series})
	if err != nil || page.Total != 2 || page.Logs[0].Message != "log 1" {
		t.Errorf("series keeps logs %+v (%v), want log 1 and log 2", page.Logs, err)
	}

	// Six hours later everything above is older than its rule, but the
	// recurring row itself.
	res = cycle(6 * time.Hour)
	if want := (store.PurgeResult{Tasks: 2, StatusAudits: 2, Attempts: 2, Logs: 2}); res != want {
		t.Errorf("second sweep deleted %+v, want %+v", res, want)
	}
	if exists(doneAtCut) || exists(failedNew) || !exists(series) {
		t.Errorf("after the second sweep: the finished tasks must be gone, the series kept")
	}
}

func TestRetentionConfig(t *testing.T) {
	t.Parallel()
	on := RetentionConfig{Policy: store.RetentionPolicy{LogAge: time.Hour}}
	if _, err := New(coreStore{memstore.New()}, &Config{Retention: on}); !errors.Is(err, ErrConfig) ||
		!strings.Contains(err.Error(), "Retainer") {
		t.Errorf("Retention on a store without Purge: %v, want ErrConfig naming store.Retainer", err)
	}
	if _, err := New(coreStore{memstore.New()}, nil); err != nil {
		t.Errorf("no Retention on a store without Purge: %v", err)
	}
	for _, bad := range []RetentionConfig{{Interval: -1}, {BatchSize: -1}} {
		if _, err := New(memstore.New(), &Config{Retention: bad}); !errors.Is(err, ErrConfig) {
			t.Errorf("Retention %+v: %v, want ErrConfig", bad, err)
		}
	}
	e, err := New(memstore.New(), &Config{Retention: on})
	if err != nil {
		t.Fatal(err)
	}
	if e.cfg.Retention.Interval != time.Hour || e.cfg.Retention.BatchSize != store.DefaultPurgeBatch {
		t.Errorf("defaults: %+v", e.cfg.Retention)
	}
}

// In a cluster the live node with the smallest id sweeps.
func TestRetentionSweeper(t *testing.T) {
	t.Parallel()
	nodes := []store.Node{{ID: "b"}, {ID: "a", Gone: true}, {ID: "c"}}
	for self, want := range map[string]bool{"a": false, "b": true, "c": false, "d": false} {
		if got := sweeper(nodes, self); got != want {
			t.Errorf("sweeper(%q) = %v, want %v", self, got, want)
		}
	}
}

// coreStore hides every optional capability of the store it wraps.
type coreStore struct{ store.Store }

type logJob struct {
	Lines int `json:"lines"`
}

func (logJob) Kind() string { return "test.log" }

// A store without store.LogTrimmer gets the cap at capture: only what fits
// is stored, the newest records are the ones dropped.
func TestLogCapWithoutTrimmer(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := coreStore{memstore.New()}
	e, err := New(st, &Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		LogCapture: LogCaptureConfig{Enabled: true, MaxPerTask: 2}})
	if err != nil {
		t.Fatal(err)
	}
	if err := Register(e, HandlerFunc[logJob](func(ctx context.Context, j logJob) error {
		for i := range j.Lines {
			Logger(ctx).Info(fmt.Sprint("line ", i))
		}
		return nil
	}), nil); err != nil {
		t.Fatal(err)
	}
	if err := e.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer e.Shutdown(ctx)
	id, err := e.Dispatch(ctx, logJob{Lines: 3}, nil)
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := e.Wait(wctx, id); err != nil {
		t.Fatal(err)
	}
	page, err := e.Logs(ctx, store.LogQuery{TaskID: id})
	if err != nil || page.Total != 2 || page.Logs[0].Message != "line 0" || page.Logs[1].Message != "line 1" {
		t.Errorf("logs = %+v (%v), want line 0 and line 1", page.Logs, err)
	}
}

// TestRetentionStatsAgeAloneTurnsItOn: a policy that only bounds the
// overview's counters still runs sweeps.
func TestRetentionStatsAgeAloneTurnsItOn(t *testing.T) {
	c := RetentionConfig{Policy: store.RetentionPolicy{StatsAge: 90 * 24 * time.Hour}}
	if !c.enabled() {
		t.Error("a policy with only StatsAge is not enabled")
	}
}
