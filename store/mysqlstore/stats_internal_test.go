package mysqlstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/evertask/evertask/internal/testenv"
	"github.com/evertask/evertask/store"
)

// TestOverviewPlan loads rows that finished over two days and checks that
// the overview reads overview_idx alone ("Using index": no row of the
// table fetched) and returns what the rows say. With
// EVERTASK_MYSQLSTORE_OVERVIEW_ROWS=N it loads N rows instead and logs the
// time of the 24-hour overview, as a measurement tool:
//
//	EVERTASK_MYSQLSTORE_OVERVIEW_ROWS=100000 go test -run TestOverviewPlan -v ./store/mysqlstore/
func TestOverviewPlan(t *testing.T) {
	t.Parallel()
	n := 2000
	measure := false
	if v := os.Getenv("EVERTASK_MYSQLSTORE_OVERVIEW_ROWS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 100 {
			t.Fatalf("EVERTASK_MYSQLSTORE_OVERVIEW_ROWS=%q: want a count of at least 100", v)
		}
		measure = true
	}
	db := testenv.MySQLDB(t, 2)
	ctx := t.Context()
	b := make([]byte, 6)
	rand.Read(b)
	database := "et_overview_" + hex.EncodeToString(b)
	t.Cleanup(func() { db.ExecContext(context.Background(), "DROP DATABASE IF EXISTS `"+database+"`") })
	s, err := New(ctx, db, &Config{Database: database})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	// Rows created over two days, one in 10 never ran (Queued), the others
	// finished a second after their creation: 4 in 5 Completed, 1 in 5
	// Failed, over 8 kinds. The window is the second day.
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	step := 48 * time.Hour / time.Duration(n)
	window := store.OverviewParams{From: base.Add(24 * time.Hour), To: base.Add(48 * time.Hour)}
	var want store.OverviewCount
	started := time.Now()
	for lo := 0; lo < n; lo += 1000 {
		rows := make([]*store.Task, 0, 1000)
		for i := lo; i < min(n, lo+1000); i++ {
			task := &store.Task{ID: uuid.Must(uuid.NewV7()), CreatedAt: base.Add(time.Duration(i) * step),
				Kind: fmt.Sprint("kind-", i%8), Queue: "default", Status: store.StatusCompleted,
				Payload: []byte(`{"n":1}`), ExecutionTime: time.Duration(i%1000+1) * time.Millisecond}
			switch {
			case i%10 == 0:
				task.Status = store.StatusQueued
			case i%5 == 1:
				task.Status = store.StatusFailed
			}
			if task.Status != store.StatusQueued {
				task.LastExecutionAt = task.CreatedAt.Add(time.Second)
				if window.InWindow(task) {
					c := store.OverviewCount{Completed: 1, ExecutionTime: task.ExecutionTime}
					if task.Status == store.StatusFailed {
						c = store.OverviewCount{Failed: 1, ExecutionTime: task.ExecutionTime}
					}
					want.Add(c)
				}
			}
			rows = append(rows, task)
		}
		if err := s.PersistMany(ctx, rows); err != nil {
			t.Fatal(err)
		}
	}
	loaded := time.Since(started)
	if _, err := db.ExecContext(ctx, "ANALYZE TABLE "+s.n.tasks); err != nil {
		t.Fatal(err)
	}

	p := window
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	from := ts(p.From)
	got, err := db.QueryContext(ctx, "EXPLAIN "+s.n.fill(sqlOverview), from, p.Bucket.Microseconds(), from, ts(p.To))
	if err != nil {
		t.Fatal(err)
	}
	cols, _ := got.Columns()
	var plan []string
	for got.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := got.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		m := map[string]string{}
		for i, c := range cols {
			if b, ok := vals[i].([]byte); ok {
				m[c] = string(b)
			} else if vals[i] != nil {
				m[c] = fmt.Sprint(vals[i])
			}
		}
		if m["key"] != "overview_idx" || !slices.Contains(strings.Split(m["Extra"], "; "), "Using index") {
			t.Errorf("overview plan %v: want a range of overview_idx read alone (Using index)", m)
		}
		plan = append(plan, fmt.Sprint(m))
	}
	if err := got.Err(); err != nil {
		t.Fatal(err)
	}
	got.Close()

	var times []time.Duration
	var o store.Overview
	for range 5 {
		t0 := time.Now()
		if o, err = s.Overview(ctx, window); err != nil {
			t.Fatal(err)
		}
		times = append(times, time.Since(t0))
	}
	if len(o.Buckets) != 24 || o.Totals() != want || len(o.Kinds) != 8 {
		t.Errorf("overview: %d buckets, totals %+v, %d kinds; want 24, %+v, 8", len(o.Buckets), o.Totals(), len(o.Kinds), want)
	}
	if measure {
		slices.Sort(times)
		t.Logf("%d rows loaded with PersistMany in %v; plan %s", n, loaded.Round(time.Millisecond), strings.Join(plan, " | "))
		t.Logf("24-hour overview (%d executions in the window): median %v over 5 runs (min %v, max %v)",
			want.Completed+want.Failed, times[2].Round(time.Microsecond), times[0].Round(time.Microsecond), times[4].Round(time.Microsecond))
		// For comparison, the bounded fallback of store.GetOverview over
		// List, which a store without Stats gets.
		t0 := time.Now()
		f, err := store.GetOverview(ctx, struct{ store.Store }{s}, window, n)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("fallback over List: %v, %d rows read, totals %+v", time.Since(t0).Round(time.Millisecond), f.Scanned, f.Totals())
	}
}
