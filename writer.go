package evertask

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/evertask/evertask/store"
)

// writer sends the hot-path writes to the store with group commit: one lane
// for status transitions, one for new rows.
type writer struct {
	transitions groupCommit[store.TransitionParams, bool]
	persists    groupCommit[*store.Task, struct{}]
	// claims writes new rows already claimed by this node (the dispatch
	// fast path, see Engine.dispatchClaimed); its single is nil when the
	// store is not a store.ClaimingPersister or the engine has no node.
	claims groupCommit[*store.Task, struct{}]
	// claimBatches writes the rows of one DispatchMany already claimed, in
	// one call; it batches nothing, and is there for the report of a write
	// that lands after its caller left (as claims).
	claimBatches groupCommit[[]*store.Task, struct{}]
}

func newWriter(st store.Store, batching bool) *writer {
	leaders := 1
	if wc, ok := st.(store.WriteConcurrency); ok {
		leaders = min(max(wc.MaxConcurrentWrites(), 1), 64)
	}
	w := &writer{}
	w.transitions.maxLeaders, w.persists.maxLeaders = leaders, leaders
	w.transitions.single = st.Transition
	w.persists.single = func(ctx context.Context, t *store.Task) (struct{}, error) {
		return struct{}{}, st.Persist(ctx, t)
	}
	if bs, ok := st.(store.BatchStore); ok && batching {
		w.transitions.batch = bs.TransitionMany
		w.persists.batch = func(ctx context.Context, ts []*store.Task) ([]struct{}, error) {
			return make([]struct{}, len(ts)), bs.PersistMany(ctx, ts)
		}
	}
	return w
}

// enableClaims opens the claims lane: rows are stored InProgress under a
// lease of owner for leaseFor, audited at now().
//
// release gets a row written claimed for a dispatch whose caller stopped
// waiting before the write was done (its ctx ended while the write was
// queued behind another or in flight): nobody runs it here, so it should
// be given back rather than wait out its lease.
//
// detach: the store's writes go over a network (see groupCommit.detach).
func (w *writer) enableClaims(cp store.ClaimingPersister, owner string, leaseFor time.Duration, now func() time.Time, batching, detach bool, release func(*store.Task)) {
	w.claims.maxLeaders = w.persists.maxLeaders
	w.claims.abandoned, w.claims.detach = release, detach
	w.claimBatches.detach = detach
	w.claims.single = func(ctx context.Context, t *store.Task) (struct{}, error) {
		return struct{}{}, cp.PersistClaimed(ctx, store.PersistClaimedParams{
			Tasks: []*store.Task{t}, Owner: owner, LeaseFor: leaseFor, Now: now(),
		})
	}
	w.claimBatches.abandoned = func(ts []*store.Task) {
		for _, t := range ts {
			release(t)
		}
	}
	w.claimBatches.single = func(ctx context.Context, ts []*store.Task) (struct{}, error) {
		return struct{}{}, cp.PersistClaimed(ctx, store.PersistClaimedParams{
			Tasks: ts, Owner: owner, LeaseFor: leaseFor, Now: now(),
		})
	}
	if batching {
		w.claims.batch = func(ctx context.Context, ts []*store.Task) ([]struct{}, error) {
			return make([]struct{}, len(ts)), cp.PersistClaimed(ctx, store.PersistClaimedParams{
				Tasks: ts, Owner: owner, LeaseFor: leaseFor, Now: now(),
			})
		}
	}
}

// persistClaimed stores a new row already claimed (see enableClaims).
func (w *writer) persistClaimed(ctx context.Context, t *store.Task) error {
	_, err := w.claims.do(ctx, t)
	return err
}

// persistClaimedMany stores new rows already claimed, all or none, in one
// call (see enableClaims).
func (w *writer) persistClaimedMany(ctx context.Context, ts []*store.Task) error {
	_, err := w.claimBatches.do(ctx, ts)
	return err
}

// sharePeers makes the transitions lane share the store's write
// concurrency with the other nodes: with peers other live nodes (the
// node's count, kept current by its rescuer and the join notices), it
// keeps at most maxLeaders/(peers+1) calls in flight, at least one. The
// store's figure is what it takes at once in all; with every node keeping
// all of it in flight, a node's share of the outcomes went out in more,
// smaller calls (on Redis, 4 nodes sent 37 outcomes alone per 1,000 tasks
// where one node sent 6), and every call costs both sides a round trip.
// The lane of new rows, the dispatch path, keeps the store's figure.
func (w *writer) sharePeers(peers *atomic.Int32) {
	w.transitions.peers = peers
}

