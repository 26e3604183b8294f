package enginetest

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/evertask/evertask"
	"github.com/evertask/evertask/store"
)

func testLifecycle(t *testing.T, newStore NewStore) {
	f := setup(t, newStore, nil, nil, nil).start()
	id := f.dispatch(Job{N: 1}, nil)
	row := f.waitStatus(id, store.StatusCompleted)
	if row.Kind != (Job{}).Kind() || row.Queue != evertask.DefaultQueue || string(row.Payload) != `{"n":1}` {
		t.Errorf("row = kind %q queue %q payload %s", row.Kind, row.Queue, row.Payload)
	}
	if row.LastExecutionAt.IsZero() || row.Error != "" || row.AuditLevel != store.AuditFull {
		t.Errorf("row = last %v error %q level %v", row.LastExecutionAt, row.Error, row.AuditLevel)
	}
	// A clean one-shot at Full: Queued, InProgress, Completed (reference 15).
	waitFor(t, 5*time.Second, "3 audits", func() bool { return len(f.statusAudits(id)) == 3 })
	got := f.statusAudits(id)
	want := []store.Status{store.StatusQueued, store.StatusInProgress, store.StatusCompleted}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("audits = %v, want %v", got, want)
		}
	}
	if c := f.rec.callsOf(1); c != 1 {
		t.Errorf("handler ran %d times, want 1", c)
	}
	waitFor(t, time.Second, "OnStarted and OnCompleted", func() bool {
		f.rec.mu.Lock()
		defer f.rec.mu.Unlock()
		return f.rec.started == 1 && f.rec.completed == 1
	})
}

func testDelayed(t *testing.T, newStore NewStore) {
	f := setup(t, newStore, nil, nil, nil).start()
	start := time.Now()
	delayed := f.dispatch(Job{N: 1}, &evertask.DispatchOpts{Delay: 150 * time.Millisecond})
	at := f.dispatch(Job{N: 2}, &evertask.DispatchOpts{RunAt: start.Add(100 * time.Millisecond)})
	past := f.dispatch(Job{N: 3}, &evertask.DispatchOpts{RunAt: start.Add(-time.Hour)})

	row := f.get(delayed)
	// A loaded machine may take longer than the delay to get here; the row
	// is then rightly past WaitingQueue, and only its time is checked.
	if row.ScheduledAt.IsZero() || (row.Status != store.StatusWaitingQueue && time.Since(start) < 100*time.Millisecond) {
		t.Fatalf("delayed row = %s scheduled %v, want WaitingQueue with a time", row.Status, row.ScheduledAt)
	}
	f.waitStatus(past, store.StatusCompleted)
	f.waitStatus(at, store.StatusCompleted)
	f.waitStatus(delayed, store.StatusCompleted)
	if el := time.Since(start); el < 150*time.Millisecond {
		t.Errorf("delayed task done after %s, before its delay", el)
	}
	if _, err := f.eng.Dispatch(context.Background(), Job{}, &evertask.DispatchOpts{Delay: time.Second, RunAt: start}); !errors.Is(err, evertask.ErrInvalidDispatch) {
		t.Errorf("Delay and RunAt together: err = %v, want ErrInvalidDispatch", err)
	}
}

type temporaryError struct{ msg string }

func (e *temporaryError) Error() string { return e.msg }

