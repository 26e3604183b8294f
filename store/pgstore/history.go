package pgstore

import (
	"context"
	"fmt"

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

// Logs implements store.Store.
func (s *Store) Logs(ctx context.Context, taskID uuid.UUID) ([]store.ExecutionLog, error) {
	return s.read.Logs(ctx, taskID)
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
	page, total := s.read.LogsPageQueries(q)
	batch := &pgx.Batch{}
	batch.Queue(page.Text, page.Args...)
	batch.Queue(total.Text, total.Args...)
	res := s.pool.SendBatch(ctx, batch)
	defer res.Close()
	var out store.LogPage
	err := func() error {
		rows, err := res.Query()
		if err != nil {
			return err
		}
		defer rows.Close()
		if out.Logs, err = s.read.ScanLogs(rows); err != nil {
			return err
		}
		rows.Close()
		if err := res.QueryRow().Scan(&out.Total); err != nil {
			return err
		}
		return res.Close()
	}()
	if err != nil {
		return store.LogPage{}, fmt.Errorf("logs page of %s: %w", q.TaskID, mapErr(err))
	}
	return out, nil
}

// StatusAudits implements store.Store.
func (s *Store) StatusAudits(ctx context.Context, taskID uuid.UUID) ([]store.StatusAudit, error) {
	return s.read.StatusAudits(ctx, taskID)
}

// RunsAudits implements store.Store.
func (s *Store) RunsAudits(ctx context.Context, taskID uuid.UUID) ([]store.RunsAudit, error) {
	return s.read.RunsAudits(ctx, taskID)
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
