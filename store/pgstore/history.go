package pgstore

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/evertask/evertask/store"
)

// SaveLogs implements store.Store with one multi-row insert; the foreign
// key turns a missing task into store.ErrNotFound.
func (s *Store) SaveLogs(ctx context.Context, taskID uuid.UUID, logs []store.ExecutionLog) error {
	if err := s.check(); err != nil {
		return err
	}
	if len(logs) == 0 {
		return nil
	}
	n := len(logs)
	var (
		ids                   = make([]pgtype.UUID, n)
		ats                   = make([]pgtype.Timestamptz, n)
		levels, msgs, details = make([]string, n), make([]string, n), make([]string, n)
		seqs                  = make([]int32, n)
	)
	for i := range logs {
		l := &logs[i]
		ids[i], ats[i], levels[i], msgs[i], details[i], seqs[i] = uuidArg(l.ID), ts(l.At), l.Level, l.Message, l.ErrorDetails, int32(l.Seq)
	}
	if _, err := s.pool.Exec(ctx, s.sql.saveLogs, uuidArg(taskID), ids, ats, levels, msgs, details, seqs); err != nil {
		return fmt.Errorf("save %d logs of %s: %w", n, taskID, mapErr(err))
	}
	return nil
}

func scanLogs(rows pgx.Rows) ([]store.ExecutionLog, error) {
	defer rows.Close()
	var out []store.ExecutionLog
	for rows.Next() {
		var (
			l   store.ExecutionLog
			at  pgtype.Timestamptz
			seq int32
		)
		if err := rows.Scan(uuidDest(&l.ID), uuidDest(&l.TaskID), &at, &l.Level, &l.Message, &l.ErrorDetails, &seq); err != nil {
			return nil, err
		}
		l.At, l.Seq = fromTS(at), int(seq)
		out = append(out, l)
	}
	return out, rows.Err()
}

// Logs implements store.Store.
func (s *Store) Logs(ctx context.Context, taskID uuid.UUID) ([]store.ExecutionLog, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, s.sql.logs, taskID)
	if err != nil {
		return nil, fmt.Errorf("logs of %s: %w", taskID, mapErr(err))
	}
	logs, err := scanLogs(rows)
	if err != nil {
		return nil, fmt.Errorf("logs of %s: %w", taskID, mapErr(err))
	}
	return logs, nil
}

// LogsPage implements store.Store: the page and the total go in one round
// trip.
func (s *Store) LogsPage(ctx context.Context, q store.LogQuery) (store.LogPage, error) {
	if err := s.check(); err != nil {
		return store.LogPage{}, err
	}
	if err := q.Normalize(); err != nil {
		return store.LogPage{}, err
	}
	limit := q.Limit
	batch := &pgx.Batch{}
	batch.Queue(s.sql.logsPage, uuidArg(q.TaskID), q.Level, q.Offset, limit)
	batch.Queue(s.sql.logsCount, uuidArg(q.TaskID), q.Level)
	res := s.pool.SendBatch(ctx, batch)
	defer res.Close()
	rows, err := res.Query()
	if err != nil {
		return store.LogPage{}, fmt.Errorf("logs page of %s: %w", q.TaskID, mapErr(err))
	}
	logs, err := scanLogs(rows)
	if err != nil {
		return store.LogPage{}, fmt.Errorf("logs page of %s: %w", q.TaskID, mapErr(err))
	}
	var total int64
	if err := res.QueryRow().Scan(&total); err != nil {
		return store.LogPage{}, fmt.Errorf("logs page of %s: %w", q.TaskID, mapErr(err))
	}
	if err := res.Close(); err != nil {
		return store.LogPage{}, fmt.Errorf("logs page of %s: %w", q.TaskID, mapErr(err))
	}
	return store.LogPage{Logs: logs, Total: int(total)}, nil
}

// StatusAudits implements store.Store.
func (s *Store) StatusAudits(ctx context.Context, taskID uuid.UUID) ([]store.StatusAudit, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, s.sql.statusAudits, taskID)
	if err != nil {
		return nil, fmt.Errorf("status audits of %s: %w", taskID, mapErr(err))
	}
	defer rows.Close()
	var out []store.StatusAudit
	for rows.Next() {
		var (
			a      store.StatusAudit
			at     pgtype.Timestamptz
			status string
		)
		if err := rows.Scan(&a.ID, uuidDest(&a.TaskID), &at, &status, &a.Error); err != nil {
			return nil, fmt.Errorf("status audits of %s: %w", taskID, mapErr(err))
		}
		a.At, a.Status = fromTS(at), store.Status(status)
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("status audits of %s: %w", taskID, mapErr(err))
	}
	return out, nil
}

// RunsAudits implements store.Store.
func (s *Store) RunsAudits(ctx context.Context, taskID uuid.UUID) ([]store.RunsAudit, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, s.sql.runsAudits, taskID)
	if err != nil {
		return nil, fmt.Errorf("runs audits of %s: %w", taskID, mapErr(err))
	}
	defer rows.Close()
	var out []store.RunsAudit
	for rows.Next() {
		var (
			a      store.RunsAudit
			at     pgtype.Timestamptz
			execUS int64
			status string
		)
		if err := rows.Scan(&a.ID, uuidDest(&a.TaskID), &at, &execUS, &status, &a.Error); err != nil {
			return nil, fmt.Errorf("runs audits of %s: %w", taskID, mapErr(err))
		}
		a.ExecutedAt, a.ExecutionTime, a.Status = fromTS(at), time.Duration(execUS)*time.Microsecond, store.Status(status)
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("runs audits of %s: %w", taskID, mapErr(err))
	}
	return out, nil
}

// TrimLogs implements store.LogTrimmer in one statement.
func (s *Store) TrimLogs(ctx context.Context, taskID uuid.UUID, keep int) (int, error) {
	if err := s.check(); err != nil {
		return 0, err
	}
	if err := store.CheckKeep(keep); err != nil {
		return 0, err
	}
	tag, err := s.pool.Exec(ctx, s.sql.attempts.trimLogs, uuidArg(taskID), keep)
	if err != nil {
		return 0, fmt.Errorf("trim logs of %s: %w", taskID, mapErr(err))
	}
	return int(tag.RowsAffected()), nil
}
