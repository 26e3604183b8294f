package mysqlstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/evertask/evertask/internal/testenv"
	"github.com/evertask/evertask/store"
)

// TestPlans loads a table shaped like an old busy one (nearly every row a
// finished one-shot) and checks that the hot reads use the index made for
// them: a claim the due index, recovery the recovery index, a rescue the
// status index, a lookup by key the key index. A plan that fell back to a
// scan of the table would read every finished row on every call.
func TestPlans(t *testing.T) {
	t.Parallel()
	db := testenv.MySQLDB(t, 2)
	ctx := t.Context()
	b := make([]byte, 6)
	rand.Read(b)
	database := "et_plan_" + hex.EncodeToString(b)
	t.Cleanup(func() { db.ExecContext(context.Background(), "DROP DATABASE IF EXISTS `"+database+"`") })
	s, err := New(ctx, db, &Config{Database: database})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	const n = 4000
	rows := make([]*store.Task, n)
	for i := range rows {
		status := store.StatusCompleted
		switch i % 100 {
		case 0:
			status = store.StatusQueued
		case 1:
			status = store.StatusInProgress
		}
		rows[i] = &store.Task{ID: uuid.Must(uuid.NewV7()), CreatedAt: base.Add(time.Duration(i) * time.Millisecond),
			Kind: "plan", Queue: []string{"a", "b", "c", "d"}[i%4], Status: status, Key: "key-" + uuid.NewString()}
	}
	if err := s.PersistMany(ctx, rows); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, "ANALYZE TABLE "+s.n.tasks); err != nil {
		t.Fatal(err)
	}
	now := ts(base.Add(time.Hour))
	for _, c := range []struct {
		name, query, index string
		args               []any
	}{
		{"claim", s.sql.cluster.claim, "due_idx", []any{"a", now, now, 10}},
		{"claim probe", s.sql.cluster.claimProbe, "due_idx", []any{"a", "a"}},
		{"retrieve pending", s.sql.pending, "recovery_idx", []any{minTime, minTime, idArg(uuid.Nil), maxTime, now, 100}},
		{"rescue", strings.ReplaceAll(s.sql.cluster.rescue, "{owners}", ""), "status_idx", []any{100}},
		{"get by key", s.sql.getByKey, "task_key_uq", []any{rows[7].Key}},
	} {
		got, err := db.QueryContext(ctx, "EXPLAIN "+c.query, c.args...)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		cols, _ := got.Columns()
		var keys []string
		for got.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := got.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			var line []string
			for i, col := range cols {
				v := vals[i]
				if bs, ok := v.([]byte); ok {
					v = string(bs)
				}
				if col == "key" && v != nil {
					keys = append(keys, v.(string))
				}
				if v != nil {
					line = append(line, fmt.Sprintf("%s=%v", col, v))
				}
			}
			t.Logf("%s: %s", c.name, strings.Join(line, " "))
		}
		got.Close()
		found := false
		for _, k := range keys {
			found = found || k == c.index
		}
		if !found {
			t.Errorf("%s uses indexes %v, want %s", c.name, keys, c.index)
		}
	}
}
