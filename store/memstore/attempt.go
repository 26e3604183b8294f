package memstore

import (
	"context"
	"time"

	"github.com/evertask/evertask/store"
	"github.com/google/uuid"
)

// RecordAttempt implements store.AttemptStore.
func (s *Store) RecordAttempt(ctx context.Context, p store.AttemptParams) (bool, error) {
	if err := begin(ctx); err != nil {
		return false, err
	}
	if err := p.Validate(); err != nil {
		return false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.lookup(p.Attempt.TaskID)
	if err != nil {
		return false, err
	}
	if p.HeldBy != "" {
		t := r.state()
		if !t.Holds(p.HeldBy, clock()) {
			return false, nil
		}
	}
	if !store.AttemptAuditRequired(p.AuditLevel) {
		return true, nil
	}
	s.auditSeq++
	a := p.Attempt
	a.ID = s.auditSeq
	a.StartedAt = store.NormalizeTime(a.StartedAt)
	a.Duration = a.Duration.Truncate(time.Microsecond)
	h := r.history()
	h.attempts = append(h.attempts, a)
	return true, nil
}

// Attempts implements store.AttemptStore.
func (s *Store) Attempts(ctx context.Context, taskID uuid.UUID) ([]store.Attempt, error) {
	if err := begin(ctx); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	r, err := s.lookup(taskID)
	if err != nil {
		return nil, err
	}
	if r.more == nil {
		return []store.Attempt{}, nil
	}
	return copyOf(r.more.attempts), nil
}
