package memstore

import (
	"context"
	"fmt"

	"github.com/evertask/evertask/store"
	"github.com/google/uuid"
)

// Persist implements store.Store.
func (s *Store) Persist(ctx context.Context, task *store.Task) error {
	if err := begin(ctx); err != nil {
		return err
	}
	if err := task.Validate(); err != nil {
		return err
	}
	r := newRow(task)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return store.ErrClosed
	}
	if err := s.checkNew(r); err != nil {
		return err
	}
	s.insert(r)
	return nil
}

// UpdateDefinition implements store.Store.
func (s *Store) UpdateDefinition(ctx context.Context, task *store.Task) error {
	if err := begin(ctx); err != nil {
		return err
	}
	if err := task.ValidateDefinition(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.lookup(task.ID)
	if err != nil {
		return err
	}
	if task.Key != r.Key && task.Key != "" {
		if other, ok := s.byKey[task.Key]; ok && other != r {
			return fmt.Errorf("update task %s: %w", task.ID, store.ErrDuplicateKey)
		}
	}
	oldKey, oldQueue := r.Key, r.Queue
	var t store.Task
	r.fill(&t)
	store.ApplyDefinition(&t, task) // clones the byte slices
	r.assign(&t)
	if r.Key != oldKey {
		if oldKey != "" {
			delete(s.byKey, oldKey)
		}
		if r.Key != "" {
			s.byKey[r.Key] = r
		}
	}
	if r.Queue != oldQueue {
		if s.cluster {
			s.unindexCluster(r) // from the old queue's due tree; reindexPending adds it to the new one
		}
		q := r.q
		q.n[r.st]--
		if q.total--; q.total == 0 {
			delete(s.queues, oldQueue)
		}
		s.countQueue(r)
	}
	s.reindexPending(r)
	return nil
}

// Remove implements store.Store.
func (s *Store) Remove(ctx context.Context, id uuid.UUID) error {
	if err := begin(ctx); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.lookup(id)
	if err != nil {
		return err
	}
	s.delete(r)
	return nil
}

// Get implements store.Store.
func (s *Store) Get(ctx context.Context, id uuid.UUID) (*store.Task, error) {
	if err := begin(ctx); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	r, err := s.lookup(id)
	if err != nil {
		return nil, err
	}
	return r.task(), nil
}

// GetByKey implements store.Store.
func (s *Store) GetByKey(ctx context.Context, key string) (*store.Task, error) {
	if err := begin(ctx); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, store.ErrClosed
	}
	r := s.byKey[key]
	if key == "" || r == nil {
		return nil, fmt.Errorf("task key %q: %w", key, store.ErrNotFound)
	}
	return r.task(), nil
}

// RunCount implements store.Store.
func (s *Store) RunCount(ctx context.Context, id uuid.UUID) (int, error) {
	if err := begin(ctx); err != nil {
		return 0, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	r, err := s.lookup(id)
	if err != nil {
		return 0, err
	}
	return r.RunCount, nil
}

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
