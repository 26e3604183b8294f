package mysqlstore

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/evertask/evertask/store"
)

// Every compound step (a status change with its audit, a recurring run, a
// claim, a rescue) is one transaction of the same shape:
//
//  1. lock the rows it touches, reading them and the store's clock in one
//     statement (SELECT ... FOR UPDATE, in primary key order, so two batches
//     over the same rows never deadlock);
//  2. decide and apply the change in Go, with the rules package store
//     writes down for every store (TransitionParams.AllowsAt and ApplyAt,
//     store.StatusAuditRequired, ...), so this store cannot drift from them;
//  3. write the changed rows back in one INSERT ... ON DUPLICATE KEY
//     UPDATE, the audits in one multi-row INSERT per audit table, and
//     last the counters of the outcomes it wrote (see statsCounts);
//  4. commit.
//
// MySQL has no UPDATE ... RETURNING and no writable CTE, which is how the
// PostgreSQL store does the same in one statement; here a step is four or
// five round trips whatever the size of its batch.

// edit is the work of one compound step: the locked rows as they are
// changed, the audits to write and the outcomes to count.
type edit struct {
	clock   time.Time
	rows    map[uuid.UUID]*store.Task
	changed []*store.Task // in order of first change
	marked  map[uuid.UUID]bool
	status  []store.StatusAudit
	runs    []store.RunsAudit
	stats   statsCounts
}

// lockBatch is the most ids one locking read names: under 1000, since
// MariaDB turns an IN list of 1000 values or more into a join with a table
// of the values (in_predicate_conversion_threshold), which reads, and so
// locks, the rows in the list's order rather than the index's.
const lockBatch = 500

// sortedUnique returns the ids once each, in primary key order: the order
// every statement of the store locks rows in, so two of them never wait
// for each other in a cycle, also when a batch takes several statements.
func sortedUnique(ids []uuid.UUID) []uuid.UUID {
	out := slices.Clone(ids)
	slices.SortFunc(out, func(a, b uuid.UUID) int { return bytes.Compare(a[:], b[:]) })
	return slices.Compact(out)
}

// lock reads and locks the rows of ids that exist, with the store's clock.
func (s *Store) lock(ctx context.Context, tx *sql.Tx, ids []uuid.UUID) (*edit, error) {
	e := &edit{rows: make(map[uuid.UUID]*store.Task, len(ids)), marked: map[uuid.UUID]bool{}}
	uniq := sortedUnique(ids)
	for start := 0; start < len(uniq); start += lockBatch {
		part := uniq[start:min(start+lockBatch, len(uniq))]
		args := make([]any, len(part))
		for i, id := range part {
			args[i] = idArg(id)
		}
		rows, err := tx.QueryContext(ctx, s.sql.lockRows+inList(len(part))+" ORDER BY id FOR UPDATE", args...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var clock time.Time
			t, err := scanTask(rows, timeDest{&clock})
			if err != nil {
				rows.Close()
				return nil, err
			}
			e.rows[t.ID] = t
			if e.clock.IsZero() {
				e.clock = clock
			}
		}
		if err := rows.Close(); err != nil {
			return nil, err
		}
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return e, nil
}

// mark records that t (one of e.rows) changed.
func (e *edit) mark(t *store.Task) {
	if !e.marked[t.ID] {
		e.marked[t.ID] = true
		e.changed = append(e.changed, t)
	}
}

func (e *edit) auditStatus(id uuid.UUID, at time.Time, status store.Status, errText string) {
	e.status = append(e.status, store.StatusAudit{TaskID: id, At: at, Status: status, Error: errText})
}

// Statement sizes of the write-back and the audit inserts, in rows.
const (
	writeBackBatch = 500
	auditBatch     = 1000
)

// write writes back the changed rows, inserts the audits and adds to the
// counters.
func (s *Store) write(ctx context.Context, tx *sql.Tx, e *edit) error {
	for start := 0; start < len(e.changed); start += writeBackBatch {
		part := e.changed[start:min(start+writeBackBatch, len(e.changed))]
		args := make([]any, 0, len(part)*writeBackWidth)
		for _, t := range part {
			args = append(args, idArg(t.ID), ts(t.CreatedAt), t.Kind, string(t.Status), ts(t.LastExecutionAt),
				micros(t.ExecutionTime), t.Error, t.RunCount, ts(t.NextRunAt), t.RecoveryFailures, t.Owner, ts(t.LeaseUntil))
		}
		q := s.sql.writeBack + placeholders(len(part), writeBackWidth) + sqlWriteBackSet
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			return err
		}
	}
	for start := 0; start < len(e.status); start += auditBatch {
		part := e.status[start:min(start+auditBatch, len(e.status))]
		args := make([]any, 0, len(part)*4)
		for _, a := range part {
			args = append(args, idArg(a.TaskID), ts(a.At), string(a.Status), a.Error)
		}
		if _, err := tx.ExecContext(ctx, s.sql.insertStatusAudits+placeholders(len(part), 4), args...); err != nil {
			return err
		}
	}
	for start := 0; start < len(e.runs); start += auditBatch {
		part := e.runs[start:min(start+auditBatch, len(e.runs))]
		args := make([]any, 0, len(part)*5)
		for _, a := range part {
			args = append(args, idArg(a.TaskID), ts(a.ExecutedAt), micros(a.ExecutionTime), string(a.Status), a.Error)
		}
		if _, err := tx.ExecContext(ctx, s.sql.insertRunsAudits+placeholders(len(part), 5), args...); err != nil {
			return err
		}
	}
	return s.writeStats(ctx, tx, e.stats)
}

