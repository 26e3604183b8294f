package sqlitestore

import (
	"context"

	"github.com/evertask/evertask/store"
)

// countTasks is what the counts read: covering scans of tasks_status, which
// holds status, created_at and queue. INDEXED BY because the planner,
// without statistics, takes tasks_queue for the GROUP BY queue and then
// reads every row. (Counter rows kept by triggers were tried in 006 and
// dropped in 007: they slowed every status change.)
const countTasks = `tasks INDEXED BY tasks_status`

// CountByStatus counts rows per status.
func (s *Store) CountByStatus(ctx context.Context, p store.CountParams) (map[store.Status]int, error) {
	return s.read.CountByStatus(ctx, p)
}

// CountByQueue counts rows per queue and status.
func (s *Store) CountByQueue(ctx context.Context, p store.CountParams) (map[string]map[store.Status]int, error) {
	return s.read.CountByQueue(ctx, p)
}
