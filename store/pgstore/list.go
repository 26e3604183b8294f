package pgstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

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
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if len(f.Statuses) > 0 {
		// Equality on the phase lets the (phase, created_at, id) index
		// return rows in keyset order (ANY over several phases cannot), and
		// as a literal it lets the planner use the indexes partial on
		// phase = 'open', whatever plan it caches.
		phases := map[string]bool{}
		for _, st := range f.Statuses {
			phases[phaseOf(st)] = true
		}
		if p := phaseOf(f.Statuses[0]); len(phases) == 1 && p != "" {
			where = append(where, "phase = '"+p+"'")
		}
	}
	if len(f.Statuses) == 1 {
		where = append(where, "status = "+arg(string(f.Statuses[0])))
	} else if len(f.Statuses) > 1 {
		where = append(where, "status = ANY("+arg(statusStrings(f.Statuses))+"::text[])")
	}
	if f.Queue != "" {
		where = append(where, "queue = "+arg(f.Queue))
	}
	if f.Kind != "" {
		where = append(where, "kind = "+arg(f.Kind))
	}
	if f.Key != "" {
		where = append(where, "key = "+arg(f.Key))
	}
	if f.Recurring != nil {
		where = append(where, "recurring = "+arg(*f.Recurring))
	}
	if !f.CreatedFrom.IsZero() {
		where = append(where, "created_at >= "+arg(ts(f.CreatedFrom)))
	}
	if !f.CreatedBefore.IsZero() {
		where = append(where, "created_at < "+arg(ts(f.CreatedBefore)))
	}
	order := "DESC"
	cmp := "<"
	if f.Oldest {
		order, cmp = "ASC", ">"
	}
	if !f.After.IsZero() {
		where = append(where, "(created_at, id) "+cmp+" ("+arg(ts(f.After.CreatedAt))+"::timestamptz, "+arg(uuidArg(f.After.ID))+"::uuid)")
	}
	var bound *store.Cursor // the last row a bounded search tests
	if f.Search != "" {
		if f.ScanLimit > 0 {
			var err error
			if bound, err = s.scanBound(ctx, where, args, order, f.ScanLimit); err != nil {
				return store.Page{}, fmt.Errorf("list tasks: %w", err)
			}
			if bound != nil {
				until := ">="
				if f.Oldest {
					until = "<="
				}
				where = append(where, "(created_at, id) "+until+" ("+arg(ts(bound.CreatedAt))+"::timestamptz, "+arg(uuidArg(bound.ID))+"::uuid)")
			}
		}
		// strpos matches plain text, so % _ and \ in the search are
		// literal; lower() folds case by the database's ctype.
		n := arg(f.Search)
		where = append(where, "(strpos(lower(kind), lower("+n+"::text)) > 0 OR strpos(lower(handler), lower("+n+"::text)) > 0 OR strpos(lower(coalesce(key, '')), lower("+n+"::text)) > 0)")
	}
	var b strings.Builder
	b.WriteString(s.sql.list)
	if len(where) > 0 {
		b.WriteString(" WHERE ")
		b.WriteString(strings.Join(where, " AND "))
	}
	b.WriteString(" ORDER BY created_at " + order + ", id " + order + " LIMIT " + arg(limit+1))
	rows, err := s.pool.Query(ctx, b.String(), args...)
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
	b.WriteString(" ORDER BY created_at " + order + ", id " + order + " LIMIT 1 OFFSET " + strconv.Itoa(n-1))
	var crea pgtype.Timestamptz
	var c store.Cursor
	err := s.pool.QueryRow(ctx, b.String(), args...).Scan(&crea, uuidDest(&c.ID))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, mapErr(err)
	}
	c.CreatedAt = fromTS(crea)
	return &c, nil
}

// phaseOf is the phase column of a status, as migration 002 computes it:
// "open" for the statuses a row passes through before it finishes, else
// the status; "" for a status the store does not know (never written into
// SQL text then).
func phaseOf(st store.Status) string {
	switch {
	case st.Open():
		return "open"
	case st.Valid():
		return string(st)
	}
	return ""
}
