package memstore

import (
	"context"

	"github.com/evertask/evertask/store"
)

// Overview implements store.Stats by walking every row under the read
// lock: the rows are in memory, so this is a scan of memory, not a load.
func (s *Store) Overview(ctx context.Context, p store.OverviewParams) (store.Overview, error) {
	if err := p.Validate(); err != nil {
		return store.Overview{}, err
	}
	if err := begin(ctx); err != nil {
		return store.Overview{}, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return store.Overview{}, store.ErrClosed
	}
	o := store.NewOverview(p)
	from, to := store.NormalizeTime(p.From).UnixMicro(), store.NormalizeTime(p.To).UnixMicro()
	s.all.ascend(ikey{}, true, func(e *entry) bool {
		r := e.r
		if r.lastExec != noTime && r.lastExec >= from && r.lastExec < to {
			t := store.Task{Kind: r.Kind, Status: r.status(), LastExecutionAt: at(r.lastExec), ExecutionTime: r.ExecutionTime}
			o.CountTask(&p, &t)
		}
		return true
	})
	return o, nil
}