func (w *writer) transition(ctx context.Context, p store.TransitionParams) (bool, error) {
	return w.transitions.do(ctx, p)
}

func (w *writer) persist(ctx context.Context, t *store.Task) error {
	_, err := w.persists.do(ctx, t)
	return err
}

// groupCommit batches concurrent calls: a caller that finds fewer than
// maxLeaders calls in flight makes its call directly (a quiet engine pays
// nothing); callers arriving while maxLeaders are in flight queue up, and
// each leader, when its call returns, sends what queued up as one batch and
// hands each caller its own result. A busy engine thus makes one round trip
// for many workers, with a few batches in flight at once for stores that
// take concurrent writes, and every caller still waits until its own write
// committed.
type groupCommit[P, R any] struct {
	single func(context.Context, P) (R, error)
	batch  func(context.Context, []P) ([]R, error) // nil: no batching

	// maxLeaders is how many calls (single or batch) the lane keeps in
	// flight: store.WriteConcurrency, else 1; divided among the nodes when
	// peers is set (see writer.sharePeers).
	maxLeaders int
	peers      *atomic.Int32
	// abandoned, when set, gets the params of a caller that stopped
	// waiting (its ctx ended) before its write, queued or its own call,
	// was done, once that write succeeded: the write landed though its
	// caller was told it failed. Also those of a call of its own that
	// failed once its ctx ended, unless detach: that write may have landed
	// before the store saw ctx end. Called by the writer; it must not block.
	abandoned func(P)
	// detach runs the own call of a caller whose ctx can end on its own
	// goroutine, detached from ctx (see alone): a network store's write
	// cut off by ctx may still commit after the call returned.
	detach bool

	mu      sync.Mutex
	leaders int // calls in flight
	pending []*groupReq[P, R]

	// reqs recycles the requests of queued callers with their channels:
	// a busy engine queues several calls per task.
	reqs sync.Pool
}

type groupReq[P, R any] struct {
	params P
	result R
	err    error
	done   chan struct{}
	// then, when set, takes the result instead of a waiting caller
	// (submit).
	then func(R, error)
	// state settles, once, whether the result goes to the caller
	// (reqDelivered) or the caller stopped waiting first (reqLeft).
	state atomic.Int32
}

const (
	reqWaiting int32 = iota
	reqDelivered
	reqLeft
)

// maxGroup bounds one batch. Large, because a busy engine's throughput
// grows with the batch: on PostgreSQL a burn with one batch in flight went
// from 26.5k to 29.6k tasks/s between 256 and 4,000 (the statement and
// commit costs are per batch).
const maxGroup = 4096

// limit is how many calls the lane keeps in flight now.
func (g *groupCommit[P, R]) limit() int {
	if g.peers != nil {
		return max(1, g.maxLeaders/(int(g.peers.Load())+1))
	}
	return g.maxLeaders
}

// batches reports whether the lane batches, which submit needs.
func (g *groupCommit[P, R]) batches() bool { return g.batch != nil }

// submit queues p without waiting for its write: then gets the result on
// the writer's goroutine once the batch holding p is done, so it must not
// block. When fewer than limit calls are in flight, a writer goroutine
// starts for the batch; else p joins the next batch of a writer in flight.
// Only on a lane that queues.
func (g *groupCommit[P, R]) submit(p P, then func(R, error)) {
	r := g.newReq(p)
	r.then = then
	g.mu.Lock()
	g.pending = append(g.pending, r)
	if g.leaders >= g.limit() {
		g.mu.Unlock()
		return
	}
	g.leaders++
	g.mu.Unlock()
	go g.drain()
}

func (g *groupCommit[P, R]) do(ctx context.Context, p P) (R, error) {
	if g.batch == nil {
		return g.alone(ctx, p, false)
	}
	limit := g.limit()
	g.mu.Lock()
	if g.leaders >= limit {
		r := g.newReq(p)
		g.pending = append(g.pending, r)
		g.mu.Unlock()
		res, err := g.await(ctx, r)
		if err != nil && ctx.Err() == nil {
			// The batch failed as a whole (one duplicate key fails a
			// PersistMany); retry alone, so the caller gets its own error and
			// its neighbours are not failed by it.
			return g.alone(ctx, p, false)
		}
		return res, err
	}
	g.leaders++
	g.mu.Unlock()
	return g.alone(ctx, p, true)
}

