package pgstore

import (
	"context"
	"fmt"

	"github.com/evertask/evertask/store"
)

// CountByStatus implements store.Counter.
func (s *Store) CountByStatus(ctx context.Context, p store.CountParams) (map[store.Status]int, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	q, args := s.sql.countByStatus, []any(nil)
	if !p.CreatedFrom.IsZero() {
		q, args = s.sql.countByStatusSince, []any{ts(p.CreatedFrom)}
	}
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("count by status: %w", mapErr(err))
	}
	defer rows.Close()
	out := map[store.Status]int{}
	for rows.Next() {
		var (
			status string
			n      int64
		)
		if err := rows.Scan(&status, &n); err != nil {
			return nil, fmt.Errorf("count by status: %w", mapErr(err))
		}
		out[store.Status(status)] = int(n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("count by status: %w", mapErr(err))
	}
	return out, nil
}

// CountByQueue implements store.Counter.
func (s *Store) CountByQueue(ctx context.Context, p store.CountParams) (map[string]map[store.Status]int, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	q, args := s.sql.countByQueue, []any(nil)
	if !p.CreatedFrom.IsZero() {
		q, args = s.sql.countByQueueSince, []any{ts(p.CreatedFrom)}
	}
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("count by queue: %w", mapErr(err))
	}
	defer rows.Close()
	out := map[string]map[store.Status]int{}
	for rows.Next() {
		var (
			queue, status string
			n             int64
		)
		if err := rows.Scan(&queue, &status, &n); err != nil {
			return nil, fmt.Errorf("count by queue: %w", mapErr(err))
		}
		if out[queue] == nil {
			out[queue] = map[store.Status]int{}
		}
		out[queue][store.Status(status)] = int(n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("count by queue: %w", mapErr(err))
	}
	return out, nil
}
