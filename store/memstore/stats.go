package memstore

import (
	"context"
	"time"

	"github.com/evertask/evertask/store"
)

// statsKey names one counter of a minute of store.Stats: a task kind and
// an outcome.
type statsKey struct {
	kind   string
	failed bool
}

// statsCount is one counter: how many executions ended, and the sum of
// their execution times in microseconds.
type statsCount struct {
	n  int
	us int64
}

// unixMinute returns the number of t's minute since the Unix epoch.
func unixMinute(t time.Time) int64 { return store.StatsMinute(t).Unix() / 60 }

// countEnd adds an execution of kind that ended at now with status to the
// counters; statuses other than Completed and Failed count nothing. Callers
// hold the write lock, in the same hold as the write that ended it.
func (s *Store) countEnd(kind string, status store.Status, now time.Time, exec time.Duration) {
	if status != store.StatusCompleted && status != store.StatusFailed {
		return
	}
	if s.stats == nil {
		s.stats = make(map[int64]map[statsKey]statsCount)
	}
	m := unixMinute(now)
	cs := s.stats[m]
	if cs == nil {
		cs = make(map[statsKey]statsCount, 2)
		s.stats[m] = cs
	}
	k := statsKey{kind: kind, failed: status == store.StatusFailed}
	c := cs[k]
	c.n++
	c.us += exec.Microseconds()
	cs[k] = c
}

// Overview implements store.Stats: it sums the counters of the window's
// minutes under the read lock, looking up each minute of the window or
// walking the stored minutes, whichever are fewer.
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
	from, to := unixMinute(p.From), unixMinute(p.To)
	perBucket := int64(p.Bucket / store.StatsResolution)
	add := func(m int64, cs map[statsKey]statsCount) {
		i := int((m - from) / perBucket)
		for k, c := range cs {
			status := store.StatusCompleted
			if k.failed {
				status = store.StatusFailed
			}
			o.Count(i, k.kind, status, c.n, time.Duration(c.us)*time.Microsecond)
		}
	}
	if to-from <= int64(len(s.stats)) {
		for m := from; m < to; m++ {
			if cs := s.stats[m]; cs != nil {
				add(m, cs)
			}
		}
		return o, nil
	}
	for m, cs := range s.stats {
		if m >= from && m < to {
			add(m, cs)
		}
	}
	return o, nil
}

// purgeStats deletes the counters of the minutes that start before cut and
// returns how many counters it deleted. Callers hold the write lock.
func (s *Store) purgeStats(cut time.Time) int {
	before := unixMinute(cut)
	if !store.StatsMinute(cut).Equal(store.NormalizeTime(cut)) {
		before++ // the cut's own minute started before it
	}
	n := 0
	for m, cs := range s.stats {
		if m < before {
			n += len(cs)
			delete(s.stats, m)
		}
	}
	return n
}
