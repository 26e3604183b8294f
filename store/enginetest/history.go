package enginetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/evertask/evertask"
	"github.com/evertask/evertask/internal/taskview"
	"github.com/evertask/evertask/schedule"
	"github.com/evertask/evertask/store"
	"github.com/google/uuid"
)

// failTwice returns a handler that logs and fails its first two attempts
// of each task with "attempt N of task M failed", then succeeds.
func failTwice() *recorder {
	var mu sync.Mutex
	tries := map[int]int{}
	return newRecorder(func(ctx context.Context, j Job) error {
		mu.Lock()
		tries[j.N]++
		n := tries[j.N]
		mu.Unlock()
		evertask.Logger(ctx).Info(fmt.Sprintf("try %d", n))
		if n <= 2 {
			return fmt.Errorf("attempt %d of task %d failed", n, j.N)
		}
		return nil
	})
}

func testHistory(t *testing.T, newStore NewStore) {
	t.Run("RetriedTaskShowsItsFailedAttempts", func(t *testing.T) {
		t.Parallel()
		cfg := &evertask.Config{
			Retry:      evertask.Linear(3, time.Millisecond),
			AuditLevel: evertask.AuditFull,
			LogCapture: evertask.LogCaptureConfig{Enabled: true},
		}
		f := setup(t, newStore, cfg, failTwice(), nil).start()
		id := f.dispatch(Job{N: 7}, nil)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		row, err := f.eng.Wait(ctx, id)
		if err != nil {
			t.Fatalf("Wait: %v", err)
		}
		if row.Status != evertask.StatusCompleted || row.Error != "" {
			t.Fatalf("Wait returned %s %q, want Completed without an error", row.Status, row.Error)
		}
		info, err := f.eng.Task(ctx, id)
		if err != nil {
			t.Fatalf("Task: %v", err)
		}
		if _, ok := f.store.(store.AttemptStore); !ok {
			t.Skipf("%T keeps no attempts (not a store.AttemptStore)", f.store)
		}
		if len(info.Attempts) != 2 {
			t.Fatalf("Task(%s).Attempts = %+v, want the two failed attempts", id, info.Attempts)
		}
		var prev time.Time
		for i, a := range info.Attempts {
			want := fmt.Sprintf("attempt %d of task 7 failed", i+1)
			if a.TaskID != id || a.Run != 1 || a.Number != i+1 || a.Error != want || a.StartedAt.IsZero() ||
				a.StartedAt.Before(prev) || a.Duration < 0 {
				t.Errorf("attempt %d = %+v, want run 1, number %d, error %q, a start after the one before", i, a, i+1, want)
			}
			prev = a.StartedAt
		}
		if info.Status != evertask.StatusCompleted {
			t.Errorf("Task status %s, want Completed", info.Status)
		}
		var statuses []store.Status
		for i := len(info.StatusHistory) - 1; i >= 0; i-- {
			statuses = append(statuses, info.StatusHistory[i].Status)
		}
		if len(statuses) == 0 || statuses[len(statuses)-1] != evertask.StatusCompleted {
			t.Errorf("status history %v does not end Completed", statuses)
		}
		// Describe, without the engine, reads the same.
		described, err := evertask.Describe(ctx, f.store, id)
		if err != nil || len(described.Attempts) != 2 || described.Attempts[1].Error != info.Attempts[1].Error {
			t.Errorf("Describe = %+v, %v; want the same two attempts", described, err)
		}
		// The logs of all three tries, in pages.
		var got []string
		for offset := 0; ; {
			page, err := f.eng.Logs(ctx, store.LogQuery{TaskID: id, Offset: offset, Limit: 2})
			if err != nil {
				t.Fatalf("Logs: %v", err)
			}
			if page.Total != 3 {
				t.Errorf("Logs total = %d, want 3", page.Total)
			}
			for _, l := range page.Logs {
				got = append(got, l.Message)
			}
			offset += len(page.Logs)
			if len(page.Logs) == 0 || offset >= page.Total {
				break
			}
		}
		if strings.Join(got, ",") != "try 1,try 2,try 3" {
			t.Errorf("logs = %q, want the three tries in order", got)
		}
		// What `evertask tasks show` prints.
		var out bytes.Buffer
		if err := taskview.Show(ctx, f.store, id, &out); err != nil {
			t.Fatalf("tasks show: %v", err)
		}
		for _, want := range []string{
			"failed attempts (2, oldest first):",
			"run 1 attempt 1", "attempt 1 of task 7 failed",
			"run 1 attempt 2", "attempt 2 of task 7 failed",
			"status history", "Completed", "logs (3):",
		} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("tasks show lacks %q:\n%s", want, out.String())
			}
		}
	})
	t.Run("LogCapKeepsTheNewestPerTask", func(t *testing.T) {
		t.Parallel()
		var runs counter
		rec := newRecorder(func(ctx context.Context, j Job) error {
			r := runs.inc()
			for l := 1; l <= 2; l++ {
				evertask.Logger(ctx).Info(fmt.Sprintf("run %d line %d", r, l))
			}
			return nil
		})
		cfg := &evertask.Config{LogCapture: evertask.LogCaptureConfig{Enabled: true, MaxPerTask: 3}}
		f := setup(t, newStore, cfg, rec, nil).start()
		s := schedule.EverySeconds(1).StartNow().AtMost(3)
		id := f.dispatch(Job{N: 1}, &evertask.DispatchOpts{Schedule: &s})
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		// Wait covers a series too: it returns once the series ended.
		row, err := f.eng.Wait(ctx, id)
		if err != nil || row.RunCount != 3 {
			t.Fatalf("Wait = %+v, %v; want the series ended after 3 runs", row, err)
		}
		page, err := f.eng.Logs(ctx, store.LogQuery{TaskID: id})
		if err != nil {
			t.Fatalf("Logs: %v", err)
		}
		var got []string
		for _, l := range page.Logs {
			got = append(got, l.Message)
		}
		want := "run 2 line 2,run 3 line 1,run 3 line 2"
		if _, trims := f.store.(store.LogTrimmer); !trims {
			want = "run 1 line 1,run 1 line 2,run 2 line 1" // capped at capture: the newest go
		}
		if strings.Join(got, ",") != want || page.Total != 3 {
			t.Errorf("logs kept = %q (total %d), want %s", got, page.Total, want)
		}
	})
	t.Run("AttemptsAtEveryLevelButNone", func(t *testing.T) {
		t.Parallel()
		if _, ok := newStore(t).(store.AttemptStore); !ok {
			t.Skip("the store keeps no attempts (not a store.AttemptStore)")
		}
		f := setup(t, newStore, &evertask.Config{Retry: evertask.Linear(3, time.Millisecond)}, failTwice(), nil).start()
		ids := map[store.AuditLevel]uuid.UUID{}
		for i, level := range store.AuditLevels {
			ids[level] = f.dispatch(Job{N: i}, &evertask.DispatchOpts{AuditLevel: &level})
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for level, id := range ids {
			if _, err := f.eng.Wait(ctx, id); err != nil {
				t.Fatalf("Wait: %v", err)
			}
			info, err := f.eng.Task(ctx, id)
			if err != nil {
				t.Fatalf("Task: %v", err)
			}
			want := 2
			if level == store.AuditNone {
				want = 0
			}
			if len(info.Attempts) != want {
				t.Errorf("level %v: %d attempts, want %d", level, len(info.Attempts), want)
			}
		}
	})
	t.Run("FailedTaskKeepsEveryAttempt", func(t *testing.T) {
		t.Parallel()
		rec := newRecorder(func(ctx context.Context, j Job) error {
			return fmt.Errorf("failure of attempt %d", evertask.Attempt(ctx))
		})
		f := setup(t, newStore, &evertask.Config{Retry: evertask.Linear(2, time.Millisecond)}, rec, nil).start()
		id := f.dispatch(Job{N: 1}, nil)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		row, err := f.eng.Wait(ctx, id)
		if err != nil || row.Status != evertask.StatusFailed {
			t.Fatalf("Wait = %v, %v; want Failed", row, err)
		}
		if _, ok := f.store.(store.AttemptStore); !ok {
			t.Skipf("%T keeps no attempts", f.store)
		}
		info, err := f.eng.Task(ctx, id)
		if err != nil {
			t.Fatalf("Task: %v", err)
		}
		if len(info.Attempts) != 3 || info.Attempts[2].Error != "failure of attempt 3" {
			t.Errorf("attempts = %+v, want 3 ending with the last failure", info.Attempts)
		}
	})
	t.Run("TimedOutAttemptIsRecorded", func(t *testing.T) {
		t.Parallel()
		rec := newRecorder(func(ctx context.Context, j Job) error {
			<-ctx.Done()
			return ctx.Err()
		})
		f := setup(t, newStore, &evertask.Config{Timeout: 20 * time.Millisecond}, rec, nil).start()
		id := f.dispatch(Job{N: 1}, nil)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if row, err := f.eng.Wait(ctx, id); err != nil || row.Status != evertask.StatusFailed {
			t.Fatalf("Wait = %+v, %v; want Failed", row, err)
		}
		if _, ok := f.store.(store.AttemptStore); !ok {
			t.Skipf("%T keeps no attempts", f.store)
		}
		info, err := f.eng.Task(ctx, id)
		if err != nil {
			t.Fatalf("Task: %v", err)
		}
		if len(info.Attempts) != 1 || !strings.Contains(info.Attempts[0].Error, "timed out") ||
			info.Attempts[0].Duration < 20*time.Millisecond {
			t.Errorf("attempts = %+v, want one timed out after at least 20ms", info.Attempts)
		}
	})
	t.Run("WaitEndsWithItsContextAndOnUnknownIDs", func(t *testing.T) {
		t.Parallel()
		release := make(chan struct{})
		rec := newRecorder(func(ctx context.Context, j Job) error {
			select {
			case <-release:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
		f := setup(t, newStore, nil, rec, nil).start()
		defer close(release)
		id := f.dispatch(Job{N: 1}, nil)
		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			f.waitStatus(id, store.StatusInProgress)
			cancel()
		}()
		if _, err := f.eng.Wait(ctx, id); !errors.Is(err, context.Canceled) {
			t.Errorf("Wait with a cancelled context = %v, want context.Canceled", err)
		}
		if _, err := f.eng.Wait(context.Background(), uuid.New()); !errors.Is(err, evertask.ErrNotFound) {
			t.Errorf("Wait for an unknown id = %v, want ErrNotFound", err)
		}
		// A cancel ends the wait with the Cancelled row.
		done := make(chan error, 1)
		go func() {
			row, err := f.eng.Wait(context.Background(), id)
			if err == nil && row.Status != evertask.StatusCancelled {
				err = fmt.Errorf("status %s", row.Status)
			}
			done <- err
		}()
		if err := f.eng.Cancel(context.Background(), id); err != nil {
			t.Fatalf("Cancel: %v", err)
		}
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Wait after Cancel: %v, want the Cancelled row", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Wait did not return after Cancel")
		}
	})
	t.Run("WaitOnAnEngineThatDoesNotRunTheTask", func(t *testing.T) {
		t.Parallel()
		st := newStore(t)
		f := setupOn(t, st, &evertask.Config{Retry: evertask.Linear(3, time.Millisecond)}, failTwice(), nil).start()
		// A second engine on the same store, never started: it sees no
		// event of the task and finds the outcome in the store.
		other, err := evertask.New(st, &evertask.Config{Logger: quietLogger()})
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		id := f.dispatch(Job{N: 1}, nil)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		row, err := other.Wait(ctx, id)
		if err != nil || row.Status != evertask.StatusCompleted {
			t.Fatalf("Wait on the other engine = %+v, %v; want Completed", row, err)
		}
	})
}
