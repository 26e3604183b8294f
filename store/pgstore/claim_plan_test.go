package pgstore

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/evertask/evertask/store"
)

// updated100 is the plan line of an update that wrote 100 rows.
var updated100 = regexp.MustCompile(`Update on tasks [^\n]*\(actual rows=100 loops=1\)`)

// TestClaimUpdatesRowsByAddress checks the plan of both claims, as the
// planner makes it for a new statement and once it settles on a generic
// plan: the update reaches the rows the claim picked by their physical
// address (a TID scan), not by a descent of the primary key per row, which
// was 4 of the 7.6 buffers a claimed row cost on the burn benchmark.
func TestClaimUpdatesRowsByAddress(t *testing.T) {
	ctx := t.Context()
	s, pool, schema := schemaStore(t, "et_claimplan_")
	due := time.Now().Add(-time.Hour)
	tasks := make([]*store.Task, 5000) // a table of many pages: on a few, a sequential scan is cheaper
	for i := range tasks {
		tasks[i] = &store.Task{
			ID: uuid.Must(uuid.NewV7()), CreatedAt: due.Add(time.Duration(i) * time.Microsecond),
			Kind: "plan.Task", Payload: []byte(`{}`), Handler: "plan.Handler", Queue: "q",
			Status: store.StatusQueued,
		}
	}
	if err := s.PersistMany(ctx, tasks); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, "ANALYZE "+pgx.Identifier{schema, "tasks"}.Sanitize()); err != nil {
		t.Fatal(err)
	}
	for name, q := range map[string]string{"claim": s.sql.cluster.claim, "lone claim": s.sql.cluster.claimAlone} {
		for _, mode := range []string{"auto", "force_generic_plan"} {
			plan := strings.Join(preparedPlan(t, pool, "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF)", mode, q,
				"q", int64(100), "n1", int64(60_000_000), ts(time.Now())), "\n")
			if !strings.Contains(plan, "Tid Scan on tasks") || strings.Contains(plan, "tasks_pkey") {
				t.Errorf("%s, plan_cache_mode %s: the update does not read the picked rows by address:\n%s", name, mode, plan)
			}
			if !updated100.MatchString(plan) {
				t.Errorf("%s, plan_cache_mode %s: no update of 100 rows:\n%s", name, mode, plan)
			}
		}
	}
}
