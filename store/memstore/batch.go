package memstore

import (
	"context"
	"fmt"

	"github.com/evertask/evertask/store"
	"github.com/google/uuid"
)

// PersistMany implements store.BatchStore: every row is checked before any
// is written, under one lock hold, so the batch is all or none.
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
	// Clashes inside the batch; small batches compare pairwise to spare the
	// maps.
	if len(rows) <= 16 {
		for i, a := range rows {
			for _, b := range rows[:i] {
				if err := clash(a, b); err != nil {
					return err
				}
			}
		}
	} else {
		ids := make(map[uuid.UUID]struct{}, len(rows))
		keys := make(map[string]struct{})
		for _, r := range rows {
			if _, ok := ids[r.t.ID]; ok {
				return fmt.Errorf("%w: task %s appears twice in the batch", store.ErrInvalid, r.t.ID)
			}
			ids[r.t.ID] = struct{}{}
			if r.t.Key != "" {
				if _, ok := keys[r.t.Key]; ok {
					return fmt.Errorf("persist task %s: %w", r.t.ID, store.ErrDuplicateKey)
				}
				keys[r.t.Key] = struct{}{}
			}
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return store.ErrClosed
	}
	for _, r := range rows {
		if err := s.checkNew(r); err != nil {
			return err
		}
	}
	for _, r := range rows {
		s.insert(r)
	}
	return nil
}

func clash(a, b *row) error {
	if a.t.ID == b.t.ID {
		return fmt.Errorf("%w: task %s appears twice in the batch", store.ErrInvalid, a.t.ID)
	}
	if a.t.Key != "" && a.t.Key == b.t.Key {
		return fmt.Errorf("persist task %s: %w", a.t.ID, store.ErrDuplicateKey)
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
