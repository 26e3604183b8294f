package mysqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/evertask/evertask/store"
)

// The statements of QueuePauser. Pausing a paused queue keeps its first
// time; names are bytes, so they order as Go strings do.
const (
	sqlPause  = `INSERT INTO {queue_pauses} (queue, paused_at) VALUES (?, ?) ON DUPLICATE KEY UPDATE queue = queue`
	sqlResume = `DELETE FROM {queue_pauses} WHERE queue = ?`
	sqlPaused = `SELECT queue, paused_at FROM {queue_pauses} ORDER BY queue`
)

// PauseQueue implements store.QueuePauser.
func (s *Store) PauseQueue(ctx context.Context, queue string, now time.Time) error {
	if err := s.check(); err != nil {
		return err
	}
	if err := store.ValidateQueueName(queue); err != nil {
		return err
	}
	if _, err := s.db.ExecContext(ctx, s.n.fill(sqlPause), queue, ts(now)); err != nil {
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
	if _, err := s.db.ExecContext(ctx, s.n.fill(sqlResume), queue); err != nil {
		return fmt.Errorf("resume queue %q: %w", queue, mapErr(err))
	}
	return nil
}

// PausedQueues implements store.QueuePauser.
func (s *Store) PausedQueues(ctx context.Context) ([]store.QueuePause, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, s.n.fill(sqlPaused))
	if err != nil {
		return nil, fmt.Errorf("list paused queues: %w", mapErr(err))
	}
	defer rows.Close()
	out := []store.QueuePause{}
	for rows.Next() {
		var p store.QueuePause
		if err := rows.Scan(&p.Queue, timeDest{&p.PausedAt}); err != nil {
			return nil, fmt.Errorf("list paused queues: %w", mapErr(err))
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list paused queues: %w", mapErr(err))
	}
	return out, nil
}
