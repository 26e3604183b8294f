package enginetest

import (
	"context"
	"encoding/hex"
	"errors"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/evertask/evertask"
	"github.com/evertask/evertask/inspect"
	"github.com/evertask/evertask/schedule"
	"github.com/evertask/evertask/store"
)

// testInspect checks the operator's actions of package inspect against
// live engines: the inspector writes only to the store, and the nodes act
// on it.
func testInspect(t *testing.T, newStore NewStore) {
	probe := newStore(t)
	if _, ok := probe.(store.Cluster); !ok {
		t.Skipf("%T does not implement store.Cluster: an engine alone does not look at the store for work an inspector makes due", probe)
	}
	full := store.AuditFull
	cfgFor := func(node string) *evertask.Config {
		return &evertask.Config{Workers: 2, AuditLevel: full, Cluster: fastCluster(node)}
	}

	t.Run("RetryRunsAFailedTaskAgainAndKeepsItsHistory", func(t *testing.T) {
		t.Parallel()
		st := newStore(t)
		var fail atomic.Bool
		fail.Store(true)
		rec := newRecorder(func(ctx context.Context, j Job) error {
			if fail.Load() {
				return errors.New("boom")
			}
			return nil
		})
		a := setupOn(t, st, cfgFor("a"), rec, nil).start()
		b := setupOn(t, st, cfgFor("b"), rec, nil).start()
		in := inspect.New(st, nil)
		id := a.dispatch(Job{N: 1}, nil)
		a.waitStatus(id, store.StatusFailed)
		if err := in.Retry(t.Context(), uuid.New()); !errors.Is(err, inspect.ErrNotFound) {
			t.Errorf("Retry of an unknown id = %v, want ErrNotFound", err)
		}
		fail.Store(false)
		// Stop the node that ran it: the other one takes the retry.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := a.eng.Shutdown(ctx); err != nil {
			t.Fatal(err)
		}
		if err := in.Retry(t.Context(), id); err != nil {
			t.Fatalf("Retry: %v", err)
		}
		row := b.waitStatus(id, store.StatusCompleted)
		if row.Error != "" {
			t.Errorf("retried task that succeeded still has error %q", row.Error)
		}
		if got := rec.callsOf(1); got != 2 {
			t.Errorf("handler ran %d times, want 2 (the failure and the retry)", got)
		}
		hist := b.statusAudits(id)
		want := []store.Status{store.StatusFailed, store.StatusQueued, store.StatusInProgress, store.StatusCompleted}
		if len(hist) < len(want) || !slices.Equal(hist[len(hist)-len(want):], want) {
			t.Errorf("status history %v, want it to end %v (the failure kept)", hist, want)
		}
		if err := in.Retry(t.Context(), id); !errors.Is(err, inspect.ErrStatus) {
			t.Errorf("Retry of a Completed task = %v, want ErrStatus", err)
		}
	})

	t.Run("RunNowRunsAScheduledTask", func(t *testing.T) {
		t.Parallel()
		st := newStore(t)
		a := setupOn(t, st, cfgFor("a"), nil, nil).start()
		in := inspect.New(st, nil)
		id := a.dispatch(Job{N: 1}, &evertask.DispatchOpts{Delay: time.Hour})
		if err := in.RunNow(t.Context(), id); err != nil {
			t.Fatalf("RunNow: %v", err)
		}
		a.waitStatus(id, store.StatusCompleted)
		if err := in.RunNow(t.Context(), id); !errors.Is(err, inspect.ErrStatus) {
			t.Errorf("RunNow of a Completed one-shot task = %v, want ErrStatus", err)
		}
	})

	t.Run("RunNowRunsTheNextOccurrenceOfASeries", func(t *testing.T) {
		t.Parallel()
		st := newStore(t)
		a := setupOn(t, st, cfgFor("a"), nil, nil).start()
		in := inspect.New(st, nil)
		sched := schedule.EveryHour().StartAt(time.Now().Add(time.Hour))
		id := a.dispatch(Job{N: 1}, &evertask.DispatchOpts{Schedule: &sched})
		if err := in.RunNow(t.Context(), id); err != nil {
			t.Fatalf("RunNow: %v", err)
		}
		var row *store.Task
		waitFor(t, 10*time.Second, "the series to count a run", func() bool {
			r, err := st.Get(context.Background(), id)
			row = r
			return err == nil && r.RunCount == 1 && r.Status != store.StatusInProgress
		})
		if row.NextRunAt.Before(time.Now().Add(30 * time.Minute)) {
			t.Errorf("after RunNow the series' next run is %v, want about an hour away", row.NextRunAt)
		}
	})

	t.Run("CancelStopsTheHandlerOnItsNode", func(t *testing.T) {
		t.Parallel()
		st := newStore(t)
		started := make(chan struct{}, 1)
		rec := newRecorder(func(ctx context.Context, j Job) error {
			started <- struct{}{}
			<-ctx.Done()
			return ctx.Err()
		})
		a := setupOn(t, st, cfgFor("a"), rec, nil).start()
		in := inspect.New(st, nil)
		id := a.dispatch(Job{N: 1}, nil)
		<-started
		if err := in.Cancel(t.Context(), id); err != nil {
			t.Fatalf("Cancel: %v", err)
		}
		waitFor(t, 5*time.Second, "the handler to stop", func() bool { return len(rec.errors()) > 0 })
		a.waitStatus(id, store.StatusCancelled)
		if err := in.Cancel(t.Context(), id); err != nil {
			t.Errorf("Cancel of a cancelled task = %v, want nil", err)
		}
	})

	t.Run("DeleteOnlyFinished", func(t *testing.T) {
		t.Parallel()
		st := newStore(t)
		a := setupOn(t, st, cfgFor("a"), nil, nil).start()
		in := inspect.New(st, nil)
		done := a.dispatch(Job{N: 1}, nil)
		later := a.dispatch(Job{N: 2}, &evertask.DispatchOpts{Delay: time.Hour})
		a.waitStatus(done, store.StatusCompleted)
		if err := in.Delete(t.Context(), later); !errors.Is(err, inspect.ErrStatus) {
			t.Errorf("Delete of a waiting task = %v, want ErrStatus", err)
		}
		if err := in.Delete(t.Context(), done); err != nil {
			t.Fatalf("Delete of a Completed task: %v", err)
		}
		if _, err := st.Get(t.Context(), done); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Get after Delete = %v, want ErrNotFound", err)
		}
		if err := in.Cancel(t.Context(), later); err != nil {
			t.Fatal(err)
		}
		if err := in.Delete(t.Context(), later); err != nil {
			t.Errorf("Delete of a cancelled task: %v", err)
		}
	})

	t.Run("FindByPrefixAndSuffix", func(t *testing.T) {
		t.Parallel()
		st := newStore(t)
		a := setupOn(t, st, cfgFor("a"), nil, nil)
		in := inspect.New(st, nil)
		// Not started: the rows stay as dispatched.
		if err := a.eng.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		x := a.dispatch(Job{N: 1}, &evertask.DispatchOpts{Delay: time.Hour})
		y := a.dispatch(Job{N: 2}, &evertask.DispatchOpts{Delay: time.Hour})
		hx, hy := hex.EncodeToString(x[:]), hex.EncodeToString(y[:])
		s := x.String()
		// Ids of one process differ within their first 16 digits (the
		// millisecond and a counter), but tasks made in the same minute
		// share their first 8 or more.
		common := 0
		for common < 32 && hx[common] == hy[common] {
			common++
		}
		unique := hx[:max(common+1, inspect.MinPrefixLength)]
		for _, q := range []string{s, hx, s[:23], unique, "…" + s[len(s)-8:], "..." + s[len(s)-6:]} {
			got, err := in.Find(t.Context(), q)
			if err != nil || got.ID != x {
				t.Errorf("Find(%q) = %v, %v; want %s", q, got, err, x)
			}
		}
		if common >= inspect.MinPrefixLength {
			if _, err := in.Find(t.Context(), hx[:common]); !errors.Is(err, inspect.ErrAmbiguous) {
				t.Errorf("Find of a prefix both ids share = %v, want ErrAmbiguous", err)
			}
		}
		for _, q := range []string{"", "abc", "zzzzzzzzzz", "…12", s + "0"} {
			if _, err := in.Find(t.Context(), q); !errors.Is(err, inspect.ErrBadID) {
				t.Errorf("Find(%q) = %v, want ErrBadID", q, err)
			}
		}
		if _, err := in.Find(t.Context(), "00000000-0000"); !errors.Is(err, inspect.ErrNotFound) {
			t.Errorf("Find of a prefix nobody has = %v, want ErrNotFound", err)
		}
	})
}
