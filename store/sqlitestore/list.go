package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/evertask/evertask/store"
)

// List conditions. Each is a fixed fragment with placeholders; user input
// only ever reaches the query as a bound value.
const (
	listFrom   = `SELECT ` + taskColumns + ` FROM tasks`
	listWhere  = ` WHERE 1 = 1`
	listSelect = listFrom + listWhere
	// Without statistics the planner picks an index by the conditions'
	// shapes, not their selectivity: a status and a queue made it walk the
	// queue's rows and read each one's status from the table, a scan of the
	// whole queue for a status it rarely holds. tasks_status holds the queue
	// too and is in keyset order, so one status walks only that status's
	// entries; a kind walks tasks_kind. (Several statuses are left to the
	// planner: forcing the index would sort all their rows.)
	listByStatus    = ` INDEXED BY tasks_status`
	listByKind      = ` INDEXED BY tasks_kind`
	listQueue       = ` AND queue = ?`
	listKind        = ` AND kind = ?`
	listKey         = ` AND task_key = ?`
	listRecurring   = ` AND recurring = ?`
	listCreatedFrom = ` AND created_at >= ?`
	listBefore      = ` AND created_at < ?`
	listAfterDesc   = ` AND (created_at, id) < (?, ?)`
	listAfterAsc    = ` AND (created_at, id) > (?, ?)`
	listUntilDesc   = ` AND (created_at, id) >= (?, ?)`
	listUntilAsc    = ` AND (created_at, id) <= (?, ?)`
	listOrderDesc   = ` ORDER BY created_at DESC, id DESC LIMIT ?`
	listOrderAsc    = ` ORDER BY created_at, id LIMIT ?`
	listStatusHead  = ` AND status IN (?`
	// Search folds both sides with Go's Unicode case folding (fold.go) and
	// matches with instr, a plain substring test, so % _ and \ in the
	// search text are literal characters with nothing to escape.
	listSearch = ` AND (instr(` + foldFunc + `(kind), ?) > 0 OR instr(` + foldFunc + `(handler), ?) > 0
	OR instr(` + foldFunc + `(coalesce(task_key, '')), ?) > 0)`
)

// List returns one page of the matching rows in keyset order.
func (s *Store) List(ctx context.Context, f store.Filter) (store.Page, error) {
	if err := s.check(); err != nil {
		return store.Page{}, err
	}
	if err := f.Normalize(); err != nil {
		return store.Page{}, err
	}
	limit := f.Limit
	// q holds the conditions; the query is listFrom, hint, q, the order.
	var q strings.Builder
	args := make([]any, 0, 16)
	hint := ""
	switch {
	case len(f.Statuses) == 1:
		hint = listByStatus
	case f.Kind != "" && len(f.Statuses) == 0:
		hint = listByKind
	}
	q.WriteString(listWhere)
	if len(f.Statuses) > 0 {
		q.WriteString(listStatusHead)
		for i, st := range f.Statuses {
			if i > 0 {
				q.WriteString(`, ?`)
			}
			args = append(args, string(st))
		}
		q.WriteString(`)`)
	}
	add := func(cond string, v any) {
		q.WriteString(cond)
		args = append(args, v)
	}
	if f.Queue != "" {
		add(listQueue, f.Queue)
	}
	if f.Kind != "" {
		add(listKind, f.Kind)
	}
	if f.Key != "" {
		add(listKey, f.Key)
	}
	if f.Recurring != nil {
		add(listRecurring, boolInt(*f.Recurring))
	}
	if !f.CreatedFrom.IsZero() {
		add(listCreatedFrom, ceilMicros(f.CreatedFrom))
	}
	if !f.CreatedBefore.IsZero() {
		add(listBefore, ceilMicros(f.CreatedBefore))
	}
	if !f.After.IsZero() {
		cond := listAfterDesc
		if f.Oldest {
			cond = listAfterAsc
		}
		q.WriteString(cond)
		args = append(args, cursorMicros(f.After), f.After.ID[:])
	}
	order := listOrderDesc
	if f.Oldest {
		order = listOrderAsc
	}
	var bound *store.Cursor // the last row a bounded search tests
	if f.Search != "" {
		if f.ScanLimit > 0 {
			var err error
			if bound, err = s.scanBound(ctx, hint+q.String()+order, args, f.ScanLimit); err != nil {
				return store.Page{}, fmt.Errorf("list tasks: %w", err)
			}
			if bound != nil {
				cond := listUntilDesc
				if f.Oldest {
					cond = listUntilAsc
				}
				add(cond, bound.CreatedAt.UnixMicro())
				args = append(args, bound.ID[:])
			}
		}
		needle := store.Fold(f.Search)
		q.WriteString(listSearch)
		args = append(args, needle, needle, needle)
	}
	add(order, limit+1) // one more than the page tells whether a next page exists

	rows, err := s.readers.QueryContext(ctx, listFrom+hint+q.String(), args...)
	if err != nil {
		return store.Page{}, fmt.Errorf("list tasks: %w", mapErr(err))
	}
	tasks, err := scanTasks(rows, limit+1)
	if err != nil {
		return store.Page{}, fmt.Errorf("list tasks: %w", mapErr(err))
	}
	page := store.Page{Tasks: tasks}
	if len(tasks) > limit {
		page.Tasks = tasks[:limit]
		next := store.CursorOf(tasks[limit-1])
		page.Next = &next
	} else if bound != nil {
		page.Next, page.ScanLimited = bound, true
	}
	return page, nil
}

