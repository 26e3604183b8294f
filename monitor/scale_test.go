package monitor_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/evertask/evertask/internal/testenv"
	"github.com/evertask/evertask/monitor"
	"github.com/evertask/evertask/store"
	"github.com/evertask/evertask/store/pgstore"
	"github.com/evertask/evertask/store/sqlitestore"
)

// TestPageTimesAtScale measures every page and API read over a big store.
// It is a measurement, not a check, and runs only when asked:
//
//	EVERTASK_SCALE_TASKS=1000000 EVERTASK_SCALE_STORE=sqlite|postgres \
//	  go test -run TestPageTimesAtScale -v -timeout 30m ./monitor/
//
// The store is built with the store's batch insert (not the engine): rows
// created over 30 days, 91% Completed, 6% Failed, 1% Cancelled, 2% waiting,
// 8 kinds in 4 queues. EVERTASK_SCALE_KEEP=1 keeps it (a file in the temp
// directory, or the schema monitor_scale) for the next run.
func TestPageTimesAtScale(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("EVERTASK_SCALE_TASKS"))
	if n <= 0 {
		t.Skip("a measurement: set EVERTASK_SCALE_TASKS (and EVERTASK_SCALE_STORE=sqlite|postgres) to run it")
	}
	ctx := t.Context()
	keep := os.Getenv("EVERTASK_SCALE_KEEP") == "1"
	var st store.Store
	analyze := func() {}
	switch kind := os.Getenv("EVERTASK_SCALE_STORE"); kind {
	case "", "sqlite":
		path := filepath.Join(t.TempDir(), "scale.db")
		if keep {
			path = filepath.Join(os.TempDir(), fmt.Sprintf("evertask-monitor-scale-%d.db", n))
		}
		s, err := sqlitestore.Open(ctx, path, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		st = s
	case "postgres":
		pool := testenv.PostgresPool(t)
		schema := fmt.Sprintf("monitor_scale_%d", n)
		if !keep {
			schema = fmt.Sprintf("monitor_scale_%d", time.Now().UnixNano())
			t.Cleanup(func() {
				_, _ = pool.Exec(context.Background(), "DROP SCHEMA "+pgx.Identifier{schema}.Sanitize()+" CASCADE")
			})
		}
		s, err := pgstore.New(ctx, pool, &pgstore.Opts{Schema: schema})
		if err != nil {
			t.Fatal(err)
		}
		st = s
		// What autovacuum does soon after a bulk load: the planner's
		// statistics.
		analyze = func() {
			if _, err := pool.Exec(ctx, "ANALYZE "+pgx.Identifier{schema}.Sanitize()+".tasks"); err != nil {
				t.Fatal(err)
			}
		}
	default:
		t.Fatalf("EVERTASK_SCALE_STORE=%q: want sqlite or postgres", kind)
	}

	now := time.Now().UTC()
	counts, err := store.CountByStatus(ctx, st, store.CountParams{})
	if err != nil {
		t.Fatal(err)
	}
	have := 0
	for _, c := range counts {
		have += c
	}
	if have != n {
		if have != 0 {
			t.Fatalf("the kept store has %d rows, want %d: remove it", have, n)
		}
		start := time.Now()
		fillStore(t, st, n, now)
		t.Logf("built %d rows with PersistMany in %s", n, time.Since(start).Round(time.Millisecond))
		analyze()
	} else {
		t.Logf("reusing the kept store of %d rows", n)
	}

	page, err := st.List(ctx, store.Filter{Limit: 1, Statuses: []store.Status{store.StatusFailed}})
	if err != nil || len(page.Tasks) == 0 {
		t.Fatalf("no failed task: %v", err)
	}
	failed := page.Tasks[0].ID.String()
	paths := []string{
		"/", "/tasks", "/tasks?status=Failed", "/tasks?status=Cancelled&queue=reports", "/tasks?kind=report.build",
		"/tasks?kind=rare.kind", "/tasks?search=invoice", "/tasks?search=no-such-text", "/tasks?sort=oldest",
		"/tasks?created_from=" + now.Add(-72*time.Hour).Format(time.DateOnly), "/tasks/" + failed, "/queues", "/nodes", "/events",
		"/api/overview", "/api/counts", "/api/queues", "/api/tasks?limit=500", "/api/tasks?status=Failed&limit=100", "/api/tasks?search=no-such-text&status=Completed",
		"/api/tasks/" + failed, "/api/tasks/" + failed + "/logs",
	}
	// Each page gets a monitor of its own, so its first request finds no
	// cached aggregate (cold: the store's scans run), and the next ones
	// are what a viewer sees within Config.CacheTTL (warm).
	const rounds = 5
	t.Logf("%-48s %10s %10s %10s %6s", "page", "cold", "warm med", "warm max", "status")
	for _, p := range paths {
		h, err := monitor.New(&monitor.Config{Store: st, NoAuth: true, NoPreload: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			t.Fatal(err)
		}
		var times []time.Duration
		var cold time.Duration
		code := 0
		for i := range rounds + 1 {
			rec := httptest.NewRecorder()
			req := httptest.NewRequest(http.MethodGet, p, nil)
			start := time.Now()
			h.ServeHTTP(rec, req)
			d := time.Since(start)
			code = rec.Code
			if i == 0 {
				cold = d
			} else {
				times = append(times, d)
			}
		}
		slices.Sort(times)
		mark := ""
		if cold > 300*time.Millisecond || times[len(times)-1] > 300*time.Millisecond {
			mark = "  over 300 ms"
		}
		r := func(d time.Duration) time.Duration { return d.Round(100 * time.Microsecond) }
		t.Logf("%-48s %10s %10s %10s %6d%s", truncateTo(p, 48), r(cold), r(times[len(times)/2]), r(times[len(times)-1]), code, mark)
		if code != 200 {
			t.Errorf("GET %s: %d", p, code)
		}
	}
}

func truncateTo(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-3] + "..."
}

