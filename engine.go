package evertask

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/evertask/evertask/internal/keylock"
	"github.com/evertask/evertask/internal/timerheap"
	"github.com/evertask/evertask/store"
)

// Engine dispatches tasks, persists them through a store.Store and runs them
// on per-queue worker pools.
//
// Lifecycle: New, Register every handler, Start, Dispatch as needed,
// Shutdown. Handlers must be registered before Start so that recovery finds
// them.
type Engine struct {
	store store.Store
	cfg   *resolvedConfig
	log   *slog.Logger
	now   func() time.Time

	// dispatches recycles the dispatch of Dispatch (a row of some 400
	// bytes) once its write committed.
	dispatches sync.Pool
	writer     *writer
	// overlapOutcomes: workers go on while their outcomes are written
	// (see execution.complete). Only for stores that take concurrent
	// writes, the network ones: an in-process store's write is cheaper
	// than the handoff.
	overlapOutcomes bool
	// claimOnDispatch: a dispatch that finds an idle worker of its queue
	// stores its row already claimed by this node and hands it straight to
	// that worker (see Engine.dispatch), when the store is a
	// store.ClaimingPersister. Only once the node runs (claiming is set by
	// Start): before, no lease keeper would renew the claim.
	claimOnDispatch bool
	claiming        atomic.Bool

	mu       sync.RWMutex // guards kinds and the lifecycle flags
	kinds    map[string]*kind
	started  bool
	stopping bool

	queues     map[string]*queue
	timers     *timerheap.Heap[*job]
	deliveries deliveries
	timed      timedJobs
	live       liveSet
	keys       keylock.Map
	seriesMu   keylock.Map // per series id: a run's accounting vs a re-registration
	events     events
	observe    func(Event) // Config.Observer.Event
	dispatchMW []func(context.Context, *DispatchInfo) func(error)
	attempt    AttemptFunc // the attempt middleware around the handler; nil: none
	waiters    waiters     // Wait calls, woken by emit
	pauses     pauses
	recovery   recoveryCounter
	retention  *retainer
	// node is the cluster side of the engine, when the store implements
	// store.Cluster (every built-in store does); nil otherwise, and the
	// engine then runs as the only process on its store.
	node *node

	// runCtx is the parent of every handler context: Shutdown cancels it
	// once its grace period ends. stopIntake closes when Shutdown begins.
	runCtx     context.Context
	cancelRun  context.CancelFunc
	stopIntake chan struct{}
	workers    sync.WaitGroup // worker goroutines and outcomes being recorded
	background sync.WaitGroup // recovery and timed promotions
	// releases are the claims given back for dispatches whose callers left
	// (claims.releaseAbandoned); Shutdown waits for them.
	releases releaseGroup
	stopOnce sync.Once
	stopped  chan struct{}
}

// New returns an engine over st. It starts nothing: call Register, then
// Start.
func New(st store.Store, cfg *Config) (*Engine, error) {
	if st == nil {
		return nil, fmt.Errorf("%w: nil store", ErrConfig)
	}
	rc, err := resolveConfig(cfg)
	if err != nil {
		return nil, err
	}
	if err := resolveRetention(&rc.Retention, st); err != nil {
		return nil, err
	}
	e := &Engine{
		store:      st,
		cfg:        rc,
		log:        rc.Logger,
		now:        rc.Now,
		kinds:      map[string]*kind{},
		queues:     map[string]*queue{},
		stopIntake: make(chan struct{}),
		stopped:    make(chan struct{}),
	}
	e.observe = rc.Observer.Event
	for _, mw := range rc.Middleware {
		if mw.Dispatch != nil {
			e.dispatchMW = append(e.dispatchMW, mw.Dispatch)
		}
	}
	e.attempt = buildAttempt(rc.Middleware)
	e.runCtx, e.cancelRun = context.WithCancel(context.Background())
	e.writer = newWriter(st, !rc.DisableBatching)
	// A store that takes concurrent writes is a network one (see
	// overlapOutcomes).
	_, e.overlapOutcomes = st.(store.WriteConcurrency)
	for name, qc := range rc.queues {
		e.queues[name] = &queue{cfg: qc, ch: make(chan *job, qc.Capacity), recording: make(chan struct{}, outcomesPerWorker*qc.Workers)}
	}
	e.timers = timerheap.New(e.now, e.fireTimed)
	e.pauses.st, _ = st.(store.QueuePauser)
	e.pauses.wake = make(chan struct{}, 1)
	if cs, ok := st.(store.Cluster); ok {
		e.node = newNode(e, cs)
		e.writer.sharePeers(&e.node.peers.n)
		if cp, ok := st.(store.ClaimingPersister); ok {
			e.writer.enableClaims(cp, e.node.info.ID, e.node.cfg.LeaseDuration, e.now, !rc.DisableBatching, e.overlapOutcomes, e.node.claims.releaseAbandoned)
			e.claimOnDispatch = true
		}
	}
	e.retention = newRetainer(e)
	return e, nil
}

// Store returns the engine's store.
func (e *Engine) Store() store.Store { return e.store }