// scanBound returns the position of the n-th row of a list query without
// its search (the query's hint, conditions and order, whose LIMIT it
// takes), or nil when there are fewer rows: the last row a search bounded
// to n rows tests. It reads the index the list would walk, not the rows.
func (s *Store) scanBound(ctx context.Context, query string, args []any, n int) (*store.Cursor, error) {
	var us int64
	var id []byte
	err := s.readers.QueryRowContext(ctx, `SELECT created_at, id FROM tasks`+query+` OFFSET ?`,
		append(slices.Clip(args), 1, n-1)...).Scan(&us, &id)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, mapErr(err)
	}
	c := store.Cursor{CreatedAt: time.UnixMicro(us).UTC()}
	copy(c.ID[:], id)
	return &c, nil
}

// cursorMicros is a cursor's time as stored. Cursors come from rows, so
// they are whole microseconds; a zero time sorts before every row.
func cursorMicros(c store.Cursor) int64 {
	if c.CreatedAt.IsZero() {
		return math.MinInt64
	}
	return c.CreatedAt.UnixMicro()
}

// retrievePendingSQL walks the tasks_recovery index in (created_at, id)
// order; the recoverable predicate repeats that index's WHERE, so only
// rows that may be recoverable are visited. INDEXED BY because without
// statistics the planner prefers an OR over tasks_status plus a sort of
// every candidate row, for each page.
const retrievePendingSQL = `SELECT ` + taskColumns + ` FROM tasks INDEXED BY tasks_recovery
WHERE (created_at, id) > (@after_at, @after_id) AND created_at < @before AND ` + recoverableSQL + `
ORDER BY created_at, id LIMIT @limit`

// RetrievePending returns a keyset page of recoverable rows.
func (s *Store) RetrievePending(ctx context.Context, p store.PendingParams) ([]*store.Task, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	if err := p.Normalize(); err != nil {
		return nil, err
	}
	limit := p.Limit
	before := int64(math.MaxInt64)
	if !p.CreatedBefore.IsZero() {
		before = ceilMicros(p.CreatedBefore)
	}
	rows, err := s.readers.QueryContext(ctx, retrievePendingSQL,
		sql.Named("after_at", cursorMicros(p.After)), sql.Named("after_id", p.After.ID[:]),
		sql.Named("before", before), sql.Named("now", p.Now.UnixMicro()), sql.Named("limit", limit))
	if err != nil {
		return nil, fmt.Errorf("retrieve pending: %w", mapErr(err))
	}
	tasks, err := scanTasks(rows, limit)
	if err != nil {
		return nil, fmt.Errorf("retrieve pending: %w", mapErr(err))
	}
	return tasks, nil
}
