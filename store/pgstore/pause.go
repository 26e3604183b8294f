package pgstore

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/evertask/evertask/store"
)

var _ store.QueuePauser = (*Store)(nil)

// The statements of QueuePauser; {s} is the quoted schema. Names are
// ordered as bytes (COLLATE "C"), the order of Go strings, whatever the
// database's collation.
const (
	sqlPause  = `INSERT INTO {s}.queue_pauses (queue, paused_at) VALUES ($1, $2) ON CONFLICT (queue) DO NOTHING`
	sqlResume = `DELETE FROM {s}.queue_pauses WHERE queue = $1`
	sqlPaused = `SELECT queue, paused_at FROM {s}.queue_pauses ORDER BY queue COLLATE "C"`
)

// pauseSQL fills a statement of this file with the store's schema.
func (s *Store) pauseSQL(stmt string) string {
	return strings.ReplaceAll(stmt, "{s}", pgx.Identifier{s.schema}.Sanitize())
}

// PauseQueue implements store.QueuePauser.
func (s *Store) PauseQueue(ctx context.Context, queue string, now time.Time) error {
	if err := s.check(); err != nil {
		return err
	}
	if err := store.ValidateQueueName(queue); err != nil {
		return err
	}
	if _, err := s.pool.Exec(ctx, s.pauseSQL(sqlPause), queue, ts(now)); err != nil {
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
	if _, err := s.pool.Exec(ctx, s.pauseSQL(sqlResume), queue); err != nil {
		return fmt.Errorf("resume queue %q: %w", queue, mapErr(err))
	}
	return nil
}

// PausedQueues implements store.QueuePauser.
func (s *Store) PausedQueues(ctx context.Context) ([]store.QueuePause, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, s.pauseSQL(sqlPaused))
	if err != nil {
		return nil, fmt.Errorf("list paused queues: %w", mapErr(err))
	}
	defer rows.Close()
	out := []store.QueuePause{}
	for rows.Next() {
		var (
			p  store.QueuePause
			at pgtype.Timestamptz
		)
		if err := rows.Scan(&p.Queue, &at); err != nil {
			return nil, fmt.Errorf("list paused queues: %w", mapErr(err))
		}
		p.PausedAt = fromTS(at)
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list paused queues: %w", mapErr(err))
	}
	return out, nil
}
