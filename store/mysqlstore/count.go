package mysqlstore

import (
	"context"

	"github.com/evertask/evertask/store"
)

// CountByStatus implements store.Counter.
func (s *Store) CountByStatus(ctx context.Context, p store.CountParams) (map[store.Status]int, error) {
	return s.read.CountByStatus(ctx, p)
}

// CountByQueue implements store.Counter.
func (s *Store) CountByQueue(ctx context.Context, p store.CountParams) (map[string]map[store.Status]int, error) {
	return s.read.CountByQueue(ctx, p)
}
