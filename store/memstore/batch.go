package memstore

import (
	"context"

	"github.com/evertask/evertask/store"
)

// PersistMany implements store.BatchStore: under one lock hold, so the batch
// is all or none.
func (s *Store) PersistMany(ctx context.Context, tasks []*store.Task) error {
	if err := begin(ctx); err != nil {
		return err
	}
	rows := make([]*row, len(tasks))
	for i, t := range tasks {
		if err := t.Validate(); err != nil {
			return err
		}
		rows[i] = newRow(t)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return store.ErrClosed
	}
	// Insert one by one so a clash with an earlier row of the batch shows
	// like one with a stored row, and undo on the first clash: nobody sees
	// the partial batch, since the lock is held throughout.
	for i, r := range rows {
		if err := s.checkNew(r); err != nil {
			for _, done := range rows[:i] {
				s.delete(done)
			}
			return err
		}
		s.insert(r)
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
