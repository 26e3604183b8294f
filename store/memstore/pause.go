package memstore

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/evertask/evertask/store"
)

var _ store.QueuePauser = (*Store)(nil)

// PauseQueue implements store.QueuePauser.
func (s *Store) PauseQueue(ctx context.Context, queue string, now time.Time) error {
	if err := begin(ctx); err != nil {
		return err
	}
	if err := store.ValidateQueueName(queue); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return store.ErrClosed
	}
	if s.paused == nil {
		s.paused = map[string]time.Time{}
	}
	if _, ok := s.paused[queue]; !ok {
		s.paused[queue] = store.NormalizeTime(now)
	}
	return nil
}

// ResumeQueue implements store.QueuePauser.
func (s *Store) ResumeQueue(ctx context.Context, queue string) error {
	if err := begin(ctx); err != nil {
		return err
	}
	if err := store.ValidateQueueName(queue); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return store.ErrClosed
	}
	delete(s.paused, queue)
	return nil
}

// PausedQueues implements store.QueuePauser.
func (s *Store) PausedQueues(ctx context.Context) ([]store.QueuePause, error) {
	if err := begin(ctx); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, store.ErrClosed
	}
	out := make([]store.QueuePause, 0, len(s.paused))
	for q, at := range s.paused {
		out = append(out, store.QueuePause{Queue: q, PausedAt: at})
	}
	slices.SortFunc(out, func(a, b store.QueuePause) int { return strings.Compare(a.Queue, b.Queue) })
	return out, nil
}
