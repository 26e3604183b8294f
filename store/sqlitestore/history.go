package sqlitestore

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/evertask/evertask/store"
)

const (
	insertLogSQL = `INSERT INTO execution_logs (id, task_id, at, level, message, error_details, seq)
VALUES (?, ?, ?, ?, ?, ?, ?)`
	logColumns  = `id, task_id, at, level, message, error_details, seq`
	selectLogs  = `SELECT ` + logColumns + ` FROM execution_logs WHERE task_id = ? ORDER BY id, seq`
	logsPageSQL = `SELECT ` + logColumns + ` FROM execution_logs
WHERE task_id = @task AND (@level = '' OR ` + foldFunc + `(level) = @level)
ORDER BY id, seq LIMIT @limit OFFSET @offset`
	logsCountSQL = `SELECT count(*) FROM execution_logs
WHERE task_id = @task AND (@level = '' OR ` + foldFunc + `(level) = @level)`

	selectStatusAudits = `SELECT id, task_id, at, status, error FROM status_audits
WHERE task_id = ? ORDER BY id DESC`
	selectRunsAudits = `SELECT id, task_id, executed_at, execution_time_us, status, error FROM runs_audits
WHERE task_id = ? ORDER BY id DESC`
)

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
	if err := s.check(); err != nil {
		return nil, err
	}
	rows, err := s.readers.QueryContext(ctx, selectLogs, taskID[:])
	if err != nil {
		return nil, fmt.Errorf("logs of %s: %w", taskID, mapErr(err))
	}
	logs, err := scanLogs(rows)
	if err != nil {
		return nil, fmt.Errorf("logs of %s: %w", taskID, mapErr(err))
	}
	return logs, nil
}

// LogsPage returns one page of the task's logs and the matching total, read
// in one snapshot so the two agree.
func (s *Store) LogsPage(ctx context.Context, q store.LogQuery) (store.LogPage, error) {
	if err := s.check(); err != nil {
		return store.LogPage{}, err
	}
	err := q.Normalize()
	if err != nil {
		return store.LogPage{}, err
	}
	limit := q.Limit
	var page store.LogPage
	err = func() error {
		tx, err := s.readers.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
		if err != nil {
			return err
		}
		defer tx.Rollback()
		task, level := sql.Named("task", q.TaskID[:]), sql.Named("level", store.Fold(q.Level))
		if err := tx.QueryRowContext(ctx, logsCountSQL, task, level).Scan(&page.Total); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, logsPageSQL, task, level,
			sql.Named("limit", limit), sql.Named("offset", q.Offset))
		if err != nil {
			return err
		}
		page.Logs, err = scanLogs(rows)
		return err
	}()
	if err != nil {
		return store.LogPage{}, fmt.Errorf("logs page of %s: %w", q.TaskID, mapErr(err))
	}
	return page, nil
}

func scanLogs(rows *sql.Rows) ([]store.ExecutionLog, error) {
	defer rows.Close()
	var out []store.ExecutionLog
	for rows.Next() {
		var l store.ExecutionLog
		var id, task []byte
		var at int64
		if err := rows.Scan(&id, &task, &at, &l.Level, &l.Message, &l.ErrorDetails, &l.Seq); err != nil {
			return nil, err
		}
		l.ID, l.TaskID, l.At = uuid.UUID(id), uuid.UUID(task), time.UnixMicro(at).UTC()
		out = append(out, l)
	}
	return out, rows.Err()
}

// StatusAudits returns the task's status audits, newest first.
func (s *Store) StatusAudits(ctx context.Context, taskID uuid.UUID) ([]store.StatusAudit, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	out, err := func() ([]store.StatusAudit, error) {
		rows, err := s.readers.QueryContext(ctx, selectStatusAudits, taskID[:])
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		var out []store.StatusAudit
		for rows.Next() {
			var a store.StatusAudit
			var task []byte
			var at int64
			if err := rows.Scan(&a.ID, &task, &at, &a.Status, &a.Error); err != nil {
				return nil, err
			}
			a.TaskID, a.At = uuid.UUID(task), time.UnixMicro(at).UTC()
			out = append(out, a)
		}
		return out, rows.Err()
	}()
	if err != nil {
		return nil, fmt.Errorf("status audits of %s: %w", taskID, mapErr(err))
	}
	return out, nil
}

// RunsAudits returns the task's runs audits, newest first.
func (s *Store) RunsAudits(ctx context.Context, taskID uuid.UUID) ([]store.RunsAudit, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	out, err := func() ([]store.RunsAudit, error) {
		rows, err := s.readers.QueryContext(ctx, selectRunsAudits, taskID[:])
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		var out []store.RunsAudit
		for rows.Next() {
			var a store.RunsAudit
			var task []byte
			var at, execUS int64
			if err := rows.Scan(&a.ID, &task, &at, &execUS, &a.Status, &a.Error); err != nil {
				return nil, err
			}
			a.TaskID, a.ExecutedAt = uuid.UUID(task), time.UnixMicro(at).UTC()
			a.ExecutionTime = time.Duration(execUS) * time.Microsecond
			out = append(out, a)
		}
		return out, rows.Err()
	}()
	if err != nil {
		return nil, fmt.Errorf("runs audits of %s: %w", taskID, mapErr(err))
	}
	return out, nil
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
