package sqlitestore_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/evertask/evertask/store"
)

// TestStatsMigrationCountsFinishedRows opens a file as 007 left it (the
// overview index, no counters) with finished rows in it: migration 008
// counts each Completed or Failed row once at the minute of its last
// execution, so the overview keeps what it showed before the upgrade.
func TestStatsMigrationCountsFinishedRows(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "evertask.db")
	s := open(t, path)
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
		task := newTask(t)
		task.Kind, task.Status, task.LastExecutionAt, task.ExecutionTime = r.kind, r.status, r.ended, r.exec
		rows = append(rows, task)
	}
	mustPersist(t, s, rows...)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	db := rawDB(t, path)
	for _, q := range []string{
		`DROP TRIGGER tasks_stats`,
		`ALTER TABLE tasks DROP COLUMN stats_hook`,
		`DROP TABLE task_stats`,
		`CREATE INDEX tasks_executed ON tasks (last_execution_at, status, kind, execution_time_us) WHERE last_execution_at IS NOT NULL`,
		`DELETE FROM schema_version WHERE version = 8`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	db.Close()

	s = open(t, path)
	p := store.OverviewParams{From: base, To: base.Add(5 * time.Minute), Bucket: time.Minute}
	o, err := s.Overview(t.Context(), p)
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
	if err := rawDB(t, path).QueryRow(`SELECT count(*) FROM sqlite_master WHERE name = 'tasks_executed'`).Scan(&left); err != nil || left != 0 {
		t.Errorf("tasks_executed still there (%d, %v)", left, err)
	}
}
