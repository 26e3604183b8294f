package sqlitestore

import (
	"context"
	"database/sql"
	"fmt"
	"math"

	"github.com/evertask/evertask/store"
)

// Without CreatedFrom the counts are read from task_counts, which triggers
// keep (migration 006). With it they are covering scans of tasks_status,
// which holds status, created_at and queue; INDEXED BY because the planner,
// without statistics, takes tasks_queue for the GROUP BY queue and then
// reads every row.
const (
	countAllByStatusSQL = `SELECT status, sum(n) FROM task_counts WHERE n > 0 GROUP BY status`
	countAllByQueueSQL  = `SELECT queue, status, n FROM task_counts WHERE n > 0`

	countByStatusSQL = `SELECT status, count(*) FROM tasks INDEXED BY tasks_status WHERE created_at >= ? GROUP BY status`
	countByQueueSQL  = `SELECT queue, status, count(*) FROM tasks INDEXED BY tasks_status WHERE created_at >= ? GROUP BY queue, status`
)

func countFrom(p store.CountParams) int64 {
	if p.CreatedFrom.IsZero() {
		return math.MinInt64
	}
	return ceilMicros(p.CreatedFrom)
}

// CountByStatus counts rows per status.
func (s *Store) CountByStatus(ctx context.Context, p store.CountParams) (map[store.Status]int, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	out := map[store.Status]int{}
	query, args := countByStatusSQL, []any{countFrom(p)}
	if p.CreatedFrom.IsZero() {
		query, args = countAllByStatusSQL, nil
	}
	err := s.queryEach(ctx, query, args, func(rows *sql.Rows) error {
		var st string
		var n int
		if err := rows.Scan(&st, &n); err != nil {
			return err
		}
		out[store.Status(st)] = n
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("count by status: %w", err)
	}
	return out, nil
}

// CountByQueue counts rows per queue and status.
func (s *Store) CountByQueue(ctx context.Context, p store.CountParams) (map[string]map[store.Status]int, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	out := map[string]map[store.Status]int{}
	query, args := countByQueueSQL, []any{countFrom(p)}
	if p.CreatedFrom.IsZero() {
		query, args = countAllByQueueSQL, nil
	}
	err := s.queryEach(ctx, query, args, func(rows *sql.Rows) error {
		var queue, st string
		var n int
		if err := rows.Scan(&queue, &st, &n); err != nil {
			return err
		}
		if out[queue] == nil {
			out[queue] = map[store.Status]int{}
		}
		out[queue][store.Status(st)] = n
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("count by queue: %w", err)
	}
	return out, nil
}
