package storetest

import (
	"fmt"
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

func statsChecks(op overviewOp) []check {
	return []check{
		{"AggregatesFinishedExecutionsOfTheWindow", func(t tb, s store.Store) {
			from := at(time.Hour).Truncate(time.Hour)
			p := store.OverviewParams{From: from.In(elsewhere), To: from.Add(6 * time.Hour), Bucket: time.Hour}
			type want struct {
				completed, failed int
				exec              time.Duration
			}
			buckets := make([]want, 6)
			kinds := map[string]want{}
			var rows []*store.Task
			statuses := []store.Status{store.StatusCompleted, store.StatusFailed, store.StatusServiceStopped,
				store.StatusCancelled, store.StatusInProgress, store.StatusCompleted}
			for i := range 120 {
				task := newTask(i + 1)
				task.Kind = fmt.Sprint("kind-", i%4)
				task.Status = statuses[i%len(statuses)]
				task.CreatedAt = at(time.Duration(i) * time.Millisecond)
				// From 10 minutes before the window to 10 minutes after it,
				// with rows exactly at From (in) and at To (out).
				switch i {
				case 0:
					task.LastExecutionAt = p.From
				case 6:
					task.LastExecutionAt = p.To
				default:
					task.LastExecutionAt = from.Add(-10*time.Minute + time.Duration(i)*3*time.Minute + time.Duration(i)*time.Microsecond)
				}
				task.ExecutionTime = time.Duration(i+1) * time.Millisecond
				if i%7 == 3 {
					task.LastExecutionAt = time.Time{} // never ran
				}
				rows = append(rows, task)
				le := task.LastExecutionAt
				if le.IsZero() || le.Before(from) || !le.Before(p.To) {
					continue
				}
				var c want
				switch task.Status {
				case store.StatusCompleted:
					c.completed = 1
				case store.StatusFailed:
					c.failed = 1
				default:
					continue
				}
				c.exec = task.ExecutionTime
				b := int(le.Sub(from) / time.Hour)
				buckets[b].completed += c.completed
				buckets[b].failed += c.failed
				buckets[b].exec += c.exec
				k := kinds[task.Kind]
				k.completed += c.completed
				k.failed += c.failed
				k.exec += c.exec
				kinds[task.Kind] = k
			}
			persistBatches(t, s, rows)
			got, err := op(t, s, p)
			if err != nil {
				t.Fatalf("Overview: %v", err)
			}
			if len(got.Buckets) != 6 {
				t.Fatalf("Overview has %d buckets, want 6", len(got.Buckets))
			}
			for i, b := range got.Buckets {
				w := buckets[i]
				if !b.Start.Equal(from.Add(time.Duration(i)*time.Hour)) || b.Start.Location() != time.UTC {
					t.Errorf("bucket %d starts at %v, want %v in UTC", i, b.Start, from.Add(time.Duration(i)*time.Hour))
				}
				if b.Completed != w.completed || b.Failed != w.failed || b.ExecutionTime != w.exec {
					t.Errorf("bucket %d = %d completed, %d failed, %v; want %d, %d, %v", i, b.Completed, b.Failed, b.ExecutionTime, w.completed, w.failed, w.exec)
				}
			}
			if len(got.Kinds) != len(kinds) {
				t.Errorf("Overview has kinds %v, want %v", got.Kinds, kinds)
			}
			for k, w := range kinds {
				g := got.Kinds[k]
				if g.Completed != w.completed || g.Failed != w.failed || g.ExecutionTime != w.exec {
					t.Errorf("kind %s = %+v, want %+v", k, g, w)
				}
			}
			// A window with nothing in it: every bucket empty, none missing.
			empty, err := op(t, s, store.OverviewParams{From: at(100 * time.Hour), To: at(100*time.Hour + 90*time.Minute)})
			if err != nil || len(empty.Buckets) != 2 || empty.Totals() != (store.OverviewCount{}) || len(empty.Kinds) != 0 {
				t.Errorf("empty window = %+v, %v; want two empty hourly buckets", empty, err)
			}
		}},
		{"RefusesBadWindows", func(t tb, s store.Store) {
			for name, p := range map[string]store.OverviewParams{
				"to before from":   {From: at(time.Hour), To: at(0)},
				"empty window":     {From: at(0), To: at(0)},
				"no ends":          {},
				"too many buckets": {From: at(0), To: at(2000 * time.Second), Bucket: time.Second},
				"tiny bucket":      {From: at(0), To: at(time.Hour), Bucket: time.Millisecond},
			} {
				_, err := op(t, s, p)
				wantErr(t, "Overview("+name+")", err, store.ErrInvalid)
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
				task.LastExecutionAt = at(time.Minute)
				rows = append(rows, task)
			}
			persistBatches(t, s, rows)
			p := store.OverviewParams{From: at(0), To: at(time.Hour)}
			full, err := store.GetOverview(t.Context(), coreOnly{s}, p, 0)
			if err != nil || full.Totals().Completed != 30 || full.Partial || full.Scanned != 30 {
				t.Errorf("fallback over 30 rows = %+v, %v", full, err)
			}
		}},
	}
}
