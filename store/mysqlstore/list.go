package mysqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"

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

// List implements store.Store. The WHERE clause is assembled from fixed
// fragments; every filter value is a parameter.
func (s *Store) List(ctx context.Context, f store.Filter) (store.Page, error) {
	if err := s.check(); err != nil {
		return store.Page{}, err
	}
	if err := f.Normalize(); err != nil {
		return store.Page{}, err
	}
	limit := f.Limit
	var (
		where []string
		args  []any
	)
	if len(f.Statuses) > 0 {
		where = append(where, "status IN "+inList(len(f.Statuses)))
		for _, st := range f.Statuses {
			args = append(args, string(st))
		}
	}
	if f.Queue != "" {
		where, args = append(where, "queue = ?"), append(args, f.Queue)
	}
	if f.Kind != "" {
		where, args = append(where, "kind = ?"), append(args, f.Kind)
	}
	if f.Key != "" {
		where, args = append(where, "task_key = ?"), append(args, f.Key)
	}
	if f.Recurring != nil {
		where, args = append(where, "recurring = ?"), append(args, *f.Recurring)
	}
	if !f.CreatedFrom.IsZero() {
		where, args = append(where, "created_at >= ?"), append(args, ts(f.CreatedFrom))
	}
	if !f.CreatedBefore.IsZero() {
		where, args = append(where, "created_at < ?"), append(args, ts(f.CreatedBefore))
	}
	order, cmp := "DESC", "<"
	if f.Oldest {
		order, cmp = "ASC", ">"
	}
	if !f.After.IsZero() {
		c := ts(f.After.CreatedAt)
		where = append(where, "(created_at "+cmp+" ? OR (created_at = ? AND id "+cmp+" ?))")
		args = append(args, c, c, idArg(f.After.ID))
	}
	var bound *store.Cursor // the last row a bounded search tests
	if f.Search != "" && f.ScanLimit > 0 {
		var err error
		if bound, err = s.scanBound(ctx, where, args, order, f.ScanLimit); err != nil {
			return store.Page{}, fmt.Errorf("list tasks: %w", err)
		}
		if bound != nil {
			until := ">"
			if f.Oldest {
				until = "<"
			}
			c := ts(bound.CreatedAt)
			where = append(where, "(created_at "+until+" ? OR (created_at = ? AND id "+until+"= ?))")
			args = append(args, c, c, idArg(bound.ID))
		}
	}
	if f.Search != "" {
		// LOCATE matches plain text, so % _ and \ in the search are
		// literal; LOWER folds case by the Unicode rules of utf8mb4, once
		// the byte columns are read as utf8mb4.
		where = append(where, "(LOCATE(LOWER(?), LOWER(CONVERT(kind USING utf8mb4))) > 0 OR LOCATE(LOWER(?), LOWER(handler)) > 0"+
			" OR LOCATE(LOWER(?), LOWER(CONVERT(COALESCE(task_key, '') USING utf8mb4))) > 0)")
		args = append(args, f.Search, f.Search, f.Search)
	}
	var b strings.Builder
	b.WriteString(s.sql.list)
	if len(where) > 0 {
		b.WriteString(" WHERE ")
		b.WriteString(strings.Join(where, " AND "))
	}
	b.WriteString(" ORDER BY created_at " + order + ", id " + order + " LIMIT ?")
	args = append(args, limit+1)
	rows, err := s.db.QueryContext(ctx, b.String(), args...)
	if err != nil {
		return store.Page{}, fmt.Errorf("list tasks: %w", mapErr(err))
	}
	tasks, err := scanTasks(rows, limit+1)
	if err != nil {
		return store.Page{}, fmt.Errorf("list tasks: %w", mapErr(err))
	}
	var page store.Page
	if len(tasks) > limit {
		tasks = tasks[:limit]
		next := store.CursorOf(tasks[limit-1])
		page.Next = &next
	} else if bound != nil {
		page.Next, page.ScanLimited = bound, true
	}
	page.Tasks = tasks
	return page, nil
}

// scanBound returns the position of the n-th row of a list query without
// its search (its conditions, with their arguments, in the order given),
// or nil when there are fewer rows: the last row a search bounded to n rows
// tests. It walks the index the list would walk.
func (s *Store) scanBound(ctx context.Context, where []string, args []any, order string, n int) (*store.Cursor, error) {
	var b strings.Builder
	b.WriteString("SELECT created_at, id")
	b.WriteString(s.sql.list[strings.Index(s.sql.list, " FROM "):])
	if len(where) > 0 {
		b.WriteString(" WHERE ")
		b.WriteString(strings.Join(where, " AND "))
	}
	b.WriteString(" ORDER BY created_at " + order + ", id " + order + " LIMIT 1 OFFSET ?")
	var c store.Cursor
	err := s.db.QueryRowContext(ctx, b.String(), append(slices.Clip(args), n-1)...).Scan(timeDest{&c.CreatedAt}, idDest{&c.ID})
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, mapErr(err)
	}
	return &c, nil
}
