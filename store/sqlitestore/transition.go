package sqlitestore

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/evertask/evertask/store"
)

// recoverableSQL is store.Recoverable in SQL, evaluated at @now (the
// caller's time truncated to a microsecond, as store.Recoverable does): the
// series is not exhausted (strict <), RunUntil is unset or not before now,
// and the status is unfinished or a recurring Completed/Failed with a next
// run. The
// status term is textually the WHERE of the tasks_recovery index, which is
// how SQLite knows the index covers a query using it. Equalities rather than
// IN lists for the reason given in the migration.
const recoverableSQL = `(max_runs <= 0 OR run_count < max_runs)
  AND (run_until IS NULL OR run_until >= @now)
  AND (status = 'WaitingQueue' OR status = 'Queued' OR status = 'Pending' OR status = 'InProgress'
       OR status = 'ServiceStopped'
       OR (recurring = 1 AND next_run_at IS NOT NULL AND (status = 'Completed' OR status = 'Failed')))`

const (
	insertRunsAuditSQL = `INSERT INTO runs_audits (task_id, executed_at, execution_time_us, status, error)
VALUES (?, ?, ?, ?, ?)`

	// incRunCount saturates at store.MaxRunCount instead of wrapping.
	incRunCount = `CASE WHEN run_count >= 2147483647 THEN 2147483647 ELSE max(run_count, 0) + 1 END`

	updateCurrentRunSQL = `UPDATE tasks SET run_count = ` + incRunCount + `, next_run_at = ?
WHERE id = ? RETURNING status, error`
	// completeRunSQL leaves InProgress, so it clears the lease; ?7 is
	// RunParams.HeldBy, the fence, at the store's clock ?8. It names
	// stats_hook, so the trigger tasks_stats counts the run (migration 008).
	completeRunSQL = `UPDATE tasks SET status = ?1, last_execution_at = ?2, execution_time_us = ?3, error = ?4,
    run_count = ` + incRunCount + `, next_run_at = ?5, owner = '', lease_until = NULL, stats_hook = NULL,
    recovery_failures = CASE WHEN ?7 = '' THEN recovery_failures ELSE 0 END
WHERE id = ?6 AND status = 'InProgress'
  AND (?7 = '' OR (owner = ?7 AND lease_until IS NOT NULL AND lease_until > ?8))`
	endSeriesSQL = `UPDATE tasks SET status = ?, error = ?, next_run_at = NULL, owner = '', lease_until = NULL
WHERE id = ? AND status <> 'Cancelled'`

	incRecoverySQL   = `UPDATE tasks SET recovery_failures = recovery_failures + 1 WHERE id = ? RETURNING recovery_failures`
	clearRecoverySQL = `UPDATE tasks SET recovery_failures = 0 WHERE id = ?`
)

// Transition changes the status when the conditions hold, with its audit,
// atomically. The conditions are evaluated in the UPDATE itself, so a
// concurrent writer can never slip between check and write. The lease
// fields (Lease, HeldBy, the live-lease rule of IfRecoverable) are
// evaluated at the store's clock (see Store.Now).
func (s *Store) Transition(ctx context.Context, p store.TransitionParams) (bool, error) {
	if err := s.check(); err != nil {
		return false, err
	}
	if err := p.Validate(); err != nil {
		return false, err
	}
	var applied bool
	var err error
	if !store.StatusAuditRequired(p.AuditLevel, p.To, p.Error) {
		// Without an audit row the UPDATE alone is the whole step, and a
		// single statement is atomic: skip BEGIN and COMMIT.
		applied, err = s.transitionNoAudit(ctx, &p)
	} else {
		err = s.withTx(ctx, func(tx *sql.Tx) error {
			var err error
			if applied, err = s.transitionOne(ctx, tx, &p, s.clock()); err == nil && !applied {
				err = s.mustExist(ctx, tx, p.ID)
			}
			return err
		})
	}
	if err != nil {
		return false, fmt.Errorf("transition task %s to %s: %w", p.ID, p.To, mapErr(err))
	}
	return applied, nil
}

