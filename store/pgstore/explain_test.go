package pgstore

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/evertask/evertask/store"
	"github.com/evertask/evertask/store/internal/sqlread"
)

// explainMinRows is what the TransitionMany plan reads: rows 1, 101, ...,
// 9901.
const explainMinRows = 100*99 + 2

// TestExplain loads a large table and logs the plans of the hot statements
// (EXPLAIN (ANALYZE, BUFFERS)), so index changes can be checked by reading
// them. It is a tool, not a check: it runs only on request, because loading
// a million rows takes longer than a unit test may.
//
//	EVERTASK_PGSTORE_EXPLAIN_ROWS=1000000 go test -run TestExplain -v ./store/pgstore/
func TestExplain(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("EVERTASK_PGSTORE_EXPLAIN_ROWS"))
	if n <= 0 {
		t.Skip("plan inspection tool: set EVERTASK_PGSTORE_EXPLAIN_ROWS=1000000 to load that many rows and log the plans")
	}
	if n < explainMinRows {
		t.Fatalf("EVERTASK_PGSTORE_EXPLAIN_ROWS=%d: the batch plan takes every 100th of the first %d rows; load at least that many", n, explainMinRows)
	}
	ctx := context.Background()
	s, pool, schema := schemaStore(t, "et_explain_")

	// The shape of an old busy table: 97% finished one-shots, 1% waiting,
	// 1% queued, 1% failed, 0.1% live recurring series; 4 queues; pairs of
	// rows share a creation time.
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ids := make([]uuid.UUID, n)
	started := time.Now()
	_, err := pool.CopyFrom(ctx, pgx.Identifier{schema, "tasks"}, copyColumns, pgx.CopyFromFunc(func() func() ([]any, error) {
		i := -1
		return func() ([]any, error) {
			i++
			if i == n {
				return nil, nil
			}
			t := &store.Task{
				ID: uuid.Must(uuid.NewV7()), CreatedAt: base.Add(time.Duration(i/2) * time.Millisecond),
				Kind: "bench.Task", Payload: []byte(`{"n":1}`), Handler: "bench.Handler",
				Queue: "q" + strconv.Itoa(i%4), Status: store.StatusCompleted,
				LastExecutionAt: base.Add(time.Duration(i) * time.Millisecond),
			}
			switch {
			case i%100 == 0:
				t.Status = store.StatusWaitingQueue
			case i%100 == 1:
				t.Status = store.StatusQueued
			case i%100 == 2:
				t.Status, t.Error = store.StatusFailed, "boom"
			case i%1000 == 3:
				t.Recurring, t.NextRunAt = true, base.Add(time.Hour)
			}
			ids[i] = t.ID
			return taskArgs(t), nil
		}
	}()))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, "ANALYZE "+pgx.Identifier{schema, "tasks"}.Sanitize()); err != nil {
		t.Fatal(err)
	}
	t.Logf("loaded %d rows with COPY in %v", n, time.Since(started).Round(time.Millisecond))

	now := base.Add(24 * time.Hour)
	mid := n / 2
	midCursor := []any{ts(base.Add(time.Duration(mid/2) * time.Millisecond)), ids[mid]}
	explain := func(name, q string, args ...any) {
		t.Helper()
		for _, mode := range []string{"auto", "force_generic_plan"} {
			plan := preparedPlan(t, pool, "EXPLAIN (ANALYZE, BUFFERS)", mode, q, args...)
			t.Logf("=== %s (%s)\n%s", name, mode, strings.Join(plan, "\n"))
		}
	}

	explain("RetrievePending first page", s.sql.pending, minTime, uuid.Nil, maxTime, ts(now), 100)
	explain("RetrievePending middle page", s.sql.pending, append(midCursor, maxTime, ts(now), 100)...)
	// The List and count statements as the store builds them.
	explainRead := func(name string, q sqlread.Query) { t.Helper(); explain(name, q.Text, q.Args...) }
	list := func(f store.Filter) sqlread.Query {
		if err := f.Normalize(); err != nil {
			t.Fatal(err)
		}
		return s.read.ListQuery(&f)
	}
	explainRead("List newest page", list(store.Filter{}))
	explainRead("List by status Failed", list(store.Filter{Statuses: []store.Status{store.StatusFailed}}))
	explainRead("List by status Queued in a queue", list(store.Filter{Statuses: []store.Status{store.StatusQueued}, Queue: "q1"}))
	explainRead("List by statuses Failed or Cancelled", list(store.Filter{Statuses: []store.Status{store.StatusFailed, store.StatusCancelled}}))
	explainRead("List search without a match (worst case)", list(store.Filter{Search: "nomatch"}))
	explainRead("List by queue after cursor", list(store.Filter{Queue: "q1",
		After: store.Cursor{CreatedAt: base.Add(time.Duration(mid/2) * time.Millisecond), ID: ids[mid]}}))
	// A search Filter.ScanLimit bounds (the monitor's default, or half the
	// rows): the position of the last row it tests, then the page up to it.
	bf := store.Filter{Search: "nomatch", ScanLimit: min(50_000, n/2)}
	if err := bf.Normalize(); err != nil {
		t.Fatal(err)
	}
	last := n - bf.ScanLimit // the newest first walk tests rows n-1 down to this one
	explainRead("List search ScanLimit bound", s.read.ScanBoundQuery(&bf))
	explainRead("List search ScanLimit page", s.read.ScanLimitedListQuery(&bf,
		store.Cursor{CreatedAt: base.Add(time.Duration(last/2) * time.Millisecond), ID: ids[last]}))
	explain("Transition Queued->InProgress", s.sql.transition, ids[1], "InProgress", false, false, ts(now), int64(0), "",
		[]string{"Queued"}, false, true, "", int64(0), "")
	explain("Transition requeue IfRecoverable", s.sql.transition, ids[100], "Queued", false, false, ts(now), int64(0), "",
		[]string{}, true, true, "", int64(0), "")
	p := make([]store.TransitionParams, 100)
	idx := make([]int, 100)
	for i := range p {
		p[i] = store.TransitionParams{ID: ids[i*100+1], To: store.StatusInProgress, From: []store.Status{store.StatusQueued}, Now: now}
		idx[i] = i
	}
	args, _ := transitionArrays(p, idx)
	explain("TransitionMany of 100", s.sql.transitionMany, args...)
	explain("Claim 100 of a queue", s.sql.cluster.claim, "q1", int64(100), "n1", int64(60_000_000), ts(now))
	explain("Claim 100 of a queue, alone", s.sql.cluster.claimAlone, "q1", int64(100), "n1", int64(60_000_000), ts(now))
	explain("Claim of a queue with nothing due", s.sql.cluster.claim, "nothing", int64(100), "n1", int64(60_000_000), ts(now))
	explain("Renew 100 leases", s.sql.cluster.renew, args[1], "n1", int64(60_000_000))
	explain("Rescue with nothing to rescue", s.sql.cluster.rescue, []string{"gone"}, int64(100), int32(3), "poisoned", ts(now))
	explainRead("CountByStatus", s.read.CountByStatusQuery(store.CountParams{}))
	explain("Purge completed tasks, one batch", s.sql.purgeTasks, []string{"Completed"}, ts(base.Add(time.Minute)), 100)
	fmt.Fprintln(os.Stderr, "explain done")
}