// applyTransitions applies params in order onto the locked rows of e:
// applied[i] tells whether params[i] applied, found[i] whether its row
// exists.
func applyTransitions(e *edit, params []store.TransitionParams) (applied, found []bool) {
	applied, found = make([]bool, len(params)), make([]bool, len(params))
	for i := range params {
		p := &params[i]
		t := e.rows[p.ID]
		if t == nil {
			continue
		}
		found[i] = true
		if !p.AllowsAt(t, e.clock) {
			continue
		}
		p.ApplyAt(t, e.clock)
		e.mark(t)
		if store.StatusAuditRequired(p.AuditLevel, p.To, p.Error) {
			e.auditStatus(t.ID, p.Now, p.To, p.Error)
		}
		e.stats.add(t.Kind, p.To, p.Now, p.ExecutionTime)
		applied[i] = true
	}
	return applied, found
}

// transitions runs params as one compound step.
func (s *Store) transitions(ctx context.Context, params []store.TransitionParams) (applied, found []bool, err error) {
	ids := make([]uuid.UUID, len(params))
	for i := range params {
		ids[i] = params[i].ID
	}
	err = s.inTx(ctx, nil, func(tx *sql.Tx) error {
		e, err := s.lock(ctx, tx, ids)
		if err != nil {
			return err
		}
		applied, found = applyTransitions(e, params)
		return s.write(ctx, tx, e)
	})
	return applied, found, err
}

// Transition implements store.Store in one transaction (see edit).
func (s *Store) Transition(ctx context.Context, p store.TransitionParams) (bool, error) {
	if err := s.check(); err != nil {
		return false, err
	}
	if err := p.Validate(); err != nil {
		return false, err
	}
	applied, found, err := s.transitions(ctx, []store.TransitionParams{p})
	if err != nil {
		return false, fmt.Errorf("transition %s to %s: %w", p.ID, p.To, mapErr(err))
	}
	if !found[0] {
		return false, fmt.Errorf("transition %s to %s: %w", p.ID, p.To, store.ErrNotFound)
	}
	return applied[0], nil
}

// TransitionMany implements store.BatchStore in one transaction of four
// round trips (lock, write back, audits, commit) for up to a thousand
// transitions. Params apply in order, so a later transition of a row sees
// the earlier ones.
func (s *Store) TransitionMany(ctx context.Context, params []store.TransitionParams) ([]bool, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	if len(params) == 0 {
		return []bool{}, nil
	}
	for i := range params {
		if err := params[i].Validate(); err != nil {
			return make([]bool, len(params)), err
		}
	}
	applied, _, err := s.transitions(ctx, params)
	if err != nil {
		return make([]bool, len(params)), fmt.Errorf("transition %d tasks: %w", len(params), mapErr(err))
	}
	return applied, nil
}

// one runs a compound step on one row; fn gets nil when the row does not
// exist and reports whether the step applied.
func (s *Store) one(ctx context.Context, id uuid.UUID, fn func(e *edit, t *store.Task) bool) (applied, found bool, err error) {
	err = s.inTx(ctx, nil, func(tx *sql.Tx) error {
		e, err := s.lock(ctx, tx, []uuid.UUID{id})
		if err != nil {
			return err
		}
		t := e.rows[id]
		if found = t != nil; !found {
			return nil
		}
		if applied = fn(e, t); !applied {
			return nil
		}
		return s.write(ctx, tx, e)
	})
	return applied, found, err
}