func testRetry(t *testing.T, newStore NewStore) {
	t.Run("RetriesThenSucceeds", func(t *testing.T) {
		t.Parallel()
		var c counter
		rec := newRecorder(func(context.Context, Job) error {
			if c.inc() < 3 {
				return errBoom
			}
			return nil
		})
		f := setup(t, newStore, &evertask.Config{Retry: evertask.Linear(3, time.Millisecond)}, rec, nil).start()
		id := f.dispatch(Job{N: 1}, nil)
		f.waitStatus(id, store.StatusCompleted)
		if c.get() != 3 {
			t.Errorf("ran %d times, want 3", c.get())
		}
		f.rec.mu.Lock()
		defer f.rec.mu.Unlock()
		if len(f.rec.retries) != 2 || f.rec.retries[0] != 1 || f.rec.retries[1] != 2 {
			t.Errorf("OnRetry attempts = %v, want [1 2]", f.rec.retries)
		}
	})
	t.Run("ExhaustedStoresEveryAttemptAndOnErrorGetsTheRealError", func(t *testing.T) {
		t.Parallel()
		var c counter
		rec := newRecorder(func(context.Context, Job) error {
			n := c.inc()
			return &temporaryError{msg: "failure " + string(rune('0'+n))}
		})
		f := setup(t, newStore, &evertask.Config{Retry: evertask.LinearDelays(time.Millisecond, time.Millisecond)}, rec, nil).start()
		id := f.dispatch(Job{N: 1}, nil)
		row := f.waitStatus(id, store.StatusFailed)
		for _, want := range []string{"attempt 1: failure 1", "attempt 2: failure 2", "attempt 3: failure 3"} {
			if !strings.Contains(row.Error, want) {
				t.Errorf("stored error %q lacks %q", row.Error, want)
			}
		}
		waitFor(t, time.Second, "OnError", func() bool { return len(rec.errors()) == 1 })
		var te *temporaryError
		if err := rec.errors()[0]; !errors.As(err, &te) || te.msg != "failure 3" {
			t.Errorf("OnError got %T %v, want the last *temporaryError itself", err, err)
		}
		if _, isAgg := rec.errors()[0].(*evertask.AttemptsError); isAgg {
			t.Error("OnError got the aggregate, want the real error (bug 60)")
		}
	})
	t.Run("FiltersAndPermanent", func(t *testing.T) {
		t.Parallel()
		errTransient := errors.New("transient")
		cases := []struct {
			name   string
			policy evertask.RetryPolicy
			err    error
			runs   int64
		}{
			{"OnlyMatches", evertask.Linear(2, time.Millisecond).Only(evertask.Is(errTransient)), errTransient, 3},
			{"OnlyOther", evertask.Linear(2, time.Millisecond).Only(evertask.Is(errTransient)), errBoom, 1},
			{"OnlyByType", evertask.Linear(2, time.Millisecond).Only(evertask.As[*temporaryError]()), &temporaryError{"x"}, 3},
			{"ExceptMatches", evertask.Linear(2, time.Millisecond).Except(evertask.Is(errBoom)), errBoom, 1},
			{"ExceptOther", evertask.Linear(2, time.Millisecond).Except(evertask.Is(errBoom)), errTransient, 3},
			{"Predicate", evertask.Linear(2, time.Millisecond).If(func(err error) bool { return err == errTransient }), errTransient, 3},
			{"PermanentNeverRetried", evertask.Linear(2, time.Millisecond), evertask.Permanent(errTransient), 1},
			{"CanceledNeverRetried", evertask.Linear(2, time.Millisecond), context.Canceled, 1},
			{"Exponential", evertask.Exponential(2, time.Millisecond, 4*time.Millisecond), errBoom, 3},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				var c counter
				rec := newRecorder(func(context.Context, Job) error { c.inc(); return tc.err })
				f := setup(t, newStore, &evertask.Config{Retry: tc.policy}, rec, nil).start()
				id := f.dispatch(Job{N: 1}, nil)
				f.waitStatus(id, store.StatusFailed)
				if c.get() != tc.runs {
					t.Errorf("ran %d times, want %d", c.get(), tc.runs)
				}
			})
		}
	})
	t.Run("HandlerPolicyWinsOverEngine", func(t *testing.T) {
		t.Parallel()
		var c counter
		rec := newRecorder(func(context.Context, Job) error { c.inc(); return errBoom })
		f := setup(t, newStore, &evertask.Config{Retry: evertask.Linear(5, time.Millisecond)}, rec,
			&evertask.HandlerOpts{Retry: evertask.Linear(1, time.Millisecond)}).start()
		f.waitStatus(f.dispatch(Job{N: 1}, nil), store.StatusFailed)
		if c.get() != 2 {
			t.Errorf("ran %d times, want 2 (handler policy)", c.get())
		}
	})
}

func testTimeout(t *testing.T, newStore NewStore) {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	rec := newRecorder(func(ctx context.Context, j Job) error {
		if j.N == 1 {
			<-release // ignores its context on purpose
		}
		return nil
	})
	f := setup(t, newStore, &evertask.Config{Workers: 1}, rec, &evertask.HandlerOpts{Timeout: 50 * time.Millisecond}).start()
	stuck := f.dispatch(Job{N: 1}, nil)
	row := f.waitStatus(stuck, store.StatusFailed)
	if !strings.Contains(row.Error, "timed out") {
		t.Errorf("error = %q, want a timeout", row.Error)
	}
	// The single worker stopped waiting, so the next task runs.
	f.waitStatus(f.dispatch(Job{N: 2}, nil), store.StatusCompleted)
	waitFor(t, time.Second, "OnError", func() bool { return len(rec.errors()) == 1 })
	if err := rec.errors()[0]; !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("OnError got %v, want a DeadlineExceeded", err)
	}
}

func testPanic(t *testing.T, newStore NewStore) {
	rec := newRecorder(func(_ context.Context, j Job) error {
		if j.N == 1 {
			panic("handler exploded")
		}
		return nil
	})
	f := setup(t, newStore, &evertask.Config{Workers: 1}, rec, nil).start()
	row := f.waitStatus(f.dispatch(Job{N: 1}, nil), store.StatusFailed)
	if !strings.Contains(row.Error, "handler exploded") || !strings.Contains(row.Error, "goroutine") {
		t.Errorf("error = %q, want the panic value and its stack", row.Error)
	}
	f.waitStatus(f.dispatch(Job{N: 2}, nil), store.StatusCompleted)
}

