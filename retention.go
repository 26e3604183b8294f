package evertask

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/evertask/evertask/store"
)

// RetentionConfig makes the engine delete old history itself, as the
// original's audit cleanup service did: every Interval it calls store.Purge
// with Policy at the engine's clock. Retention is off until Policy sets an
// age: by default everything is kept forever.
type RetentionConfig struct {
	// Policy says what is old (see store.RetentionPolicy): status and runs
	// audits, failed attempts (ErrorAuditAge, else StatusAuditAge), logs,
	// finished one-shot tasks, and the overview's outcome counters
	// (StatsAge). An age of zero or less disables its rule.
	// Policy.Now and Policy.BatchSize are ignored: each sweep sets Now from
	// Config.Now, and BatchSize below bounds the deletes.
	Policy store.RetentionPolicy
	// Interval is the time between two sweeps; default 1 hour. The first
	// sweep runs one minute after Start (or Interval, when shorter).
	Interval time.Duration
	// BatchSize is the most rows one delete touches, so a sweep never
	// holds long locks; default store.DefaultPurgeBatch (100).
	BatchSize int
}

// enabled reports whether any rule of the policy is on.
func (c *RetentionConfig) enabled() bool {
	p := &c.Policy
	for _, age := range []time.Duration{p.StatusAuditAge, p.RunsAuditAge, p.ErrorAuditAge, p.LogAge,
		p.CompletedTaskAge, p.FailedTaskAge, p.StatsAge} {
		if age > 0 {
			return true
		}
	}
	return false
}

// retentionFirstSweep is how long after Start the first sweep runs (the
// original waited one minute too), unless Interval is shorter.
const retentionFirstSweep = time.Minute

func resolveRetention(c *RetentionConfig, st store.Store) error {
	switch {
	case c.Interval < 0:
		return fmt.Errorf("%w: Retention.Interval is %s, must not be negative", ErrConfig, c.Interval)
	case c.BatchSize < 0:
		return fmt.Errorf("%w: Retention.BatchSize is %d, must not be negative", ErrConfig, c.BatchSize)
	}
	if c.Interval == 0 {
		c.Interval = time.Hour
	}
	if c.BatchSize == 0 {
		c.BatchSize = store.DefaultPurgeBatch
	}
	if _, ok := st.(store.Retainer); c.enabled() && !ok {
		return fmt.Errorf("%w: Retention is set but the store %T does not implement store.Retainer", ErrConfig, st)
	}
	return nil
}

// retainer is the engine stage that runs retention: one goroutine that
// sleeps between sweeps. Its lifecycle is start, then halt (safe before
// start and twice); halt cancels a sweep in flight, and the goroutine is
// counted in the engine's background group, which Shutdown waits for.
//
// In a cluster one node sweeps at a time: the live node (not Gone) with the
// smallest id in the registry. Two nodes may both believe they are that one
// for a moment (one joined, or one is not yet known to be gone); Purge is
// idempotent, so the overlap deletes nothing twice, only reads twice.
type retainer struct {
	cfg    RetentionConfig
	st     store.Store
	now    func() time.Time
	log    *slog.Logger
	leader func(ctx context.Context) (bool, error) // nil: alone on the store

	// wait sleeps d or until ctx ends, reporting false for the latter;
	// tests replace it to drive the sweeps with a fake clock.
	wait func(ctx context.Context, d time.Duration) bool
	// swept, when set, is told the result of every sweep (tests).
	swept func(res store.PurgeResult, ran bool, err error)

	ctx    context.Context
	cancel context.CancelFunc
	once   sync.Once
}

func newRetainer(e *Engine) *retainer {
	r := &retainer{cfg: e.cfg.Retention, st: e.store, now: e.now, log: e.log, wait: sleepCtx}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	if e.node != nil {
		cs, self := e.node.st, e.node.info.ID
		r.leader = func(ctx context.Context) (bool, error) {
			nodes, err := cs.Nodes(ctx)
			if err != nil {
				return false, err
			}
			return sweeper(nodes, self), nil
		}
	}
	return r
}

// sweeper reports whether self is the node that runs retention: the live
// node with the smallest id. A node missing from the list (not yet joined,
// or dropped) does not sweep.
func sweeper(nodes []store.Node, self string) bool {
	found := false
	for _, n := range nodes {
		if n.Gone {
			continue
		}
		if n.ID < self {
			return false
		}
		found = found || n.ID == self
	}
	return found
}

// start runs the sweeps in the background group bg when retention is on.
func (r *retainer) start(bg *sync.WaitGroup) {
	if !r.cfg.enabled() {
		return
	}
	bg.Add(1)
	go func() {
		defer bg.Done()
		r.loop()
	}()
}

// halt stops the loop and cancels a sweep in flight.
func (r *retainer) halt() { r.once.Do(r.cancel) }

func (r *retainer) loop() {
	d := min(retentionFirstSweep, r.cfg.Interval)
	for r.wait(r.ctx, d) {
		res, ran, err := r.sweep(r.ctx)
		if r.swept != nil {
			r.swept(res, ran, err)
		}
		d = r.cfg.Interval
	}
}

// sweep runs one Purge with the policy at the engine's clock, when this
// engine is the sweeper. A failure is logged; the next sweep tries again.
func (r *retainer) sweep(ctx context.Context) (store.PurgeResult, bool, error) {
	if r.leader != nil {
		ok, err := r.leader(ctx)
		if err != nil {
			r.log.Warn("retention: read the nodes, sweep skipped", "err", err)
			return store.PurgeResult{}, false, err
		}
		if !ok {
			return store.PurgeResult{}, false, nil
		}
	}
	p := r.cfg.Policy
	p.Now, p.BatchSize = r.now(), r.cfg.BatchSize
	res, err := store.Purge(ctx, r.st, p)
	if err != nil {
		if ctx.Err() == nil {
			r.log.Warn("retention: purge", "err", err, "deleted", fmt.Sprintf("%+v", res))
		}
		return res, true, err
	}
	if res != (store.PurgeResult{}) {
		r.log.Info("retention: purged old history", "tasks", res.Tasks, "status_audits", res.StatusAudits,
			"runs_audits", res.RunsAudits, "attempts", res.Attempts, "logs", res.Logs)
	}
	return res, true, nil
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
