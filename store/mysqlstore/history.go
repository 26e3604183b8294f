package mysqlstore

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/google/uuid"

	"github.com/evertask/evertask/store"
)

// SaveLogs implements store.Store with one multi-row insert per thousand
// logs, in one transaction when there are more; the foreign key turns a
// missing task into store.ErrNotFound.
func (s *Store) SaveLogs(ctx context.Context, taskID uuid.UUID, logs []store.ExecutionLog) error {
	if err := s.check(); err != nil {
		return err
	}
	if len(logs) == 0 {
		return nil
	}
	insert := func(db execer, part []store.ExecutionLog) error {
		args := make([]any, 0, len(part)*7)
		for i := range part {
			l := &part[i]
			args = append(args, idArg(l.ID), idArg(taskID), ts(l.At), l.Level, l.Message, l.ErrorDetails, l.Seq)
		}
		_, err := db.ExecContext(ctx, s.sql.saveLogs+placeholders(len(part), 7), args...)
		return err
	}
	var err error
	if len(logs) <= auditBatch {
		err = retry(ctx, func() error { return insert(s.db, logs) })
	} else {
		err = s.inTx(ctx, nil, func(tx *sql.Tx) error {
			for start := 0; start < len(logs); start += auditBatch {
				if err := insert(tx, logs[start:min(start+auditBatch, len(logs))]); err != nil {
					return err
				}
			}
			return nil
		})
	}
	if err != nil {
		return fmt.Errorf("save %d logs of %s: %w", len(logs), taskID, mapErr(err))
	}
	return nil
}

// Logs implements store.Store.
func (s *Store) Logs(ctx context.Context, taskID uuid.UUID) ([]store.ExecutionLog, error) {
	return s.read.Logs(ctx, taskID)
}

// LogsPage implements store.Store: the page and the total are two
// statements, each consistent with itself.
func (s *Store) LogsPage(ctx context.Context, q store.LogQuery) (store.LogPage, error) {
	return s.read.LogsPage(ctx, q)
}

// StatusAudits implements store.Store.
func (s *Store) StatusAudits(ctx context.Context, taskID uuid.UUID) ([]store.StatusAudit, error) {
	return s.read.StatusAudits(ctx, taskID)
}

// RunsAudits implements store.Store.
func (s *Store) RunsAudits(ctx context.Context, taskID uuid.UUID) ([]store.RunsAudit, error) {
	return s.read.RunsAudits(ctx, taskID)
}

const (
	// The logs of a task, locked with the gaps of their index range, so a
	// SaveLogs of the task waits until the trim commits.
	sqlLockLogs = `SELECT pk FROM {execution_logs} WHERE task_id = ? FOR UPDATE`
	// ? task, how many to delete: the oldest in the order of Logs.
	sqlTrimLogs = `DELETE FROM {execution_logs} WHERE task_id = ? ORDER BY id, seq, pk LIMIT ?`
)

// TrimLogs implements store.LogTrimmer in one transaction: the task's logs
// are counted under a lock of their index range (REPEATABLE READ locks the
// gaps too, so a concurrent SaveLogs of the task lands after the trim),
// then the oldest beyond keep are deleted.
func (s *Store) TrimLogs(ctx context.Context, taskID uuid.UUID, keep int) (int, error) {
	if err := s.check(); err != nil {
		return 0, err
	}
	if err := store.CheckKeep(keep); err != nil {
		return 0, err
	}
	var deleted int
	err := s.inTx(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead}, func(tx *sql.Tx) error {
		deleted = 0
		rows, err := tx.QueryContext(ctx, s.n.fill(sqlLockLogs), idArg(taskID))
		if err != nil {
			return err
		}
		n := 0
		for rows.Next() {
			n++
		}
		if err := rows.Close(); err != nil {
			return err
		}
		if n <= keep {
			return nil
		}
		res, err := tx.ExecContext(ctx, s.n.fill(sqlTrimLogs), idArg(taskID), n-keep)
		if err != nil {
			return err
		}
		d, err := res.RowsAffected()
		deleted = int(d)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("trim logs of %s: %w", taskID, mapErr(err))
	}
	return deleted, nil
}