// transitionOne applies one transition and its audit on tx, at the store's
// clock clock.
func (s *Store) transitionOne(ctx context.Context, tx *sql.Tx, p *store.TransitionParams, clock time.Time) (bool, error) {
	res, err := tx.StmtContext(ctx, s.stmts.transition).ExecContext(ctx, transitionRow(p, clock)...)
	if err != nil {
		return false, err
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return false, err
	}
	if store.StatusAuditRequired(p.AuditLevel, p.To, p.Error) {
		_, err = s.batch.stmt(ctx, tx, batchStatusAudits, 1).ExecContext(ctx, p.ID[:], p.Now.UnixMicro(), string(p.To), p.Error)
	}
	return err == nil, err
}

// transitionNoAudit runs the UPDATE on its own, without a transaction. The
// store's clock is read before the statement waits for the write lock, so
// it may be behind the clock at the write by that wait: a Lease is then that
// much shorter, and a lease that expired during the wait still counts as
// live. Both err on the safe side: no other writer can have changed the row
// meanwhile (that needs the lock this statement waits for), so a fenced
// write that applies still finds the holder's own claim, and a row that
// IfRecoverable refuses is rescued once its lease has expired.
func (s *Store) transitionNoAudit(ctx context.Context, p *store.TransitionParams) (bool, error) {
	res, err := s.stmts.transition.ExecContext(ctx, transitionRow(p, s.clock())...)
	if err != nil {
		return false, err
	}
	if n, err := res.RowsAffected(); err != nil || n > 0 {
		return n > 0, err
	}
	var one int
	if err := s.stmts.taskExists.QueryRowContext(ctx, p.ID[:]).Scan(&one); err != nil {
		return false, err // sql.ErrNoRows maps to store.ErrNotFound
	}
	return false, nil
}

// mustExist returns store.ErrNotFound when the row is missing, inside tx:
// it tells "condition did not hold" from "no such row".
func (s *Store) mustExist(ctx context.Context, tx *sql.Tx, id uuid.UUID) error {
	ok, err := s.exists(ctx, tx, id[:])
	if err == nil && !ok {
		err = store.ErrNotFound
	}
	return err
}