// CompleteRecurringRun implements store.RecurringStore in one transaction.
func (s *Store) CompleteRecurringRun(ctx context.Context, p store.RunParams) (bool, error) {
	if err := s.check(); err != nil {
		return false, err
	}
	if err := p.ValidateEnd(); err != nil {
		return false, err
	}
	applied, found, err := s.one(ctx, p.ID, func(e *edit, t *store.Task) bool {
		if t.Status != store.StatusInProgress {
			return false
		}
		tp := store.TransitionParams{ID: p.ID, To: p.Status, Now: p.Now, Error: p.Error,
			ExecutionTime: p.ExecutionTime, AuditLevel: p.AuditLevel, HeldBy: p.HeldBy}
		if !tp.AllowsAt(t, e.clock) {
			return false
		}
		tp.ApplyAt(t, e.clock)
		t.RunCount = store.IncRunCount(t.RunCount)
		t.NextRunAt = store.NormalizeTime(p.NextRunAt)
		e.mark(t)
		if store.StatusAuditRequired(p.AuditLevel, p.Status, p.Error) {
			e.auditStatus(t.ID, p.Now, p.Status, p.Error)
		}
		e.stats.add(t.Kind, p.Status, p.Now, p.ExecutionTime)
		if store.RunsAuditRequired(p.AuditLevel, p.Status, p.Error) {
			e.runs = append(e.runs, store.RunsAudit{TaskID: t.ID, ExecutedAt: p.Now, ExecutionTime: p.ExecutionTime,
				Status: p.Status, Error: p.Error})
		}
		return true
	})
	if err != nil {
		return false, fmt.Errorf("complete run of %s: %w", p.ID, mapErr(err))
	}
	if !found {
		return false, fmt.Errorf("complete run of %s: %w", p.ID, store.ErrNotFound)
	}
	return applied, nil
}

// UpdateCurrentRun implements store.Store in one transaction.
func (s *Store) UpdateCurrentRun(ctx context.Context, p store.RunParams) error {
	if err := s.check(); err != nil {
		return err
	}
	if err := p.Validate(); err != nil {
		return err
	}
	_, found, err := s.one(ctx, p.ID, func(e *edit, t *store.Task) bool {
		t.RunCount = store.IncRunCount(t.RunCount)
		t.NextRunAt = store.NormalizeTime(p.NextRunAt)
		e.mark(t)
		if store.RunsAuditRequired(p.AuditLevel, t.Status, t.Error) {
			e.runs = append(e.runs, store.RunsAudit{TaskID: t.ID, ExecutedAt: p.Now, ExecutionTime: p.ExecutionTime,
				Status: t.Status, Error: t.Error})
		}
		return true
	})
	if err != nil {
		return fmt.Errorf("update run of %s: %w", p.ID, mapErr(err))
	}
	if !found {
		return fmt.Errorf("update run of %s: %w", p.ID, store.ErrNotFound)
	}
	return nil
}

// EndSeries implements store.RecurringStore in one transaction.
func (s *Store) EndSeries(ctx context.Context, p store.EndSeriesParams) (bool, error) {
	if err := s.check(); err != nil {
		return false, err
	}
	if err := p.Validate(); err != nil {
		return false, err
	}
	applied, found, err := s.one(ctx, p.ID, func(e *edit, t *store.Task) bool {
		if t.Status == store.StatusCancelled {
			return false
		}
		t.Status, t.Error, t.NextRunAt = p.Status, p.Error, time.Time{}
		t.Owner, t.LeaseUntil = "", time.Time{}
		e.mark(t)
		if store.StatusAuditRequired(p.AuditLevel, p.Status, p.Error) {
			e.auditStatus(t.ID, p.Now, p.Status, p.Error)
		}
		return true
	})
	if err != nil {
		return false, fmt.Errorf("end series %s: %w", p.ID, mapErr(err))
	}
	if !found {
		return false, fmt.Errorf("end series %s: %w", p.ID, store.ErrNotFound)
	}
	return applied, nil
}

// IncrementRecoveryFailures implements store.RecoveryCounter in one
// statement: LAST_INSERT_ID(expr) hands the new value back with the
// update's result.
func (s *Store) IncrementRecoveryFailures(ctx context.Context, id uuid.UUID) (int, error) {
	if err := s.check(); err != nil {
		return 0, err
	}
	var n int64
	err := retry(ctx, func() error {
		res, err := s.db.ExecContext(ctx, s.sql.incRecovery, idArg(id))
		if err != nil {
			return err
		}
		if changed, _ := res.RowsAffected(); changed > 0 {
			n, err = res.LastInsertId()
			return err
		}
		// Nothing changed: the row is missing, or its counter saturated.
		return s.db.QueryRowContext(ctx, s.sql.recovery, idArg(id)).Scan(&n)
	})
	if err != nil {
		return 0, fmt.Errorf("count recovery failure of %s: %w", id, mapErr(err))
	}
	return int(n), nil
}

// ClearRecoveryFailures implements store.RecoveryCounter.
func (s *Store) ClearRecoveryFailures(ctx context.Context, id uuid.UUID) error {
	if err := s.check(); err != nil {
		return err
	}
	found := true
	err := retry(ctx, func() error {
		res, err := s.db.ExecContext(ctx, s.sql.clearRecovery, idArg(id))
		if err != nil {
			return err
		}
		if changed, _ := res.RowsAffected(); changed == 0 {
			found, err = s.exists(ctx, s.db, id)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("clear recovery failures of %s: %w", id, mapErr(err))
	}
	if !found {
		return fmt.Errorf("clear recovery failures of %s: %w", id, store.ErrNotFound)
	}
	return nil
}
