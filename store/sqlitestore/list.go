package sqlitestore

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"time"

	"github.com/google/uuid"

	"github.com/evertask/evertask/store"
	"github.com/evertask/evertask/store/internal/sqlread"
)

// dialect is the SQL of the reads sqlread builds (List, the counts, the
// history).
var dialect = sqlread.Dialect{
	Tables: sqlread.Tables{Tasks: "tasks", StatusAudits: "status_audits", RunsAudits: "runs_audits",
		Logs: "execution_logs", Attempts: "attempts"},
	TaskColumns: taskColumns,
	Key:         "task_key", Error: "error", LogOrder: "id, seq", CountFrom: countTasks,
	// Search folds both sides with Go's Unicode case folding (fold.go) and
	// matches with instr, a plain substring test, so % _ and \ in the
	// search text are literal characters with nothing to escape.
	Search: `(instr(` + foldFunc + `(kind), {needle}) > 0 OR instr(` + foldFunc + `(handler), {needle}) > 0
	OR instr(` + foldFunc + `(coalesce(task_key, '')), {needle}) > 0)`,
	Level:    `({level} = '' OR ` + foldFunc + `(level) = {level})`,
	FoldArgs: true,
	After:    `(created_at, id) {cmp} ({at}, {id})`,
	Until:    `(created_at, id) {cmp}= ({at}, {id})`,
	Plan:     listPlan,
	Time:     func(t time.Time) any { return ceilMicros(t) },
	Cursor:   func(t time.Time) any { return cursorMicros(store.Cursor{CreatedAt: t}) },
	ID:       func(id uuid.UUID) any { return id[:] },
	Bool:     func(b bool) any { return boolInt(b) },
	MinTime:  int64(math.MinInt64),
	TimeDest: func(t *time.Time) any { return microsDest{t} },
	IDDest:   func(id *uuid.UUID) any { return idDest{id} },
}

// listPlan names the index of a List: without statistics the planner picks
// an index by the conditions' shapes, not their selectivity. A status and a
// queue made it walk the queue's rows and read each one's status from the
// table, a scan of the whole queue for a status it rarely holds.
// tasks_status holds the queue too and is in keyset order, so one status
// walks only that status's entries; a kind walks tasks_kind. (Several
// statuses are left to the planner: forcing the index would sort all their
// rows.)
func listPlan(f *store.Filter) (hint, cond string) {
	switch {
	case len(f.Statuses) == 1:
		return " INDEXED BY tasks_status", ""
	case f.Kind != "" && len(f.Statuses) == 0:
		return " INDEXED BY tasks_kind", ""
	}
	return "", ""
}

// List returns one page of the matching rows in keyset order.
func (s *Store) List(ctx context.Context, f store.Filter) (store.Page, error) {
	return s.read.List(ctx, f)
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