// alone makes one call by itself; a leader (lead) then sends what queued
// up behind it. On a lane that reports abandoned writes, a call for a
// caller whose ctx can end must not leave a write that landed unreported,
// or a row written claimed that nobody runs waits out its lease. With
// detach (a network store, whose write cut off by ctx may commit after
// the call returned, with its answer lost) the call runs on its own
// goroutine, detached from ctx; the caller stops waiting when ctx ends, as
// a queued caller does, and a write that lands after that goes to
// g.abandoned. Else (an in-process store, whose write is done when its
// call returns; the handoff to a goroutine cost more than its write) the
// call takes ctx, and when it fails with ctx ended, its write, which may
// have landed first, goes to g.abandoned.
func (g *groupCommit[P, R]) alone(ctx context.Context, p P, lead bool) (R, error) {
	if g.detach && g.abandoned != nil && ctx.Done() != nil {
		return g.detached(ctx, p, lead)
	}
	res, err := g.single(ctx, p)
	if err != nil && g.abandoned != nil && ctx.Err() != nil {
		g.abandoned(p)
	}
	if lead {
		g.handOff()
	}
	return res, err
}

// handOff ends a leader's own call: what queued up behind it is sent by a
// goroutine of its own, so the caller waits for its own write only, not for
// the batches of others (outcomes submitted while a write is slow would
// hold a Dispatch otherwise).
func (g *groupCommit[P, R]) handOff() {
	g.mu.Lock()
	if len(g.pending) == 0 {
		g.leaders--
		g.mu.Unlock()
		return
	}
	g.mu.Unlock()
	go g.drain()
}

// detached is alone's call on its own goroutine. Apart from alone, so that
// p, which the goroutine captures, is moved to the heap only here.
func (g *groupCommit[P, R]) detached(ctx context.Context, p P, lead bool) (R, error) {
	r := g.newReq(p)
	go func() {
		res, err := g.single(context.WithoutCancel(ctx), p)
		g.settle(r, res, err)
		if lead {
			g.drain()
		}
	}()
	return g.await(ctx, r)
}

func (g *groupCommit[P, R]) newReq(p P) *groupReq[P, R] {
	r, _ := g.reqs.Get().(*groupReq[P, R])
	if r == nil {
		r = &groupReq[P, R]{done: make(chan struct{}, 1)}
	}
	r.params = p
	r.state.Store(reqWaiting)
	return r
}

// await waits for r's result, or until ctx ends: then the writer of r
// still owns it and finishes the write, and this caller stops waiting, as
// a direct call would on ctx; the writer hands a write that landed to
// g.abandoned. r is reused only when its result was delivered.
func (g *groupCommit[P, R]) await(ctx context.Context, r *groupReq[P, R]) (R, error) {
	select {
	case <-r.done:
	case <-ctx.Done():
		if r.state.CompareAndSwap(reqWaiting, reqLeft) {
			var zero R
			return zero, ctx.Err()
		}
		<-r.done // delivered meanwhile: the caller has its answer
	}
	res, err := r.result, r.err
	var zeroP P
	var zeroR R
	r.params, r.result, r.err = zeroP, zeroR, nil // drop references before reuse
	g.reqs.Put(r)
	return res, err
}

// settle hands r its result, or, when its caller left, hands a write that
// landed to g.abandoned.
func (g *groupCommit[P, R]) settle(r *groupReq[P, R], res R, err error) {
	if then := r.then; then != nil {
		var zeroP P
		r.params, r.then = zeroP, nil
		g.reqs.Put(r)
		then(res, err)
		return
	}
	r.result, r.err = res, err
	if r.state.CompareAndSwap(reqWaiting, reqDelivered) {
		r.done <- struct{}{}
	} else if err == nil && g.abandoned != nil {
		g.abandoned(r.params)
	}
}

// drain sends what queued up behind the leader's call, until nothing is
// left, then gives up the lead.
func (g *groupCommit[P, R]) drain() {
	var params []P
	for {
		g.mu.Lock()
		batch := g.pending
		if len(batch) > maxGroup {
			batch, g.pending = batch[:maxGroup], append([]*groupReq[P, R](nil), batch[maxGroup:]...)
		} else {
			g.pending = nil
		}
		if len(batch) == 0 {
			g.leaders--
			g.mu.Unlock()
			return
		}
		g.mu.Unlock()

		params = params[:0]
		for _, r := range batch {
			params = append(params, r.params)
		}
		// Not tied to any caller's ctx: a caller that gives up must not
		// cancel its neighbours' writes.
		results, err := g.batch(context.Background(), params)
		for i, r := range batch {
			var res R
			if err == nil {
				res = results[i]
			}
			g.settle(r, res, err)
		}
	}
}