// TransitionMany applies the transitions in one transaction, with the
// counters of their outcomes; a missing row reports false.
func (s *Store) TransitionMany(ctx context.Context, params []store.TransitionParams) ([]bool, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	for i := range params {
		if err := params[i].Validate(); err != nil {
			return nil, err
		}
	}
	applied := make([]bool, len(params))
	if len(params) == 0 {
		return applied, nil
	}
	err := s.withTx(ctx, func(tx *sql.Tx) error {
		clock := s.clock() // under the write lock
		if distinctIDs(params) {
			var stats statsCounts
			if err := s.transitionMany(ctx, tx, params, applied, clock, &stats); err != nil {
				return err
			}
			return stats.write(ctx, s, tx)
		}
		// A repeated id must see the outcome of its earlier transition,
		// which one set-based statement would not show it: one by one (the
		// single statement counts itself).
		for i := range params {
			var err error
			if applied[i], err = s.transitionOne(ctx, tx, &params[i], clock); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		// The transaction rolled back: nothing applied.
		return make([]bool, len(params)), err
	}
	return applied, nil
}

// UpdateCurrentRun counts one run and sets the next, with its runs audit,
// atomically.
func (s *Store) UpdateCurrentRun(ctx context.Context, p store.RunParams) error {
	if err := s.check(); err != nil {
		return err
	}
	if err := p.Validate(); err != nil {
		return err
	}
	err := s.withTx(ctx, func(tx *sql.Tx) error {
		var status, errText string
		if err := tx.QueryRowContext(ctx, updateCurrentRunSQL, micros(p.NextRunAt), p.ID[:]).Scan(&status, &errText); err != nil {
			return err
		}
		st := store.Status(status)
		if !store.RunsAuditRequired(p.AuditLevel, st, errText) {
			return nil
		}
		return s.insertRunsAudit(ctx, tx, p.ID, &p, st, errText)
	})
	if err != nil {
		return fmt.Errorf("update current run of %s: %w", p.ID, err)
	}
	return nil
}

func (s *Store) insertRunsAudit(ctx context.Context, tx *sql.Tx, id uuid.UUID, p *store.RunParams, st store.Status, errText string) error {
	_, err := tx.StmtContext(ctx, s.stmts.insertRunsAudit).ExecContext(ctx,
		id[:], p.Now.UnixMicro(), p.ExecutionTime.Microseconds(), string(st), errText)
	return err
}

// CompleteRecurringRun ends one execution of a series in one transaction,
// only while the row is InProgress (and, fenced, held by p.HeldBy).
func (s *Store) CompleteRecurringRun(ctx context.Context, p store.RunParams) (bool, error) {
	if err := s.check(); err != nil {
		return false, err
	}
	if err := p.ValidateEnd(); err != nil {
		return false, err
	}
	var applied bool
	err := s.withTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, completeRunSQL, string(p.Status), p.Now.UnixMicro(),
			p.ExecutionTime.Microseconds(), p.Error, micros(p.NextRunAt), p.ID[:], p.HeldBy,
			s.clock().UnixMicro())
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			if err != nil {
				return err
			}
			return s.mustExist(ctx, tx, p.ID)
		}
		applied = true
		if store.StatusAuditRequired(p.AuditLevel, p.Status, p.Error) {
			if _, err := s.batch.stmt(ctx, tx, batchStatusAudits, 1).ExecContext(ctx,
				p.ID[:], p.Now.UnixMicro(), string(p.Status), p.Error); err != nil {
				return err
			}
		}
		if store.RunsAuditRequired(p.AuditLevel, p.Status, p.Error) {
			return s.insertRunsAudit(ctx, tx, p.ID, &p, p.Status, p.Error)
		}
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("complete run of %s: %w", p.ID, err)
	}
	return applied, nil
}

// EndSeries ends a series without counting a run, in one transaction. A
// Cancelled row is left as it is.
func (s *Store) EndSeries(ctx context.Context, p store.EndSeriesParams) (bool, error) {
	if err := s.check(); err != nil {
		return false, err
	}
	if err := p.Validate(); err != nil {
		return false, err
	}
	var applied bool
	err := s.withTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, endSeriesSQL, string(p.Status), p.Error, p.ID[:])
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			if err != nil {
				return err
			}
			return s.mustExist(ctx, tx, p.ID)
		}
		applied = true
		if !store.StatusAuditRequired(p.AuditLevel, p.Status, p.Error) {
			return nil
		}
		_, err = s.batch.stmt(ctx, tx, batchStatusAudits, 1).ExecContext(ctx,
			p.ID[:], p.Now.UnixMicro(), string(p.Status), p.Error)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("end series %s: %w", p.ID, err)
	}
	return applied, nil
}

// IncrementRecoveryFailures adds one to the poison counter and returns it.
func (s *Store) IncrementRecoveryFailures(ctx context.Context, id uuid.UUID) (int, error) {
	if err := s.check(); err != nil {
		return 0, err
	}
	var n int
	if err := s.writer.QueryRowContext(ctx, incRecoverySQL, id[:]).Scan(&n); err != nil {
		return 0, fmt.Errorf("increment recovery failures of %s: %w", id, mapErr(err))
	}
	return n, nil
}

// ClearRecoveryFailures resets the poison counter.
func (s *Store) ClearRecoveryFailures(ctx context.Context, id uuid.UUID) error {
	if err := s.check(); err != nil {
		return err
	}
	res, err := s.writer.ExecContext(ctx, clearRecoverySQL, id[:])
	if err := affectedOne(res, err); err != nil {
		return fmt.Errorf("clear recovery failures of %s: %w", id, err)
	}
	return nil
}