type lossy struct {
	Public  int `json:"public"`
	private int
}

func (lossy) Kind() string { return "enginetest.lossy" }

func testRegistration(t *testing.T, newStore NewStore) {
	f := setup(t, newStore, nil, nil, nil)
	if err := evertask.Register[Job](f.eng, newRecorder(nil), nil); !errors.Is(err, evertask.ErrDuplicateHandler) {
		t.Errorf("second Register: %v, want ErrDuplicateHandler", err)
	}
	if _, err := f.eng.Dispatch(context.Background(), Other{N: 1}, nil); !errors.Is(err, evertask.ErrUnknownKind) {
		t.Errorf("Dispatch of unregistered kind: %v, want ErrUnknownKind", err)
	}
	if err := evertask.Register[Other](f.eng, evertask.HandlerFunc[Other](func(context.Context, Other) error { return nil }),
		&evertask.HandlerOpts{Queue: "nope"}); !errors.Is(err, evertask.ErrConfig) {
		t.Errorf("Register with unknown queue: %v, want ErrConfig", err)
	}
	if err := evertask.Register[lossy](f.eng, evertask.HandlerFunc[lossy](func(context.Context, lossy) error { return nil }), nil); err != nil {
		t.Fatal(err)
	}
	// An unexported field does not survive the store: refused at dispatch.
	if _, err := f.eng.Dispatch(context.Background(), lossy{Public: 1, private: 2}, nil); !errors.Is(err, evertask.ErrPayload) {
		t.Errorf("lossy payload: %v, want ErrPayload", err)
	}
	if _, err := f.eng.Dispatch(context.Background(), lossy{Public: 1}, nil); err != nil {
		t.Errorf("round-tripping payload: %v", err)
	}
	if _, err := f.eng.Dispatch(context.Background(), Job{}, &evertask.DispatchOpts{Key: strings.Repeat("k", 201)}); !errors.Is(err, evertask.ErrInvalidDispatch) {
		t.Errorf("201-byte key: %v, want ErrInvalidDispatch", err)
	}
	if _, err := f.eng.Dispatch(context.Background(), Job{}, &evertask.DispatchOpts{Queue: "nope"}); !errors.Is(err, evertask.ErrInvalidDispatch) {
		t.Errorf("unknown queue: %v, want ErrInvalidDispatch", err)
	}
	for name, cfg := range map[string]*evertask.Config{
		"ZeroWorkersQueue": {Queues: []evertask.QueueConfig{{Name: "q"}}},
		"NegativeWorkers":  {Workers: -1},
		"NoName":           {Queues: []evertask.QueueConfig{{Workers: 1}}},
		"BadAudit":         {AuditLevel: 9},
	} {
		if _, err := evertask.New(f.store, cfg); !errors.Is(err, evertask.ErrConfig) {
			t.Errorf("%s: New: %v, want ErrConfig", name, err)
		}
	}
	if _, err := evertask.New(nil, nil); !errors.Is(err, evertask.ErrConfig) {
		t.Errorf("nil store: %v, want ErrConfig", err)
	}
}

func testEvents(t *testing.T, newStore NewStore) {
	rec := newRecorder(func(_ context.Context, j Job) error {
		if j.N == 2 {
			return evertask.Permanent(errBoom)
		}
		return nil
	})
	f := setup(t, newStore, &evertask.Config{Workers: 1}, rec, nil)
	events, unsubscribe := f.eng.Subscribe(100)
	defer unsubscribe()
	slow, unsubscribeSlow := f.eng.Subscribe(1) // never read: must not slow anything
	defer unsubscribeSlow()
	_ = slow
	f.start()
	ok := f.dispatch(Job{N: 1}, nil)
	bad := f.dispatch(Job{N: 2}, nil)
	f.waitStatus(bad, store.StatusFailed)
	seen := map[evertask.EventType]int{}
	deadline := time.After(5 * time.Second)
	for seen[evertask.EventCompleted] < 1 || seen[evertask.EventFailed] < 1 {
		select {
		case ev := <-events:
			seen[ev.Type]++
			if ev.Type == evertask.EventCompleted && ev.TaskID != ok {
				t.Errorf("completed event for %s, want %s", ev.TaskID, ok)
			}
			if ev.Type == evertask.EventFailed && (ev.TaskID != bad || !errors.Is(ev.Err, errBoom)) {
				t.Errorf("failed event = %+v", ev)
			}
		case <-deadline:
			t.Fatalf("events seen: %v", seen)
		}
	}
	if seen[evertask.EventStarted] != 2 {
		t.Errorf("started events = %d, want 2", seen[evertask.EventStarted])
	}
	if f.eng.DroppedEvents() == 0 {
		t.Error("the slow subscriber dropped nothing; want its losses counted")
	}
}

