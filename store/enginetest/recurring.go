package enginetest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/evertask/evertask"
	"github.com/evertask/evertask/schedule"
	"github.com/evertask/evertask/store"
)

func testRecurring(t *testing.T, newStore NewStore) {
	every := func(d time.Duration) *schedule.Schedule {
		s := schedule.EverySeconds(int(d / time.Second)).StartNow()
		return &s
	}
	t.Run("MaxRunsRunsExactly", func(t *testing.T) {
		t.Parallel()
		f := setup(t, newStore, nil, nil, nil).start()
		s := every(time.Second).AtMost(3)
		id := f.dispatch(Job{N: 1}, &evertask.DispatchOpts{Schedule: &s})
		row := f.get(id)
		if !row.Recurring || row.Queue != evertask.RecurringQueue || row.MaxRuns != 3 || row.ScheduleInfo == "" {
			t.Fatalf("row = recurring %v queue %q max %d info %q", row.Recurring, row.Queue, row.MaxRuns, row.ScheduleInfo)
		}
		waitFor(t, 10*time.Second, "3 runs", func() bool {
			r := f.get(id)
			return r.RunCount == 3 && r.NextRunAt.IsZero() && r.Status == store.StatusCompleted
		})
		never(t, 1200*time.Millisecond, "a 4th run", func() bool { return f.rec.callsOf(1) > 3 })
		runs, err := f.store.RunsAudits(context.Background(), id)
		if err != nil || len(runs) != 3 {
			t.Errorf("runs audits = %d (%v), want 3", len(runs), err)
		}
	})
	t.Run("FailedRunDoesNotEndTheSeries", func(t *testing.T) {
		t.Parallel()
		var c counter
		rec := newRecorder(func(context.Context, Job) error {
			if c.inc() == 1 {
				return evertask.Permanent(errBoom)
			}
			return nil
		})
		f := setup(t, newStore, nil, rec, nil).start()
		s := every(time.Second).AtMost(2)
		id := f.dispatch(Job{N: 1}, &evertask.DispatchOpts{Schedule: &s})
		waitFor(t, 10*time.Second, "2 runs", func() bool { return f.get(id).RunCount == 2 })
		if row := f.get(id); row.Status != store.StatusCompleted || row.Error != "" {
			t.Errorf("after a failed then a good run: %s %q", row.Status, row.Error)
		}
	})
	t.Run("CancelStopsTheSeriesForGood", func(t *testing.T) {
		t.Parallel()
		st := newStore(t)
		f := setupOn(t, st, nil, nil, nil).start()
		id := f.dispatch(Job{N: 1}, &evertask.DispatchOpts{Schedule: every(time.Second), Key: "series"})
		waitFor(t, 5*time.Second, "first run", func() bool { return f.get(id).RunCount == 1 })
		if err := f.eng.Cancel(context.Background(), id); err != nil {
			t.Fatal(err)
		}
		_ = f.eng.Shutdown(context.Background())
		// A restart, and re-registration by key, leave it cancelled.
		g := setupOn(t, st, nil, newRecorder(nil), nil).start()
		again := g.dispatch(Job{N: 1}, &evertask.DispatchOpts{Schedule: every(time.Second), Key: "series"})
		if again != id {
			t.Errorf("re-registration made a new row %s", again)
		}
		never(t, 1500*time.Millisecond, "a cancelled series ran again", func() bool { return g.rec.totalCalls() > 0 })
		if row := g.get(id); row.Status != store.StatusCancelled {
			t.Errorf("status %s, want Cancelled", row.Status)
		}
	})
	t.Run("ReRegistrationKeepsOneRowAndItsCount", func(t *testing.T) {
		t.Parallel()
		f := setup(t, newStore, nil, nil, nil).start()
		first := f.dispatch(Job{N: 1}, &evertask.DispatchOpts{Schedule: every(time.Second), Key: "daily-report"})
		waitFor(t, 5*time.Second, "first run", func() bool { return f.get(first).RunCount >= 1 })
		s := schedule.EverySeconds(1)
		second := f.dispatch(Job{N: 2}, &evertask.DispatchOpts{Schedule: &s, Key: "daily-report"})
		if first != second {
			t.Fatalf("re-registration gave %s, want %s", second, first)
		}
		if row := f.get(first); row.RunCount < 1 || string(row.Payload) != `{"n":2}` {
			t.Errorf("after re-registration: runs %d payload %s", row.RunCount, row.Payload)
		}
		// A one-shot dispatch never turns the series into a one-shot.
		if id := f.dispatch(Job{N: 3}, &evertask.DispatchOpts{Key: "daily-report"}); id != first || !f.get(first).Recurring {
			t.Error("a one-shot dispatch converted the series")
		}
	})
	t.Run("RecoveryKeepsAFutureNextRun", func(t *testing.T) {
		t.Parallel()
		st := newStore(t)
		s := schedule.EverySeconds(3600)
		raw, _ := s.Encode()
		next := time.Now().Add(300 * time.Millisecond)
		row := seed(t, st, func(r *store.Task) {
			r.Recurring, r.Schedule, r.NextRunAt, r.Status, r.Queue = true, raw, next, store.StatusCompleted, evertask.RecurringQueue
			r.RunCount = 4
		})
		f := setupOn(t, st, nil, nil, nil).start()
		waitFor(t, 5*time.Second, "the stored next run", func() bool { return f.get(row.ID).RunCount == 5 })
		if f.rec.totalCalls() != 1 {
			t.Errorf("ran %d times, want 1", f.rec.totalCalls())
		}
		got := f.get(row.ID)
		if want := store.NormalizeTime(next.Add(time.Hour)); !got.NextRunAt.Equal(want) {
			t.Errorf("next run %v, want %v (drift-free from the stored slot)", got.NextRunAt, want)
		}
	})
	t.Run("DowntimeOneMissedRunsOnceManyMissedSkip", func(t *testing.T) {
		t.Parallel()
		st := newStore(t)
		s := schedule.EverySeconds(2)
		raw, _ := s.Encode()
		now := time.Now()
		one := seed(t, st, func(r *store.Task) {
			r.Recurring, r.Schedule, r.Status, r.Queue = true, raw, store.StatusCompleted, evertask.RecurringQueue
			r.NextRunAt = now.Add(-time.Second) // its successor is after now
			r.Payload = []byte(`{"n":1}`)
		})
		many := seed(t, st, func(r *store.Task) {
			r.Recurring, r.Schedule, r.Status, r.Queue = true, raw, store.StatusCompleted, evertask.RecurringQueue
			r.NextRunAt = now.Add(-7 * time.Second) // four missed; next on the grid: now+1s
			r.Payload = []byte(`{"n":2}`)
		})
		f := setupOn(t, st, nil, nil, nil).start()
		waitFor(t, 2*time.Second, "the one missed occurrence", func() bool { return f.get(one.ID).RunCount == 1 })
		if c := f.rec.callsOf(2); c != 0 {
			t.Errorf("several missed occurrences ran %d times at once (catch-up burst)", c)
		}
		waitFor(t, 5*time.Second, "the next occurrence on the grid", func() bool { return f.get(many.ID).RunCount == 1 })
		if el := time.Since(now); el < 900*time.Millisecond {
			t.Errorf("skipped series ran after %s, before its next slot", el)
		}
	})
	t.Run("ReRegistrationRacingRecoveryRunsNoOccurrenceTwice", func(t *testing.T) {
		t.Parallel()
		// The startup pattern: recovery queues a due series while the
		// application registers it again by key.
		st := newStore(t)
		// Occurrences 2 s apart, and a duplicate is two starts less than
		// 1 s apart: a run delayed by a loaded machine (up to 1 s) is not
		// mistaken for a second run of one occurrence.
		s := schedule.EverySeconds(2)
		raw, _ := s.Encode()
		row := seed(t, st, func(r *store.Task) {
			r.Recurring, r.Schedule, r.Status, r.Queue, r.Key = true, raw, store.StatusCompleted, evertask.RecurringQueue, "heartbeat"
			r.NextRunAt = time.Now().Add(-100 * time.Millisecond)
		})
		var mu sync.Mutex
		var starts []time.Time
		rec := newRecorder(func(context.Context, Job) error {
			mu.Lock()
			starts = append(starts, time.Now())
			mu.Unlock()
			return nil
		})
		f := setupOn(t, st, nil, rec, nil)
		for range 3 {
			f.dispatch(Job{N: 1}, &evertask.DispatchOpts{Schedule: &s, Key: "heartbeat"}) // before Start
		}
		f.start()
		for range 3 {
			f.dispatch(Job{N: 1}, &evertask.DispatchOpts{Schedule: &s, Key: "heartbeat"}) // racing recovery
		}
		// Three runs (the overdue one and two more), then a little longer
		// so a duplicate of the last one would be seen too.
		deadline := time.Now().Add(30 * time.Second)
		for {
			mu.Lock()
			n := len(starts)
			mu.Unlock()
			if n >= 3 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d runs in 30 s, want 3", n)
			}
			time.Sleep(20 * time.Millisecond)
		}
		time.Sleep(time.Second)
		mu.Lock()
		defer mu.Unlock()
		for i := 1; i < len(starts); i++ {
			if gap := starts[i].Sub(starts[i-1]); gap < time.Second {
				t.Errorf("runs %d and %d only %s apart: an occurrence ran twice", i, i+1, gap)
			}
		}
		if got := f.get(row.ID).RunCount; got != len(starts) || got < 3 {
			t.Errorf("run count %d, executions %d; want equal and at least 3", got, len(starts))
		}
	})
	t.Run("UnreadableScheduleIsPoisonedNotDemoted", func(t *testing.T) {
		t.Parallel()
		st := newStore(t)
		row := seed(t, st, func(r *store.Task) {
			r.Recurring, r.Schedule, r.Status = true, []byte(`{"every":-3,"unit":"fortnight"}`), store.StatusCompleted
			r.NextRunAt = time.Now().Add(-time.Second)
		})
		f := setupOn(t, st, nil, nil, nil).start()
		got := f.waitStatus(row.ID, store.StatusFailed)
		if !got.NextRunAt.IsZero() || !got.Recurring {
			t.Errorf("poisoned series: next %v recurring %v; want next cleared, still recurring", got.NextRunAt, got.Recurring)
		}
		if f.rec.totalCalls() != 0 {
			t.Error("a series with an unreadable schedule ran")
		}
	})
}
