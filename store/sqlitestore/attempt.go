package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/evertask/evertask/store"
)

var (
	_ store.AttemptStore = (*Store)(nil)
	_ store.LogTrimmer   = (*Store)(nil)
)

const (
	attemptLeaseSQL  = `SELECT status, owner, lease_until FROM tasks WHERE id = ?`
	insertAttemptSQL = `INSERT INTO attempts (task_id, run, number, started_at, duration_us, error)
VALUES (?, ?, ?, ?, ?, ?) RETURNING id`
	purgeAttempts = `DELETE FROM attempts WHERE id IN
    (SELECT id FROM attempts WHERE started_at < @cut LIMIT @batch)`
)

// RecordAttempt appends one failed attempt, in one write transaction with
// the check of the row (and of its lease, when fenced).
func (s *Store) RecordAttempt(ctx context.Context, p store.AttemptParams) (bool, error) {
	if err := s.check(); err != nil {
		return false, err
	}
	if err := p.Validate(); err != nil {
		return false, err
	}
	a := &p.Attempt
	applied := false
	err := s.withTx(ctx, func(tx *sql.Tx) error {
		var status, owner string
		var until sql.NullInt64
		err := tx.QueryRowContext(ctx, attemptLeaseSQL, a.TaskID[:]).Scan(&status, &owner, &until)
		if errors.Is(err, sql.ErrNoRows) {
			return store.ErrNotFound
		}
		if err != nil {
			return err
		}
		if p.HeldBy != "" {
			t := store.Task{Status: store.Status(status), Owner: owner}
			if until.Valid {
				t.LeaseUntil = time.UnixMicro(until.Int64).UTC()
			}
			if !t.Holds(p.HeldBy, s.clock()) {
				return nil
			}
		}
		applied = true
		if !store.AttemptAuditRequired(p.AuditLevel) {
			return nil
		}
		return tx.QueryRowContext(ctx, insertAttemptSQL, a.TaskID[:], a.Run, a.Number,
			a.StartedAt.UnixMicro(), a.Duration.Microseconds(), a.Error).Scan(&a.ID)
	})
	if err != nil {
		return false, fmt.Errorf("record attempt of %s: %w", a.TaskID, err)
	}
	return applied, nil
}

// Attempts returns the task's failed attempts, oldest first.
func (s *Store) Attempts(ctx context.Context, taskID uuid.UUID) ([]store.Attempt, error) {
	return s.read.Attempts(ctx, taskID)
}