// preparedPlan runs q under explain (an EXPLAIN with its options) as a
// server-side prepared statement, as pgx's statement cache makes it, so
// plan_cache_mode force_generic_plan shows the plan it settles on, and
// returns the plan's lines. It rolls back what q wrote.
func preparedPlan(t *testing.T, pool *pgxpool.Pool, explain, mode, q string, args ...any) []string {
	t.Helper()
	ctx := t.Context()
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // leave the table as it was
	for _, stmt := range []string{"SET LOCAL plan_cache_mode = " + mode, "PREPARE x AS " + q} {
		if _, err := tx.Exec(ctx, stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	exec := explain + " EXECUTE x"
	if len(args) > 0 {
		params := make([]string, len(args))
		for i := range args {
			params[i] = "$" + strconv.Itoa(i+1)
		}
		exec += "(" + strings.Join(params, ", ") + ")"
	}
	// The simple protocol writes the arguments as literals into EXECUTE;
	// it has no text encoding for []uuid.UUID.
	lit := []any{pgx.QueryExecModeSimpleProtocol}
	for _, a := range args {
		if us, ok := a.([]uuid.UUID); ok {
			ss := make([]string, len(us))
			for i, u := range us {
				ss[i] = u.String()
			}
			a = ss
		}
		lit = append(lit, a)
	}
	rows, err := tx.Query(ctx, exec, lit...)
	if err != nil {
		t.Fatalf("%s: %v", exec, err)
	}
	var plan []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, line)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	// A prepared statement outlives the transaction, on a pooled session.
	if _, err := tx.Exec(ctx, "DEALLOCATE x"); err != nil {
		t.Fatal(err)
	}
	return plan
}