// Nodes lists the engines registered on the store, this one included, with
// their queues, worker counts and last heartbeat (the store's clock); Gone
// marks those whose process is proven to have ended (they leave the
// registry once their work is taken over). ErrNoCluster when the store does
// not implement store.Cluster.
func (e *Engine) Nodes(ctx context.Context) ([]store.Node, error) {
	if e.node == nil {
		return nil, ErrNoCluster
	}
	return e.node.st.Nodes(ctx)
}

// NodeID returns the id this engine holds leases under in a cluster, or ""
// when its store does not implement store.Cluster.
func (e *Engine) NodeID() string {
	if e.node == nil {
		return ""
	}
	return e.node.info.ID
}

// Start starts the workers and the timer heap, then recovers the work left
// by a previous run in the background (workers first, so a backlog larger
// than the queues cannot deadlock: bug 1 of the reference). Before any of
// it, it reads the store's paused queues (store.QueuePauser), so nothing
// starts on a paused queue; a store error there fails Start. In cluster
// mode it joins the nodes registry (an error fails Start) and starts, after
// the workers, the node's stages in place of the timer heap and recovery
// (see docs/cluster.md). Starting twice is ErrStarted; starting after
// Shutdown is ErrShutdown.
func (e *Engine) Start(ctx context.Context) error {
	e.mu.Lock()
	switch {
	case e.stopping:
		e.mu.Unlock()
		return fmt.Errorf("start engine: %w", ErrShutdown)
	case e.started:
		e.mu.Unlock()
		return fmt.Errorf("start engine: %w", ErrStarted)
	}
	e.started = true
	e.mu.Unlock()

	// Paused queues first: nothing may start on one, from the first claim.
	if err := e.readPauses(ctx); err != nil {
		e.mu.Lock()
		e.started = false
		e.mu.Unlock()
		return err
	}
	if e.node != nil {
		if err := e.node.join(ctx); err != nil {
			e.mu.Lock()
			e.started = false
			e.mu.Unlock()
			return err
		}
		e.watchPausesStart()
		// Cluster mode: the store is the queue. The fetchers claim due work,
		// the first rescue takes back what a crashed run left: no separate
		// recovery pass.
		for _, q := range e.queues {
			for range q.cfg.Workers {
				e.workers.Add(1)
				go e.work(q)
			}
		}
		e.live.finish()
		// The node's stages in their order (see node): the listener, the
		// rescuer (its first rescue before any claim), the fetchers, then
		// the lease keeper.
		startStages(e.node.intake)
		startStages(e.node.upkeep)
		e.claiming.Store(e.claimOnDispatch)
		e.retention.start(&e.background)
		return nil
	}
	e.watchPausesStart()
	for _, q := range e.queues {
		for range q.cfg.Workers {
			e.workers.Add(1)
			go e.work(q)
		}
	}
	e.timers.Start()
	cutoff := e.now()
	e.live.start(cutoff)
	e.background.Add(1)
	go func() {
		defer e.background.Done()
		e.recover(e.runCtx, cutoff)
		e.live.finish()
	}()
	e.retention.start(&e.background)
	return nil
}

