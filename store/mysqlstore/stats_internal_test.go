package mysqlstore

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/evertask/evertask/internal/testenv"
	"github.com/evertask/evertask/store"
)

// statsStore opens a store on tables of its own in a database of its own.
func statsStore(t *testing.T, db *sql.DB) (*Store, string) {
	t.Helper()
	b := make([]byte, 6)
	rand.Read(b)
	database := "et_stats_" + hex.EncodeToString(b)
	t.Cleanup(func() { db.ExecContext(context.Background(), "DROP DATABASE IF EXISTS `"+database+"`") })
	s, err := New(t.Context(), db, &Config{Database: database})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, database
}

// TestOverviewPlan checks that the overview reads a range of the counters'
// primary key, not the whole table.
func TestOverviewPlan(t *testing.T) {
	t.Parallel()
	db := testenv.MySQLDB(t, 2)
	s, _ := statsStore(t, db)
	ctx := t.Context()
	// Two days of counters, a row per minute and kind of 4.
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var c statsCounts
	for m := range 2 * 24 * 60 {
		for k := range 4 {
			c.add(fmt.Sprint("kind-", k), store.StatusCompleted, base.Add(time.Duration(m)*time.Minute), time.Millisecond)
		}
	}
	for part := range slices.Chunk(c, 1000) {
		if err := s.writeStats(ctx, s.db, part); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.ExecContext(ctx, "ANALYZE TABLE "+s.n.taskStats); err != nil {
		t.Fatal(err)
	}
	p := store.OverviewParams{From: base.Add(24 * time.Hour), To: base.Add(25 * time.Hour)}
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	from := ts(p.From)
	plan := explain(t, db, s.n.fill(sqlOverview), from, p.Bucket.Microseconds(), from, ts(p.To))
	if len(plan) != 1 || plan[0]["key"] != "PRIMARY" || plan[0]["type"] != "range" {
		t.Errorf("overview plan %v: want a range of the primary key", plan)
	}
	o, err := s.Overview(ctx, p)
	if err != nil || o.Totals() != (store.OverviewCount{Completed: 4 * 60, ExecutionTime: 4 * 60 * time.Millisecond}) {
		t.Errorf("overview of an hour = %+v, %v", o.Totals(), err)
	}
}

// explain returns the rows of EXPLAIN query as column maps.
func explain(t *testing.T, db *sql.DB, query string, args ...any) []map[string]string {
	t.Helper()
	rows, err := db.QueryContext(t.Context(), "EXPLAIN "+query, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var out []map[string]string
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
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
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestStatsKeyOrderIsThePrimaryKeyOrder checks that writeStats sorts
// counters as InnoDB orders the primary key, kinds whose order a collation
// would change included: the lock order argument of writeStats rests on it.
func TestStatsKeyOrderIsThePrimaryKeyOrder(t *testing.T) {
	t.Parallel()
	db := testenv.MySQLDB(t, 2)
	s, _ := statsStore(t, db)
	ctx := t.Context()
	minute := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var c statsCounts
	for _, kind := range []string{"b", "a ", "a", "B", "é", "e", "", "z\x00", "Z", "\xff"} {
		for _, st := range []store.Status{store.StatusFailed, store.StatusCompleted} {
			for _, m := range []time.Duration{time.Minute, 0} {
				c.add(kind, st, minute.Add(m), time.Microsecond)
			}
		}
	}
	if err := s.writeStats(ctx, s.db, c); err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, e := range c { // sorted by writeStats
		want = append(want, fmt.Sprintf("%s|%q|%s", ts(e.key.minute), e.key.kind, e.key.status))
	}
	rows, err := db.QueryContext(ctx, "SELECT minute, kind, status FROM "+s.n.taskStats+" ORDER BY minute, kind, status")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var at time.Time
		var kind, status string
		if err := rows.Scan(timeDest{&at}, &kind, &status); err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprintf("%s|%q|%s", ts(at), kind, status))
	}
	if !slices.Equal(got, want) {
		t.Errorf("primary key order:\n%s\nwriteStats order:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestStatsUpsertsDoNotDeadlock runs steps that add to the same three
// counters, each listing them in another order, concurrently and without
// the store's retry: sorted, their locks are taken in one order and no
// step is chosen as a deadlock victim.
func TestStatsUpsertsDoNotDeadlock(t *testing.T) {
	t.Parallel()
	db := testenv.MySQLDB(t, 10)
	s, _ := statsStore(t, db)
	ctx := t.Context()
	minute := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	kinds := []string{"a", "b", "c"}
	const writers, steps = 8, 60
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			for i := range steps {
				var c statsCounts
				order := slices.Clone(kinds)
				if (w+i)%2 == 1 {
					slices.Reverse(order)
				}
				// New counters in the first steps (inserts), existing ones
				// after (updates).
				at := minute.Add(time.Duration(i/20) * time.Minute)
				for _, k := range order {
					c.add(k, store.StatusCompleted, at, time.Microsecond)
				}
				tx, err := s.db.BeginTx(ctx, nil)
				if err == nil {
					if err = s.writeStats(ctx, tx, c); err == nil {
						err = tx.Commit()
					} else {
						tx.Rollback()
					}
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("concurrent counter upserts: %v", err)
	}
	o, err := s.Overview(ctx, store.OverviewParams{From: minute, To: minute.Add(time.Hour)})
	if err != nil || o.Totals().Completed != writers*steps*len(kinds) {
		t.Errorf("overview after the upserts = %+v, %v; want %d completed", o.Totals(), err, writers*steps*len(kinds))
	}
}

// TestStatsMigrationCountsFinishedRows opens tables as 004 left them (the
// outcome column and overview_idx, no counters) with finished rows in them:
// migration 005 counts each Completed or Failed row once at the minute of
// its last execution, so the overview keeps what it showed before the
// upgrade, and drops the index and the column.
func TestStatsMigrationCountsFinishedRows(t *testing.T) {
	t.Parallel()
	db := testenv.MySQLDB(t, 2)
	s, database := statsStore(t, db)
	ctx := t.Context()
	base := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	at := func(d time.Duration) time.Time { return base.Add(d) }
	var rows []*store.Task
	for _, r := range []struct {
		kind   string
		status store.Status
		ended  time.Time
		exec   time.Duration
	}{
		{"a", store.StatusCompleted, at(70 * time.Second), time.Second},
		{"a", store.StatusCompleted, at(119 * time.Second), 2 * time.Second},
		{"a", store.StatusFailed, at(179*time.Second + time.Microsecond), 3 * time.Second},
		{"b", store.StatusCompleted, at(60 * time.Second), 4 * time.Second},
		{"b", store.StatusCancelled, at(61 * time.Second), time.Second}, // no outcome
		{"b", store.StatusQueued, time.Time{}, 0},                       // never ran
		{"b", store.StatusCompleted, at(-time.Second), time.Second},     // before the window
	} {
		rows = append(rows, &store.Task{ID: uuid.Must(uuid.NewV7()), CreatedAt: base.Add(-time.Hour), Kind: r.kind,
			Queue: "default", Status: r.status, LastExecutionAt: r.ended, ExecutionTime: r.exec})
	}
	if err := s.PersistMany(ctx, rows); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		"DROP TABLE {task_stats}",
		`ALTER TABLE {tasks}
    ADD COLUMN outcome VARCHAR(16) CHARACTER SET ascii COLLATE ascii_bin
        AS (CASE WHEN status IN ('Completed', 'Failed') THEN status END) STORED,
    ADD KEY overview_idx (last_execution_at, outcome, kind, execution_time_us)`,
		"DELETE FROM {schema_migrations} WHERE version = 5",
	} {
		if _, err := db.ExecContext(ctx, s.n.fill(q)); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}

	s2, err := New(ctx, db, &Config{Database: database})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	p := store.OverviewParams{From: base, To: base.Add(5 * time.Minute), Bucket: time.Minute}
	o, err := s2.Overview(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	want := []store.OverviewCount{{}, {Completed: 3, ExecutionTime: 7 * time.Second}, {Failed: 1, ExecutionTime: 3 * time.Second}, {}, {}}
	for i, b := range o.Buckets {
		if b.OverviewCount != want[i] {
			t.Errorf("bucket %d after the upgrade = %+v, want %+v", i, b.OverviewCount, want[i])
		}
	}
	if a, b := o.Kinds["a"], o.Kinds["b"]; len(o.Kinds) != 2 || a.Completed != 2 || a.Failed != 1 || b.Completed != 1 {
		t.Errorf("kinds after the upgrade = %+v", o.Kinds)
	}
	var left int
	err = db.QueryRowContext(ctx, `SELECT COUNT(*) FROM information_schema.STATISTICS
WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND INDEX_NAME = 'overview_idx'`, database, s.n.prefix+"tasks").Scan(&left)
	if err != nil || left != 0 {
		t.Errorf("overview_idx still there (%d entries, %v)", left, err)
	}
}
