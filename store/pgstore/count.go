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
	out, err := s.sql.read.CountByStatus(ctx, s.run, s.sql.read.Tables.Tasks, p)
	if err != nil {
		return nil, fmt.Errorf("count by status: %w", mapErr(err))
	}
	return out, nil
}

// CountByQueue implements store.Counter.
func (s *Store) CountByQueue(ctx context.Context, p store.CountParams) (map[string]map[store.Status]int, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	out, err := s.sql.read.CountByQueue(ctx, s.run, s.sql.read.Tables.Tasks, p)
	if err != nil {
		return nil, fmt.Errorf("count by queue: %w", mapErr(err))
	}
	return out, nil
}