// Shutdown stops intake (Dispatch returns ErrShutdown), stops retention (a
// sweep in flight is cancelled), the timer heap and recovery (in cluster
// mode, the fetchers, the rescuer and the listener), and lets running
// handlers finish until ctx ends; then it cancels their contexts and waits
// for the workers to record the outcome. In cluster mode the lease keeper
// stops after that, the tasks claimed but never started go back to the
// store, and the node leaves the registry.
// Interrupted tasks end ServiceStopped and, with everything not yet run,
// stay recoverable for the next start. A handler that ignores its context
// cannot be stopped by Go: the engine stops waiting for it and records it
// ServiceStopped, and its goroutine runs on detached.
//
// Shutdown returns ctx.Err() when the grace period ran out, else nil.
// Calling it again waits for the first call to finish.
func (e *Engine) Shutdown(ctx context.Context) error {
	var graceErr error
	first := false
	e.stopOnce.Do(func() {
		first = true
		e.mu.Lock()
		e.stopping = true
		e.mu.Unlock()
		close(e.stopIntake)
		e.retention.halt()
		e.timers.Stop()
		if e.node != nil {
			// The stages that take new work stop with intake; the keeper
			// renews the running tasks' leases until the workers finished.
			stopStages(e.node.intake)
		}

		done := make(chan struct{})
		go func() { e.workers.Wait(); close(done) }()
		select {
		case <-done:
		case <-ctx.Done():
			graceErr = ctx.Err()
			e.cancelRun()
			e.deliveries.abandonRunning()
			<-done
		}
		e.cancelRun()
		e.background.Wait()
		e.releases.close()
		if e.node != nil {
			stopStages(e.node.upkeep)
			e.node.leave()
		}
		e.events.closeAll()
		close(e.stopped)
	})
	if !first {
		select {
		case <-e.stopped:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return graceErr
}

// Subscribe returns a channel of lifecycle events and a function that ends
// the subscription. Events are sent without blocking: when the channel's
// buffer is full the event is dropped and counted (DroppedEvents), so a slow
// subscriber never slows the work. The channel is closed by the returned
// function or by Shutdown, whichever comes first (the function may be
// called after Shutdown, and more than once); a subscription made after
// Shutdown gets a closed channel.
func (e *Engine) Subscribe(buffer int) (<-chan Event, func()) {
	return e.events.subscribe(buffer)
}

// DroppedEvents returns how many events subscribers lost to full buffers.
func (e *Engine) DroppedEvents() int64 { return e.events.dropped.Load() }

func (e *Engine) emit(ev Event) {
	e.waiters.wake(ev.TaskID)
	subscribed := e.events.enabled()
	if !subscribed && e.observe == nil {
		return
	}
	if ev.At.IsZero() {
		ev.At = e.now()
	}
	if e.observe != nil {
		e.observe(ev)
	}
	if subscribed {
		e.events.publish(ev)
	}
}

// outcomesPerWorker bounds the outcomes of a queue being written at once,
// per worker, when they overlap the next task. Measured on Redis with 100
// workers, burn: 1 gave nothing over writing in the worker, 4 gave 1.13×
// (median of 8 alternating pairs). Deeper writes make bigger group commits
// and keep the store busy while the last batch's workers go on. On the
// memory store the handoff cost more than the write (0.72× the engine
// benchmark), hence Engine.overlapOutcomes.
const outcomesPerWorker = 4

// queue is one bounded buffer with its workers.
type queue struct {
	cfg QueueConfig
	ch  chan *job
	// recording holds a slot per outcome being written: at most
	// outcomesPerWorker × Workers, past which a worker waits for the store
	// before its next task.
	recording chan struct{}
	// load counts the queue's deliveries in the buffer or running; the
	// fetcher claims only what fits beside them.
	load atomic.Int64
	// fetch is the queue's fetcher in cluster mode, else nil.
	fetch *fetcher
	// busy counts the workers running a handler (QueueStats).
	busy atomic.Int64
	// over holds persisted tasks waiting for room in ch (overflow.go).
	over overflow
	// paused is set while the queue is paused (pause.go); parked holds,
	// outside cluster mode, the jobs a worker took meanwhile.
	paused atomic.Bool
	parkMu sync.Mutex
	parked []*job
}

// job is one delivery of a task to a worker.
type job struct {
	id     uuid.UUID
	kind   *kind
	task   any // the decoded payload, as the store would give it back
	queue  *queue
	audit  store.AuditLevel
	series *series // nil for one-shot tasks
	// meta is the row's metadata (Middleware.Attempt reads it); readyAt is
	// when the task became due, in unix nanoseconds (0: unknown), for
	// Event.Waited; a series uses its occurrence instead. (Nanoseconds: a
	// time.Time would take the job to the next size class.)
	meta    map[string]string
	readyAt int64

	// persistedQueued tells the enqueue that the row is already Queued.
	persistedQueued bool
	// claimed tells the worker that recovery already moved the row to
	// InProgress for this process.
	claimed bool

	// The delivery's state, guarded by Engine.deliveries.mu.
	exec      *execution    // set while running
	cancelled bool          // Cancel was called while it was delivered
	ended     chan struct{} // made by a waiter (waitEnd), closed by end
	// Cluster mode: leased is set once this node holds the row's lease,
	// counted from leaseBase (the start of the call that claimed or last
	// renewed it); lost once the lease is gone to a take-over.
	leased    bool
	leaseBase time.Time
	lost      bool
	settling  bool // the outcome is being written (see deliveries.settle)
}

// successor returns a copy of j for the task's next delivery (a recurring
// occurrence), with no delivery state. It copies field by field: exec and
// cancelled are guarded by the deliveries lock, and a Cancel may be writing
// them while the outcome of this delivery is recorded.
func (j *job) successor() *job {
	return &job{id: j.id, kind: j.kind, task: j.task, queue: j.queue, audit: j.audit, series: j.series,
		persistedQueued: j.persistedQueued, meta: j.meta}
}

// recoveryCounter is the fallback poison counter for stores without
// store.RecoveryCounter: it lives in memory, so it only counts within one run.
type recoveryCounter struct {
	mu sync.Mutex
	m  map[uuid.UUID]int
}

func (e *Engine) incRecoveryFailures(ctx context.Context, id uuid.UUID) (int, error) {
	if rc, ok := e.store.(store.RecoveryCounter); ok {
		return rc.IncrementRecoveryFailures(ctx, id)
	}
	e.recovery.mu.Lock()
	defer e.recovery.mu.Unlock()
	if e.recovery.m == nil {
		e.recovery.m = map[uuid.UUID]int{}
	}
	e.recovery.m[id]++
	return e.recovery.m[id], nil
}

func (e *Engine) clearRecoveryFailures(ctx context.Context, id uuid.UUID) error {
	if rc, ok := e.store.(store.RecoveryCounter); ok {
		return rc.ClearRecoveryFailures(ctx, id)
	}
	e.recovery.mu.Lock()
	delete(e.recovery.m, id)
	e.recovery.mu.Unlock()
	return nil
}
