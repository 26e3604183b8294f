package sqlitestore

import (
	"context"
	"database/sql"
	"fmt"
	"math"

	"github.com/evertask/evertask/store"
)

// The counts are covering scans of tasks_status, which holds status,
// created_at and queue. INDEXED BY because the planner, without statistics,
// takes tasks_queue for the GROUP BY queue and then reads every row. (Counter
// rows kept by triggers were tried in 006 and dropped in 007: they slowed
// every status change.)
const (
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
	err := s.queryEach(ctx, countByStatusSQL, []any{countFrom(p)}, func(rows *sql.Rows) error {
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
	err := s.queryEach(ctx, countByQueueSQL, []any{countFrom(p)}, func(rows *sql.Rows) error {
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
