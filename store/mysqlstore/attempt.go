package mysqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/evertask/evertask/store"
)

const (
	// The row of an attempt's task with the store's clock, share-locked, so
	// the fence waits for a transition of the row in flight and judges the
	// lease it committed.
	sqlAttemptRow    = `SELECT ` + storeClock + `, status, owner, lease_until FROM {tasks} WHERE id = ? LOCK IN SHARE MODE`
	sqlAttemptAdd    = `INSERT INTO {attempts} (task_id, run, number, started_at, duration_us, error_text) VALUES (?, ?, ?, ?, ?, ?)`
	sqlPurgeAttempts = `DELETE FROM {attempts} WHERE started_at < ? ORDER BY started_at LIMIT ?`
)

// RecordAttempt implements store.AttemptStore in one transaction: the task
// row, share-locked, for its existence and the fence, then the insert.
func (s *Store) RecordAttempt(ctx context.Context, p store.AttemptParams) (bool, error) {
	if err := s.check(); err != nil {
		return false, err
	}
	if err := p.Validate(); err != nil {
		return false, err
	}
	a := &p.Attempt
	var applied, found bool
	err := s.inTx(ctx, nil, func(tx *sql.Tx) error {
		var (
			t      store.Task
			status string
			clock  time.Time
		)
		err := tx.QueryRowContext(ctx, s.n.fill(sqlAttemptRow), idArg(a.TaskID)).Scan(timeDest{&clock}, &status, &t.Owner, timeDest{&t.LeaseUntil})
		if err == sql.ErrNoRows {
			found, applied = false, false
			return nil
		}
		if err != nil {
			return err
		}
		found = true
		t.Status = store.Status(status)
		if p.HeldBy != "" && !t.Holds(p.HeldBy, clock) {
			applied = false
			return nil
		}
		applied = true
		if !store.AttemptAuditRequired(p.AuditLevel) {
			return nil
		}
		_, err = tx.ExecContext(ctx, s.n.fill(sqlAttemptAdd), idArg(a.TaskID), a.Run, a.Number, ts(a.StartedAt),
			micros(a.Duration), a.Error)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("record attempt of %s: %w", a.TaskID, mapErr(err))
	}
	if !found {
		return false, fmt.Errorf("record attempt of %s: %w", a.TaskID, store.ErrNotFound)
	}
	return applied, nil
}

// Attempts implements store.AttemptStore.
func (s *Store) Attempts(ctx context.Context, taskID uuid.UUID) ([]store.Attempt, error) {
	return s.read.Attempts(ctx, taskID)
}
