package redisstore

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/evertask/evertask/store"
)

var _ store.QueuePauser = (*Store)(nil)

// pausedKey is the hash of the paused queues: queue -> paused at (unix µs).
// Code of an older layout never reads it, so it needs no version bump.
func (s *Store) pausedKey() string { return s.p + "paused" }

// PauseQueue implements store.QueuePauser.
func (s *Store) PauseQueue(ctx context.Context, queue string, now time.Time) error {
	if err := s.check(); err != nil {
		return err
	}
	if err := store.ValidateQueueName(queue); err != nil {
		return err
	}
	at := strconv.FormatInt(store.NormalizeTime(now).UnixMicro(), 10)
	if err := s.rdb.HSetNX(ctx, s.pausedKey(), queue, at).Err(); err != nil {
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
	if err := s.rdb.HDel(ctx, s.pausedKey(), queue).Err(); err != nil {
		return fmt.Errorf("resume queue %q: %w", queue, mapErr(err))
	}
	return nil
}

// PausedQueues implements store.QueuePauser.
func (s *Store) PausedQueues(ctx context.Context) ([]store.QueuePause, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	m, err := s.rdb.HGetAll(ctx, s.pausedKey()).Result()
	if err != nil {
		return nil, fmt.Errorf("list paused queues: %w", mapErr(err))
	}
	out := make([]store.QueuePause, 0, len(m))
	for q, v := range m {
		us, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("list paused queues: queue %q paused at %q, not unix microseconds", q, v)
		}
		out = append(out, store.QueuePause{Queue: q, PausedAt: time.UnixMicro(us).UTC()})
	}
	slices.SortFunc(out, func(a, b store.QueuePause) int { return strings.Compare(a.Queue, b.Queue) })
	return out, nil
}