func testAuditLevels(t *testing.T, newStore NewStore) {
	none, minimal := store.AuditNone, store.AuditMinimal
	rec := newRecorder(func(_ context.Context, j Job) error {
		if j.N == 3 {
			return errBoom
		}
		return nil
	})
	f := setup(t, newStore, &evertask.Config{AuditLevel: store.AuditErrorsOnly}, rec, &evertask.HandlerOpts{AuditLevel: &minimal}).start()
	byKind := f.dispatch(Job{N: 1}, nil)
	byDispatch := f.dispatch(Job{N: 2}, &evertask.DispatchOpts{AuditLevel: &none})
	failed := f.dispatch(Job{N: 3}, nil)
	if row := f.waitStatus(byKind, store.StatusCompleted); row.AuditLevel != store.AuditMinimal {
		t.Errorf("kind level: stored %v, want minimal", row.AuditLevel)
	}
	if row := f.waitStatus(byDispatch, store.StatusCompleted); row.AuditLevel != store.AuditNone {
		t.Errorf("dispatch level: stored %v, want none", row.AuditLevel)
	}
	f.waitStatus(failed, store.StatusFailed)
	if a := f.statusAudits(byKind); len(a) != 0 {
		t.Errorf("minimal success wrote audits %v", a)
	}
	if a := f.statusAudits(failed); len(a) != 1 || a[0] != store.StatusFailed {
		t.Errorf("minimal failure audits = %v, want [Failed]", a)
	}
}

func testDispatchMany(t *testing.T, newStore NewStore) {
	f := setup(t, newStore, nil, nil, nil).start()
	tasks := make([]evertask.Task, 50)
	for i := range tasks {
		tasks[i] = Job{N: i}
	}
	ids, err := f.eng.DispatchMany(context.Background(), tasks, nil)
	if err != nil || len(ids) != 50 {
		t.Fatalf("DispatchMany = %d ids, %v", len(ids), err)
	}
	for _, id := range ids {
		f.waitStatus(id, store.StatusCompleted)
	}
	if _, err := f.eng.DispatchMany(context.Background(), tasks, &evertask.DispatchOpts{Key: "k"}); !errors.Is(err, evertask.ErrInvalidDispatch) {
		t.Errorf("DispatchMany with a key: %v", err)
	}
	if _, err := f.eng.DispatchMany(context.Background(), []evertask.Task{Job{}, Other{}}, nil); !errors.Is(err, evertask.ErrUnknownKind) {
		t.Errorf("DispatchMany with an unknown kind: %v", err)
	}
}

func testLogCapture(t *testing.T, newStore NewStore) {
	rec := newRecorder(func(ctx context.Context, j Job) error {
		log := evertask.Logger(ctx)
		for i := range j.N {
			log.Info("step", "i", i)
		}
		log.Debug("below the minimum level")
		dangling := []any{"dangling"}
		log.Info("malformed call", dangling...) // a key without a value must not fail the task
		log.Error("with an error", "err", errBoom)
		if j.Note == "fail" {
			return evertask.Permanent(errBoom)
		}
		return nil
	})
	f := setup(t, newStore, &evertask.Config{LogCapture: evertask.LogCaptureConfig{Enabled: true, MaxPerExecution: 5}}, rec, nil).start()
	small := f.dispatch(Job{N: 2}, nil)
	big := f.dispatch(Job{N: 20}, nil)
	failed := f.dispatch(Job{N: 1, Note: "fail"}, nil)
	f.waitStatus(small, store.StatusCompleted)
	f.waitStatus(big, store.StatusCompleted)
	f.waitStatus(failed, store.StatusFailed)
	logsOf := func(id uuid.UUID) []store.ExecutionLog {
		t.Helper()
		var logs []store.ExecutionLog
		waitFor(t, 5*time.Second, "logs", func() bool {
			var err error
			logs, err = f.store.Logs(context.Background(), id)
			return err == nil && len(logs) > 0
		})
		return logs
	}
	l := logsOf(small)
	if len(l) != 4 || !strings.HasPrefix(l[0].Message, "step i=0") || l[3].Level != slog.LevelError.String() || !strings.Contains(l[3].ErrorDetails, "boom") {
		t.Errorf("small logs = %+v", l)
	}
	l = logsOf(big)
	if len(l) != 6 || !strings.Contains(l[5].Message, "truncated") {
		t.Errorf("capped logs: %d records, last %q; want 5 and one truncation marker", len(l), l[len(l)-1].Message)
	}
	if l = logsOf(failed); len(l) != 3 {
		t.Errorf("failed task logs = %d, want 3 (persisted after a failure too)", len(l))
	}
}
