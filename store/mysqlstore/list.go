package mysqlstore

import (
	"context"
	"fmt"

	"github.com/evertask/evertask/store"
)

// RetrievePending implements store.Store. The recoverable predicate is in
// SQL; its status part is the live column, which leads recovery_idx, so a
// page is a range scan over live rows only.
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
	var after any = minTime
	if !p.After.IsZero() {
		after = ts(p.After.CreatedAt)
	}
	now := ts(p.Now)
	rows, err := s.db.QueryContext(ctx, s.sql.pending, after, after, idArg(p.After.ID), upperBound(p.CreatedBefore), now, limit)
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
