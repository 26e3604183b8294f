package memstore

import (
	"context"
	"time"

	"github.com/evertask/evertask/store"
	"github.com/google/uuid"
)

// Transition implements store.Store.
func (s *Store) Transition(ctx context.Context, p store.TransitionParams) (bool, error) {
	if err := begin(ctx); err != nil {
		return false, err
	}
	if err := p.Validate(); err != nil {
		return false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.lookup(p.ID)
	if err != nil {
		return false, err
	}
	return s.transition(r, &p), nil
}

// UpdateCurrentRun implements store.Store.
func (s *Store) UpdateCurrentRun(ctx context.Context, p store.RunParams) error {
	if err := begin(ctx); err != nil {
		return err
	}
	if err := p.Validate(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.lookup(p.ID)
	if err != nil {
		return err
	}
	r.RunCount = store.IncRunCount(r.RunCount)
	r.nextRun = micros(p.NextRunAt)
	s.reindexPending(r)
	if st := r.status(); store.RunsAuditRequired(p.AuditLevel, st, r.Error) {
		s.addRunsAudit(r, p.Now, p.ExecutionTime, st, r.Error)
	}
	return nil
}

// TransitionMany implements store.BatchStore. Every params is validated
// first; then all apply under one lock hold, each exactly as Transition.
func (s *Store) TransitionMany(ctx context.Context, params []store.TransitionParams) ([]bool, error) {
	if err := begin(ctx); err != nil {
		return nil, err
	}
	for i := range params {
		if err := params[i].Validate(); err != nil {
			return nil, err
		}
	}
	applied := make([]bool, len(params))
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, store.ErrClosed
	}
	for i := range params {
		if r := s.byID[params[i].ID]; r != nil {
			applied[i] = s.transition(r, &params[i])
		}
	}
	return applied, nil
}

// CompleteRecurringRun implements store.RecurringStore: the transition, the
// run count, the next run and both audits change under one lock hold.
func (s *Store) CompleteRecurringRun(ctx context.Context, p store.RunParams) (bool, error) {
	if err := begin(ctx); err != nil {
		return false, err
	}
	if err := p.ValidateEnd(); err != nil {
		return false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.lookup(p.ID)
	if err != nil {
		return false, err
	}
	if r.status() != store.StatusInProgress {
		return false, nil
	}
	tp := store.TransitionParams{
		ID: p.ID, To: p.Status, Now: p.Now, Error: p.Error,
		ExecutionTime: p.ExecutionTime, AuditLevel: p.AuditLevel, HeldBy: p.HeldBy,
	}
	t := r.state()
	var now time.Time
	if p.HeldBy != "" {
		now = clock()
	}
	if !tp.AllowsAt(&t, now) {
		return false, nil
	}
	tp.ApplyAt(&t, now)
	old := r.st
	r.applyState(&t)
	r.RunCount = store.IncRunCount(r.RunCount)
	r.nextRun = micros(p.NextRunAt)
	s.statusChanged(r, old)
	s.countEnd(r.Kind, p.Status, p.Now, p.ExecutionTime)
	if store.StatusAuditRequired(p.AuditLevel, p.Status, p.Error) {
		s.addStatusAudit(r, p.Now, p.Status, p.Error)
	}
	if store.RunsAuditRequired(p.AuditLevel, p.Status, p.Error) {
		s.addRunsAudit(r, p.Now, p.ExecutionTime, p.Status, p.Error)
	}
	return true, nil
}

// EndSeries implements store.RecurringStore.
func (s *Store) EndSeries(ctx context.Context, p store.EndSeriesParams) (bool, error) {
	if err := begin(ctx); err != nil {
		return false, err
	}
	if err := p.Validate(); err != nil {
		return false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.lookup(p.ID)
	if err != nil {
		return false, err
	}
	if r.status() == store.StatusCancelled {
		return false, nil
	}
	old := r.st
	r.st = uint8(statusIndex(p.Status))
	r.Error = p.Error
	r.nextRun = noTime
	r.Owner, r.leaseUntil = "", noTime // the row leaves InProgress, or was not in it
	s.statusChanged(r, old)
	if store.StatusAuditRequired(p.AuditLevel, p.Status, p.Error) {
		s.addStatusAudit(r, p.Now, p.Status, p.Error)
	}
	return true, nil
}

// IncrementRecoveryFailures implements store.RecoveryCounter.
func (s *Store) IncrementRecoveryFailures(ctx context.Context, id uuid.UUID) (int, error) {
	if err := begin(ctx); err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.lookup(id)
	if err != nil {
		return 0, err
	}
	r.RecoveryFailures++
	return r.RecoveryFailures, nil
}

// ClearRecoveryFailures implements store.RecoveryCounter.
func (s *Store) ClearRecoveryFailures(ctx context.Context, id uuid.UUID) error {
	if err := begin(ctx); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.lookup(id)
	if err != nil {
		return err
	}
	r.RecoveryFailures = 0
	return nil
}
