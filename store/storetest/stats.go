package storetest

import (
	"fmt"
	"sync"
	"time"

	"github.com/evertask/evertask/store"
)

// overviewOp reaches the overview: the store's own Stats or the package
// fallback over List.
type overviewOp func(t tb, s store.Store, p store.OverviewParams) (store.Overview, error)

var directOverview overviewOp = func(t tb, s store.Store, p store.OverviewParams) (store.Overview, error) {
	return s.(store.Stats).Overview(t.Context(), p)
}

var fallbackOverview overviewOp = func(t tb, s store.Store, p store.OverviewParams) (store.Overview, error) {
	return store.GetOverview(t.Context(), coreOnly{s}, p, 0)
}

// statsHour is the first whole hour after base: overview windows start on
// whole minutes.
var statsHour = base.Truncate(time.Hour).Add(time.Hour)

// overviewWant is what one bucket or kind of an overview should hold.
type overviewWant struct {
	completed, failed int
	exec              time.Duration
}

func (w *overviewWant) add(status store.Status, exec time.Duration) {
	switch status {
	case store.StatusCompleted:
		w.completed++
	case store.StatusFailed:
		w.failed++
	default:
		return
	}
	w.exec += exec
}

func (w overviewWant) same(c store.OverviewCount) bool {
	return c.Completed == w.completed && c.Failed == w.failed && c.ExecutionTime == w.exec
}

// checkOverview compares an overview with the expected buckets and kinds.
func checkOverview(t tb, got store.Overview, p store.OverviewParams, buckets []overviewWant, kinds map[string]overviewWant) {
	t.Helper()
	if len(got.Buckets) != len(buckets) {
		t.Fatalf("Overview has %d buckets, want %d", len(got.Buckets), len(buckets))
	}
	for i, b := range got.Buckets {
		start := p.From.UTC().Add(time.Duration(i) * p.Bucket)
		if !b.Start.Equal(start) || b.Start.Location() != time.UTC {
			t.Errorf("bucket %d starts at %v, want %v in UTC", i, b.Start, start)
		}
		if w := buckets[i]; !w.same(b.OverviewCount) {
			t.Errorf("bucket %d = %d completed, %d failed, %v; want %d, %d, %v", i, b.Completed, b.Failed, b.ExecutionTime, w.completed, w.failed, w.exec)
		}
	}
	if len(got.Kinds) != len(kinds) {
		t.Errorf("Overview has kinds %v, want %v", got.Kinds, kinds)
	}
	for k, w := range kinds {
		if g := got.Kinds[k]; !w.same(g) {
			t.Errorf("kind %s = %+v, want %+v", k, g, w)
		}
	}
}

