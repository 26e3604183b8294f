package sqlitestore

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/google/uuid"

	"github.com/evertask/evertask/store"
	"github.com/evertask/evertask/store/internal/sqlread"
)

const insertLogSQL = `INSERT INTO execution_logs (id, task_id, at, level, message, error_details, seq)
VALUES (?, ?, ?, ?, ?, ?, ?)`

// SaveLogs appends the logs of a task in one transaction.
func (s *Store) SaveLogs(ctx context.Context, taskID uuid.UUID, logs []store.ExecutionLog) error {
	if err := s.check(); err != nil {
		return err
	}
	if len(logs) == 0 {
		return nil
	}
	err := s.withTx(ctx, func(tx *sql.Tx) error {
		if err := s.mustExist(ctx, tx, taskID); err != nil {
			return err
		}
		ins, err := tx.PrepareContext(ctx, insertLogSQL)
		if err != nil {
			return err
		}
		defer ins.Close()
		for i := range logs {
			l := &logs[i]
			if _, err := ins.ExecContext(ctx, l.ID[:], taskID[:], l.At.UnixMicro(), l.Level, l.Message,
				l.ErrorDetails, l.Seq); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("save logs of %s: %w", taskID, err)
	}
	return nil
}

// Logs returns every log of the task, ordered by (ID, Seq).
func (s *Store) Logs(ctx context.Context, taskID uuid.UUID) ([]store.ExecutionLog, error) {
	return s.read.Logs(ctx, taskID)
}

// LogsPage returns one page of the task's logs and the matching total, read
// in one read-only transaction, one snapshot, so the two agree.
func (s *Store) LogsPage(ctx context.Context, q store.LogQuery) (store.LogPage, error) {
	if err := s.check(); err != nil {
		return store.LogPage{}, err
	}
	tx, err := s.readers.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return store.LogPage{}, fmt.Errorf("logs page of %s: %w", q.TaskID, mapErr(err))
	}
	defer tx.Rollback()
	r := s.read
	r.Run = sqlread.DB(tx)
	return r.LogsPage(ctx, q)
}

// StatusAudits returns the task's status audits, newest first.
func (s *Store) StatusAudits(ctx context.Context, taskID uuid.UUID) ([]store.StatusAudit, error) {
	return s.read.StatusAudits(ctx, taskID)
}

// RunsAudits returns the task's runs audits, newest first.
func (s *Store) RunsAudits(ctx context.Context, taskID uuid.UUID) ([]store.RunsAudit, error) {
	return s.read.RunsAudits(ctx, taskID)
}

// trimLogsSQL keeps the newest @keep logs of a task in (id, seq) order.
const trimLogsSQL = `DELETE FROM execution_logs WHERE task_id = @task AND rowid NOT IN
    (SELECT rowid FROM execution_logs WHERE task_id = @task ORDER BY id DESC, seq DESC LIMIT @keep)`

// TrimLogs implements store.LogTrimmer in one statement.
func (s *Store) TrimLogs(ctx context.Context, taskID uuid.UUID, keep int) (int, error) {
	if err := s.check(); err != nil {
		return 0, err
	}
	if err := store.CheckKeep(keep); err != nil {
		return 0, err
	}
	res, err := s.writer.ExecContext(ctx, trimLogsSQL, sql.Named("task", taskID[:]), sql.Named("keep", keep))
	if err != nil {
		return 0, fmt.Errorf("trim logs of %s: %w", taskID, mapErr(err))
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("trim logs of %s: %w", taskID, mapErr(err))
	}
	return int(n), nil
}