// fillStore writes n finished and waiting rows over the last 30 days.
func fillStore(t *testing.T, st store.Store, n int, now time.Time) {
	kinds := []string{"email.send", "email.send", "email.send", "image.resize", "image.resize", "report.build", "invoice.render", "webhook.deliver"}
	queues := map[string]string{"email.send": "mail", "image.resize": "images", "report.build": "reports", "invoice.render": "default", "webhook.deliver": "default"}
	const batch = 2000
	span := 30 * 24 * time.Hour
	rows := make([]*store.Task, 0, batch)
	for i := range n {
		created := now.Add(-span + span/time.Duration(n)*time.Duration(i))
		kind := kinds[i%len(kinds)]
		if i%100_000 == 7 {
			kind = "rare.kind"
		}
		id, err := uuid.NewV7()
		if err != nil {
			t.Fatal(err)
		}
		row := &store.Task{ID: id, CreatedAt: created, Kind: kind, Queue: queues[kind], Handler: kind + ".Handler",
			Payload: []byte(`{"to":"user` + strconv.Itoa(i) + `@example.com","n":` + strconv.Itoa(i) + `}`),
			Status:  store.StatusCompleted, LastExecutionAt: created.Add(time.Duration(50+i%900) * time.Millisecond),
			ExecutionTime: time.Duration(5+i%200) * time.Millisecond}
		if row.Queue == "" {
			row.Queue = "default"
		}
		switch r := i % 100; {
		case r < 6:
			row.Status, row.Error = store.StatusFailed, "all 3 attempts failed: connection refused"
		case r == 6:
			row.Status, row.Error = store.StatusCancelled, "cancelled by the operator"
		case r >= 98:
			row.Status, row.LastExecutionAt, row.ExecutionTime = store.StatusWaitingQueue, time.Time{}, 0
		}
		rows = append(rows, row)
		if len(rows) == batch || i == n-1 {
			persistEnded(t, st, rows)
			rows = rows[:0]
		}
	}
}

// persistEnded writes the rows as the engine would leave them: a row that
// ran is persisted InProgress and ended by TransitionMany at its
// LastExecutionAt, so a store.Stats store counts its outcome as it would
// have counted it live.
func persistEnded(t *testing.T, st store.Store, rows []*store.Task) {
	var ends []store.TransitionParams
	for _, r := range rows {
		if r.LastExecutionAt.IsZero() {
			continue
		}
		ends = append(ends, store.TransitionParams{ID: r.ID, To: r.Status, From: []store.Status{store.StatusInProgress},
			Now: r.LastExecutionAt, ExecutionTime: r.ExecutionTime, Error: r.Error, AuditLevel: store.AuditNone})
		r.Status, r.LastExecutionAt, r.ExecutionTime, r.Error = store.StatusInProgress, time.Time{}, 0, ""
	}
	if err := store.PersistMany(t.Context(), st, rows); err != nil {
		t.Fatal(err)
	}
	applied, err := store.TransitionMany(t.Context(), st, ends)
	if err != nil {
		t.Fatal(err)
	}
	for i, ok := range applied {
		if !ok {
			t.Fatalf("ending %s did not apply", ends[i].ID)
		}
	}
}