// statsChecks hold for a Stats store's own Overview and for the fallback of
// GetOverview over its rows: each row here ends one execution, so counting
// outcomes and counting rows agree.
func statsChecks(op overviewOp) []check {
	return []check{
		{"AggregatesExecutionsThatEndedInTheWindow", func(t tb, s store.Store) {
			from := statsHour
			p := store.OverviewParams{From: from.In(elsewhere), To: from.Add(6 * time.Hour), Bucket: time.Hour}
			buckets := make([]overviewWant, 6)
			kinds := map[string]overviewWant{}
			ends := []store.Status{store.StatusCompleted, store.StatusFailed, store.StatusServiceStopped,
				store.StatusCancelled, store.StatusQueued, store.StatusCompleted}
			var rows []*store.Task
			var single, batch []store.TransitionParams
			for i := range 120 {
				task := newTask(i + 1)
				task.Kind = fmt.Sprint("kind-", i%4)
				task.Status = store.StatusInProgress
				rows = append(rows, task)
				if i%7 == 3 {
					continue // never ends
				}
				// From 10 minutes before the window to 10 minutes after it,
				// with an end exactly at From (in) and one at To (out).
				now := from.Add(-10*time.Minute + time.Duration(i)*3*time.Minute + time.Duration(i)*time.Microsecond)
				switch i {
				case 0:
					now = p.From
				case 6:
					now = p.To
				}
				tp := store.TransitionParams{ID: task.ID, To: ends[i%len(ends)], From: []store.Status{store.StatusInProgress},
					Now: now, ExecutionTime: time.Duration(i+1) * time.Millisecond, AuditLevel: store.AuditNone}
				if i%2 == 0 {
					single = append(single, tp)
				} else {
					batch = append(batch, tp)
				}
				if now.Before(from) || !now.Before(p.To) {
					continue
				}
				b := int(now.Sub(from) / time.Hour)
				buckets[b].add(tp.To, tp.ExecutionTime)
				k := kinds[task.Kind]
				k.add(tp.To, tp.ExecutionTime)
				kinds[task.Kind] = k
			}
			persistBatches(t, s, rows)
			for _, tp := range single {
				if ok, err := s.Transition(t.Context(), tp); err != nil || !ok {
					t.Fatalf("Transition(%s to %s) = %v, %v", tp.ID, tp.To, ok, err)
				}
			}
			applied, err := store.TransitionMany(t.Context(), s, batch)
			if err != nil {
				t.Fatalf("TransitionMany: %v", err)
			}
			for i, ok := range applied {
				if !ok {
					t.Fatalf("TransitionMany did not apply %s to %s", batch[i].ID, batch[i].To)
				}
			}
			// A write whose condition fails ends nothing: the row is no
			// longer InProgress.
			refused := single[1]
			refused.To, refused.Now = store.StatusCompleted, from.Add(30*time.Minute)
			if ok, err := s.Transition(t.Context(), refused); err != nil || ok {
				t.Fatalf("Transition from InProgress of a %s row = %v, %v; want not applied", single[1].To, ok, err)
			}
			got, err := op(t, s, p)
			if err != nil {
				t.Fatalf("Overview: %v", err)
			}
			checkOverview(t, got, p, buckets, kinds)
			// A window with nothing in it: every bucket empty, none missing.
			empty := store.OverviewParams{From: from.Add(100 * time.Hour), To: from.Add(100*time.Hour + 90*time.Minute), Bucket: 45 * time.Minute}
			got, err = op(t, s, empty)
			if err != nil || len(got.Buckets) != 2 || got.Totals() != (store.OverviewCount{}) || len(got.Kinds) != 0 {
				t.Errorf("empty window = %+v, %v; want two empty buckets", got, err)
			}
		}},
		{"RefusesBadWindows", func(t tb, s store.Store) {
			for name, p := range map[string]store.OverviewParams{
				"to before from":          {From: statsHour.Add(time.Hour), To: statsHour},
				"empty window":            {From: statsHour, To: statsHour},
				"no ends":                 {},
				"too many buckets":        {From: statsHour, To: statsHour.Add(1000 * time.Minute), Bucket: time.Minute},
				"bucket under a minute":   {From: statsHour, To: statsHour.Add(time.Hour), Bucket: time.Second},
				"bucket of 90 seconds":    {From: statsHour, To: statsHour.Add(time.Hour), Bucket: 90 * time.Second},
				"from inside a minute":    {From: statsHour.Add(time.Second), To: statsHour.Add(time.Hour)},
				"to inside a minute":      {From: statsHour, To: statsHour.Add(time.Hour + time.Microsecond)},
				"from is base, unaligned": {From: base, To: base.Add(time.Hour)},
			} {
				_, err := op(t, s, p)
				wantErr(t, "Overview("+name+")", err, store.ErrInvalid)
			}
		}},
	}
}

