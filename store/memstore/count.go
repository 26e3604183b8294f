package memstore

import (
	"context"

	"github.com/evertask/evertask/store"
)

// CountByStatus implements store.Counter. Without CreatedFrom it reads the
// maintained index sizes, O(statuses); with it, it walks the rows created
// from then on.
func (s *Store) CountByStatus(ctx context.Context, p store.CountParams) (map[store.Status]int, error) {
	if err := begin(ctx); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, store.ErrClosed
	}
	out := make(map[store.Status]int)
	if p.CreatedFrom.IsZero() {
		for _, q := range s.queues {
			for i, n := range q.n {
				if n > 0 {
					out[indexStatus[i]] += n
				}
			}
		}
		return out, nil
	}
	s.all.ascend(ikey{us: ceilMicro(p.CreatedFrom)}, true, func(e *entry) bool {
		out[e.r.status()]++
		return true
	})
	return out, nil
}

// CountByQueue implements store.Counter, with the costs of CountByStatus.
func (s *Store) CountByQueue(ctx context.Context, p store.CountParams) (map[string]map[store.Status]int, error) {
	if err := begin(ctx); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, store.ErrClosed
	}
	out := make(map[string]map[store.Status]int)
	if p.CreatedFrom.IsZero() {
		for name, q := range s.queues {
			m := make(map[store.Status]int)
			for i, n := range q.n {
				if n > 0 {
					m[indexStatus[i]] = n
				}
			}
			out[name] = m
		}
		return out, nil
	}
	s.all.ascend(ikey{us: ceilMicro(p.CreatedFrom)}, true, func(e *entry) bool {
		m := out[e.r.Queue]
		if m == nil {
			m = make(map[store.Status]int)
			out[e.r.Queue] = m
		}
		m[e.r.status()]++
		return true
	})
	return out, nil
}
