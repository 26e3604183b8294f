package sqlitestore

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/evertask/evertask/store"
)

var _ store.QueuePauser = (*Store)(nil)

const (
	// The queue names compare as bytes (SQLite's BINARY collation), the
	// order of Go strings.
	pauseSQL  = `INSERT INTO queue_pauses (queue, paused_at) VALUES (?, ?) ON CONFLICT (queue) DO NOTHING`
	resumeSQL = `DELETE FROM queue_pauses WHERE queue = ?`
	pausedSQL = `SELECT queue, paused_at FROM queue_pauses ORDER BY queue`
)

// PauseQueue implements store.QueuePauser.
func (s *Store) PauseQueue(ctx context.Context, queue string, now time.Time) error {
	if err := s.check(); err != nil {
		return err
	}
	if err := store.ValidateQueueName(queue); err != nil {
		return err
	}
	if _, err := s.writer.ExecContext(ctx, pauseSQL, queue, store.NormalizeTime(now).UnixMicro()); err != nil {
		return fmt.Errorf("pause queue %q: %w", queue, mapErr(err))
	}
	return nil
}

// ResumeQueue implements store.QueuePauser.
func (s *Store) ResumeQueue(ctx context.Context, queue string) error {
	if err := s.check(); err != nil {
		return err
	}
	if err := store.ValidateQueueName(queue); err != nil {
		return err
	}
	if _, err := s.writer.ExecContext(ctx, resumeSQL, queue); err != nil {
		return fmt.Errorf("resume queue %q: %w", queue, mapErr(err))
	}
	return nil
}

// PausedQueues implements store.QueuePauser.
func (s *Store) PausedQueues(ctx context.Context) ([]store.QueuePause, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	out := []store.QueuePause{}
	err := s.queryEach(ctx, pausedSQL, nil, func(rows *sql.Rows) error {
		var (
			p  store.QueuePause
			at int64
		)
		if err := rows.Scan(&p.Queue, &at); err != nil {
			return err
		}
		p.PausedAt = time.UnixMicro(at).UTC()
		out = append(out, p)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list paused queues: %w", err)
	}
	return out, nil
}