// statsOwnChecks hold only for a Stats store: they tell counting outcomes as
// they are written from counting the rows that exist.
func statsOwnChecks() []check {
	window := store.OverviewParams{From: statsHour, To: statsHour.Add(time.Hour), Bucket: 10 * time.Minute}
	overview := func(t tb, s store.Store, p store.OverviewParams) *store.Overview {
		t.Helper()
		o, err := s.(store.Stats).Overview(t.Context(), p)
		if err != nil {
			t.Fatalf("Overview: %v", err)
		}
		return &o
	}
	end := func(t tb, s store.Store, task *store.Task, to store.Status, now time.Time, exec time.Duration) {
		t.Helper()
		ok, err := s.Transition(t.Context(), store.TransitionParams{ID: task.ID, To: to, Now: now, ExecutionTime: exec, AuditLevel: store.AuditNone})
		if err != nil || !ok {
			t.Fatalf("Transition(%s to %s) = %v, %v", task.ID, to, ok, err)
		}
	}
	return []check{
		{"EveryRunCountsAndCountsOutliveTheRows", func(t tb, s store.Store) {
			series := recurringTask(1)
			series.Kind = "series"
			oneShot := newTask(2)
			oneShot.Kind = "one-shot"
			oneShot.Status = store.StatusInProgress
			persist(t, s, series, oneShot)
			buckets := make([]overviewWant, 6)
			runs := map[string]overviewWant{}
			for i, outcome := range []store.Status{store.StatusCompleted, store.StatusFailed, store.StatusCompleted} {
				if i > 0 { // the next occurrence starts
					end(t, s, series, store.StatusInProgress, statsHour.Add(time.Duration(i)*20*time.Minute), 0)
				}
				now := statsHour.Add(time.Duration(i)*20*time.Minute + 5*time.Minute)
				exec := time.Duration(i+1) * time.Second
				ok, err := store.CompleteRecurringRun(t.Context(), s, store.RunParams{ID: series.ID, Now: now, Status: outcome,
					Error: "e", ExecutionTime: exec, NextRunAt: now.Add(time.Minute), AuditLevel: store.AuditNone})
				if err != nil || !ok {
					t.Fatalf("CompleteRecurringRun %d = %v, %v", i, ok, err)
				}
				buckets[i*2].add(outcome, exec)
				w := runs["series"]
				w.add(outcome, exec)
				runs["series"] = w
			}
			// A one-shot row that failed, was retried, then completed: two
			// outcomes, both counted, and still counted once the row is gone.
			end(t, s, oneShot, store.StatusFailed, statsHour.Add(31*time.Minute), time.Millisecond)
			end(t, s, oneShot, store.StatusInProgress, statsHour.Add(32*time.Minute), 0)
			end(t, s, oneShot, store.StatusCompleted, statsHour.Add(33*time.Minute), 2*time.Millisecond)
			buckets[3].add(store.StatusFailed, time.Millisecond)
			buckets[3].add(store.StatusCompleted, 2*time.Millisecond)
			runs["one-shot"] = overviewWant{completed: 1, failed: 1, exec: 3 * time.Millisecond}
			if err := s.Remove(t.Context(), oneShot.ID); err != nil {
				t.Fatalf("Remove: %v", err)
			}
			checkOverview(t, *overview(t, s, window), window, buckets, runs)
		}},
		{"WrittenOutcomesCountNothing", func(t tb, s store.Store) {
			// Rows persisted with an outcome in them are not executions that
			// ended here (an import, a copy): a store that counts rows instead
			// of outcomes fails this.
			var rows []*store.Task
			for i := range 10 {
				task := newTask(i + 1)
				task.Status = store.StatusCompleted
				task.LastExecutionAt = statsHour.Add(time.Duration(i) * time.Minute)
				task.ExecutionTime = time.Second
				rows = append(rows, task)
			}
			persistBatches(t, s, rows)
			if got := overview(t, s, window); got.Totals() != (store.OverviewCount{}) || len(got.Kinds) != 0 {
				t.Errorf("overview after persisting finished rows = %+v, want empty", got)
			}
		}},
		{"ConcurrentEndsAllCount", func(t tb, s store.Store) {
			// Eight writers end 400 executions of one kind in one minute,
			// one by one and in batches: a counter that loses an update
			// (read, add, write back without a lock) fails this.
			const writers, each = 8, 50
			var rows []*store.Task
			for i := range writers * each {
				task := newTask(i + 1)
				task.Status = store.StatusInProgress
				rows = append(rows, task)
			}
			persistBatches(t, s, rows)
			now := statsHour.Add(7 * time.Minute)
			var wg sync.WaitGroup
			errs := make(chan error, writers)
			for w := range writers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					mine := rows[w*each : (w+1)*each]
					for i := 0; i < len(mine); {
						n := 1 + i%7 // batches of 1 to 7
						var ps []store.TransitionParams
						for _, task := range mine[i:min(i+n, len(mine))] {
							ps = append(ps, store.TransitionParams{ID: task.ID, To: store.StatusCompleted,
								From: []store.Status{store.StatusInProgress}, Now: now, ExecutionTime: time.Microsecond, AuditLevel: store.AuditNone})
						}
						if _, err := store.TransitionMany(t.Context(), s, ps); err != nil {
							errs <- err
							return
						}
						i += len(ps)
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatalf("TransitionMany: %v", err)
			}
			got := overview(t, s, window).Totals()
			if want := (store.OverviewCount{Completed: writers * each, ExecutionTime: writers * each * time.Microsecond}); got != want {
				t.Errorf("totals after %d concurrent ends = %+v, want %+v", writers*each, got, want)
			}
		}},
		{"PurgeDeletesOldCounters", func(t tb, s store.Store) {
			r, ok := s.(store.Retainer)
			if !ok {
				t.Skipf("the store does not implement Retainer")
			}
			old, recent := newTask(1), newTask(2)
			old.Status, recent.Status = store.StatusInProgress, store.StatusInProgress
			persist(t, s, old, recent)
			end(t, s, old, store.StatusCompleted, statsHour.Add(time.Minute), time.Second)
			end(t, s, recent, store.StatusCompleted, statsHour.Add(48*time.Hour+time.Minute), time.Second)
			// The cut is at the old counter's minute plus a microsecond:
			// that minute started before it, so it goes.
			res, err := r.Purge(t.Context(), store.RetentionPolicy{Now: statsHour.Add(24*time.Hour + time.Minute + time.Microsecond), StatsAge: 24 * time.Hour})
			if err != nil || res.Stats < 1 || res.Tasks != 0 {
				t.Fatalf("Purge(StatsAge) = %+v, %v; want counters deleted and no task", res, err)
			}
			if got := overview(t, s, window).Totals(); got != (store.OverviewCount{}) {
				t.Errorf("old window after purge = %+v, want empty", got)
			}
			late := store.OverviewParams{From: statsHour.Add(48 * time.Hour), To: statsHour.Add(49 * time.Hour)}
			if got := overview(t, s, late).Totals(); got.Completed != 1 {
				t.Errorf("recent window after purge = %+v, want its one completion", got)
			}
			// A minute that starts exactly at the cut stays.
			res, err = r.Purge(t.Context(), store.RetentionPolicy{Now: statsHour.Add(72*time.Hour + time.Minute), StatsAge: 24 * time.Hour})
			if err != nil || res.Stats != 0 {
				t.Errorf("Purge with the cut at a counter's minute = %+v, %v; want nothing deleted", res, err)
			}
			if got := overview(t, s, late).Totals(); got.Completed != 1 {
				t.Errorf("window at the cut after purge = %+v, want its one completion", got)
			}
		}},
	}
}

func statsFallbackChecks() []check {
	return []check{
		{"BoundedScanSaysWhatItRead", func(t tb, s store.Store) {
			var rows []*store.Task
			for i := range 30 {
				task := newTask(i + 1)
				task.Status = store.StatusCompleted
				task.CreatedAt = at(time.Duration(i) * time.Millisecond)
				task.LastExecutionAt = statsHour.Add(time.Minute)
				rows = append(rows, task)
			}
			persistBatches(t, s, rows)
			p := store.OverviewParams{From: statsHour, To: statsHour.Add(time.Hour)}
			full, err := store.GetOverview(t.Context(), coreOnly{s}, p, 0)
			if err != nil || full.Totals().Completed != 30 || full.Partial || full.Scanned != 30 {
				t.Errorf("fallback over 30 rows = %+v, %v", full, err)
			}
		}},
	}
}
