package sqlitestore

import (
	"database/sql"
	"math"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/evertask/evertask/store"
	"github.com/evertask/evertask/store/internal/sqlread"
)

// TestQueryPlans pins the index choices the hot and recovery paths rely on:
// a change to the recoverable predicate that no longer matches the partial
// index's WHERE would silently turn recovery into a full scan.
func TestQueryPlans(t *testing.T) {
	t.Parallel()
	s, err := Open(t.Context(), filepath.Join(t.TempDir(), "plan.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	type plan struct {
		name, query, index string
		args               []any
	}
	// The reads as sqlread builds them.
	list := func(f store.Filter) *store.Filter {
		if err := f.Normalize(); err != nil {
			t.Fatal(err)
		}
		return &f
	}
	read := func(name string, q sqlread.Query, index string) plan { return plan{name, q.Text, index, q.Args} }
	for _, tc := range []plan{
		{"RetrievePending", retrievePendingSQL, "tasks_recovery", []any{
			sql.Named("after_at", int64(0)), sql.Named("after_id", []byte{}), sql.Named("before", int64(math.MaxInt64)),
			sql.Named("now", int64(0)), sql.Named("limit", 10)}},
		{"Transition", transitionSQL, "sqlite_autoindex_tasks_1", transitionRow(&sampleTransition, time.Now())},
		{"TransitionsBatch", transitionsSQL(4), "sqlite_autoindex_tasks_1", make([]any, 4*transitionArgs)},
		{"Claim", claimSelectSQL, "tasks_claim", []any{
			sql.Named("queue", "default"), sql.Named("now", int64(0)), sql.Named("limit", 10)}},
		{"NextDue", nextDueSQL, "tasks_claim", []any{sql.Named("queue", "default"), sql.Named("now", int64(0))}},
		{"ClaimUpdate", claimUpdateSQL, "sqlite_autoindex_tasks_1", []any{
			sql.Named("owner", "n"), sql.Named("until", int64(0)), sql.Named("ids", "[]")}},
		{"Renew", renewSQL, "sqlite_autoindex_tasks_1", []any{
			sql.Named("until", int64(0)), sql.Named("ids", "[]"), sql.Named("owner", "n"), sql.Named("now", int64(0))}},
		{"Rescue", rescueSQL, "tasks_status", []any{
			sql.Named("now", int64(0)), sql.Named("owners", "[]"), sql.Named("limit", 10), sql.Named("max", 0),
			sql.Named("poison", "")}},
		read("ListNewest", dialect.ListQuery(list(store.Filter{})), "tasks_created"),
		read("CountByQueue", dialect.CountByQueueQuery(store.CountParams{}), "COVERING INDEX tasks_status"),
		read("CountByStatus", dialect.CountByStatusQuery(store.CountParams{}), "COVERING INDEX tasks_status"),
		read("ListByStatus", dialect.ListQuery(list(store.Filter{Statuses: []store.Status{store.StatusFailed}, Queue: "q"})), "tasks_status"),
		read("ListByKind", dialect.ListQuery(list(store.Filter{Kind: "k"})), "tasks_kind"),
		read("ListByQueue", dialect.ListQuery(list(store.Filter{Queue: "q"})), "tasks_queue"),
		{"Overview", overviewSQL, "SEARCH task_stats USING PRIMARY KEY (minute>? AND minute<?)", []any{
			sql.Named("from", int64(0)), sql.Named("to", int64(1)), sql.Named("bucket", int64(1))}},
	} {
		rows, err := s.readers.QueryContext(t.Context(), "EXPLAIN QUERY PLAN "+tc.query, tc.args...)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		joined := strings.Join(plan, "; ")
		t.Logf("%s: %s", tc.name, joined)
		if tc.index != "" && !strings.Contains(joined, tc.index) {
			t.Errorf("%s does not use %s: %s", tc.name, tc.index, joined)
		}
	}
}

var sampleTransition = store.TransitionParams{ID: uuid.New(), To: store.StatusQueued, IfRecoverable: true, Now: time.Now()}
