package pgstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/evertask/evertask/store"
)

func isNotFound(err error) bool { return errors.Is(err, store.ErrNotFound) }

// RetrievePending implements store.Store. The recoverable predicate is in
// SQL, and its status part matches the partial index tasks_recovery_idx, so
// a page costs an index range scan over live rows only.
func (s *Store) RetrievePending(ctx context.Context, p store.PendingParams) ([]*store.Task, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	if err := p.Normalize(); err != nil {
		return nil, err
	}
	limit := p.Limit
	if p.Now.IsZero() {
		return nil, fmt.Errorf("%w: retrieve pending without a time", store.ErrInvalid)
	}
	after := minTime
	if !p.After.IsZero() {
		after = ts(p.After.CreatedAt)
	}
	rows, err := s.pool.Query(ctx, s.sql.pending, after, uuidArg(p.After.ID), upperBound(p.CreatedBefore), ts(p.Now), limit)
	if err != nil {
		return nil, fmt.Errorf("retrieve pending: %w", mapErr(err))
	}
	tasks, err := scanTasks(rows, min(limit, 1024))
	if err != nil {
		return nil, fmt.Errorf("retrieve pending: %w", mapErr(err))
	}
	return tasks, nil
}

// List implements store.Store with the statement sqlread builds: every
// filter value is a parameter.
func (s *Store) List(ctx context.Context, f store.Filter) (store.Page, error) {
	return s.read.List(ctx, f)
}
