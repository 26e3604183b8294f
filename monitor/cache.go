package monitor

import (
	"context"
	"errors"
	"sync"
	"time"
)

// refreshTimeout bounds one background refresh of an aggregate.
const refreshTimeout = time.Minute

// cached holds one aggregate (the counts per queue and status, the overview
// of a window): the store computes it with a scan of an index, which on a
// big store takes longer than a page should, and every viewer of the
// dashboard would repeat it. A value younger than the TTL is served as it
// is; an older one is served while one refresh runs in the background
// (stale while revalidate), so pages never wait for the scan once it ran;
// only the first request waits, and concurrent first requests share one
// load. The answers say when their aggregates were computed.
type cached[T any] struct {
	mu      sync.Mutex
	val     T
	at      time.Time // when val was computed; zero: never
	loading chan struct{}
	err     error // of the last synchronous load
}

func (c *cached[T]) get(ctx context.Context, s *server, load func(context.Context) (T, error)) (T, time.Time, error) {
	now := s.cfg.Now()
	if s.cfg.CacheTTL < 0 { // caching off: every request scans
		v, err := load(ctx)
		return v, now, err
	}
	c.mu.Lock()
	switch {
	case !c.at.IsZero() && now.Sub(c.at) < s.cfg.CacheTTL:
		v, at := c.val, c.at
		c.mu.Unlock()
		return v, at, nil
	case !c.at.IsZero():
		// Stale: serve it, refresh once in the background.
		v, at := c.val, c.at
		if c.loading == nil {
			c.loading = make(chan struct{})
			go c.refresh(s, load)
		}
		c.mu.Unlock()
		return v, at, nil
	case c.loading != nil:
		// The first load runs for another request: wait for it.
		wait := c.loading
		c.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			var zero T
			return zero, time.Time{}, ctx.Err()
		}
		c.mu.Lock()
		v, at, err := c.val, c.at, c.err
		c.mu.Unlock()
		if at.IsZero() && (err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
			err = errLoadGone
		}
		return v, at, err
	}
	done := make(chan struct{})
	c.loading = done
	c.mu.Unlock()
	v, err := load(ctx)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.loading, c.err = nil, err
	close(done)
	if err != nil {
		var zero T
		return zero, time.Time{}, err
	}
	c.val, c.at = v, now
	return v, now, nil
}

// errLoadGone answers the requests that waited for a first load which
// failed for its own request (that client went away).
var errLoadGone = errors.New("the aggregate's first load was abandoned; retry")

func (c *cached[T]) refresh(s *server, load func(context.Context) (T, error)) {
	ctx, cancel := context.WithTimeout(context.Background(), refreshTimeout)
	defer cancel()
	at := s.cfg.Now()
	v, err := load(ctx)
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		s.cfg.Logger.Warn("monitor: refresh of an aggregate failed; serving the older one", "err", err)
	} else {
		c.val, c.at = v, at
	}
	close(c.loading)
	c.loading = nil
}
