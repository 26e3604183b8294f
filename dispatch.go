package evertask

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/evertask/evertask/schedule"
	"github.com/evertask/evertask/store"
)

// DispatchOpts are the per-call options of Dispatch. A nil *DispatchOpts
// runs the task now on its kind's queue with its kind's audit level.
type DispatchOpts struct {
	// Delay runs the task this long from now. A zero or negative delay runs
	// it now.
	Delay time.Duration
	// RunAt runs the task at this time; a past time runs it now. Set Delay
	// or RunAt, not both.
	RunAt time.Time
	// Key makes the dispatch idempotent: at most one task holds a key (see
	// the README's task key table). Empty or white space: no key. At most
	// 200 bytes.
	Key string
	// Queue overrides the kind's queue; it must exist.
	Queue string
	// AuditLevel overrides the kind's and the engine's level.
	AuditLevel *store.AuditLevel
	// Metadata is stored with the task (store.Task.Metadata) and reaches
	// Middleware.Attempt; the map is copied. At most
	// store.MaxMetadataEntries entries and store.MaxMetadataBytes bytes.
	Metadata map[string]string
	// Schedule makes the task a recurring series (see package schedule).
	// Its first run follows the schedule's start options, so Delay and RunAt
	// must be unset. A series goes to the "recurring" queue unless the kind
	// or Queue names another.
	Schedule *schedule.Schedule
}

// Dispatch persists task and runs it now, later, or on a schedule, and
// returns its id. With a key that an existing task holds, the dispatch may
// update that task or do nothing and return its id (the README lists the
// rules).
//
// A dispatch is durable when Dispatch returns a nil error: the task's row
// is committed in the store, and Dispatch returns as soon as it is. From
// then on a crash cannot lose the task: it is recovered at the next start,
// or claimed by another node. Dispatch never waits for a worker after the
// write: a task that finds its queue's buffer full waits in the store for a
// fetcher (every built-in store: the store is the queue) or, on a store
// without store.Cluster, in the queue's in-memory overflow. On such a store
// FullQueueWait applies its back-pressure before the write: Dispatch waits
// while the buffer and the overflow (Capacity tasks each) are full, and if
// ctx ends then, nothing was written. An error may still leave a task
// persisted in one case: ErrQueueFull from a FullQueueError queue (the
// task stays WaitingQueue and is recovered at the next start).
//
// ctx bounds the dispatch itself (the wait for room, the store writes),
// never the task's execution.
func (e *Engine) Dispatch(ctx context.Context, task Task, opts *DispatchOpts) (uuid.UUID, error) {
	d, err := e.prepare(task, opts)
	if err != nil {
		return uuid.Nil, err
	}
	if len(e.dispatchMW) == 0 {
		return e.dispatch(ctx, d)
	}
	dones := e.beginDispatch(ctx, d)
	if err := store.ValidateMetadata(d.row.Metadata); err != nil {
		err = fmt.Errorf("%w: metadata after the dispatch middleware: %v", ErrInvalidDispatch, err)
		endDispatch(dones, err)
		return uuid.Nil, err
	}
	id, err := e.dispatch(ctx, d)
	endDispatch(dones, err)
	return id, err
}

// dispatch waits for room, persists and delivers a prepared dispatch.
func (e *Engine) dispatch(ctx context.Context, d *dispatch) (uuid.UUID, error) {
	if d.due.IsZero() {
		// Back-pressure comes before the write: once the row is committed
		// Dispatch returns without waiting for a worker.
		if err := e.backPressure(ctx, d.job.queue); err != nil {
			return uuid.Nil, err
		}
	}
	if d.row.Key != "" {
		unlock := e.keys.Lock(d.row.Key)
		defer unlock()
		if id, done, err := e.applyKeyRules(ctx, d); done || err != nil {
			return id, err
		}
	}
	// The fast path: a task due now whose queue has an idle worker here is
	// stored already claimed by this node, in the one write, and goes
	// straight to that worker.
	claimed := e.claimable(d) && e.deliveries.beginIdle(d.job)
	var began time.Time
	var err error
	if claimed {
		began = e.now()
		err = e.writer.persistClaimed(ctx, &d.row)
	} else {
		err = e.writer.persist(ctx, &d.row)
	}
	if err != nil {
		if claimed {
			e.deliveries.end(d.job)
		}
		if errors.Is(err, store.ErrDuplicateKey) {
			// Another process (or a path around the key lock) won the unique
			// key: the winner's id is the answer (bug 55).
			if winner, gerr := e.store.GetByKey(ctx, d.row.Key); gerr == nil {
				return winner.ID, nil
			}
		}
		e.storeErr("persist", err)
		return uuid.Nil, fmt.Errorf("persist task %s: %w", d.row.ID, err)
	}
	id := d.row.ID
	if claimed {
		e.deliveries.claim(d.job, began)
		e.handClaimed(d.job)
	} else {
		err = e.deliver(ctx, d)
	}
	if d.row.Key == "" && !d.row.Recurring {
		// The write committed and nothing kept the dispatch: it is reused.
		// (Not on a failed write: a leader may still hold its row.)
		*d = dispatch{}
		e.dispatches.Put(d)
	}
	return id, err
}

// DispatchMany persists every task in one store round trip (where the store
// supports batches) and delivers them; opts apply to all. Like Dispatch it
// returns once the rows are committed; it does not wait for room (what does
// not fit in a queue's buffer waits in the store or the overflow, see
// Dispatch). Keys are not allowed: a keyed dispatch needs its own lookup.
// It returns the ids in the order of tasks; on an error none of them was
// delivered. When every task is due now and finds an idle worker of its
// queue on this node, the batch is stored already claimed by this node and
// goes straight to those workers, as Dispatch's fast path does; otherwise
// the whole batch is stored plain (docs/cluster.md, "Claim on dispatch").
func (e *Engine) DispatchMany(ctx context.Context, tasks []Task, opts *DispatchOpts) ([]uuid.UUID, error) {
	if opts != nil && strings.TrimSpace(opts.Key) != "" {
		return nil, fmt.Errorf("%w: DispatchMany takes no key", ErrInvalidDispatch)
	}
	ds := make([]*dispatch, len(tasks))
	rows := make([]*store.Task, len(tasks))
	ids := make([]uuid.UUID, len(tasks))
	for i, t := range tasks {
		d, err := e.prepare(t, opts)
		if err != nil {
			return nil, fmt.Errorf("task %d: %w", i, err)
		}
		ds[i], rows[i], ids[i] = d, &d.row, d.row.ID
	}
	var dones [][]func(error)
	if len(e.dispatchMW) > 0 {
		dones = make([][]func(error), len(ds))
		for i, d := range ds {
			dones[i] = e.beginDispatch(ctx, d)
		}
	}
	end := func(i int, err error) {
		if dones != nil {
			endDispatch(dones[i], err)
		}
	}
	for i, d := range ds {
		if err := store.ValidateMetadata(d.row.Metadata); err != nil {
			err = fmt.Errorf("%w: task %d: metadata after the dispatch middleware: %v", ErrInvalidDispatch, i, err)
			for i := range ds {
				end(i, err)
			}
			return nil, err
		}
	}
	// The fast path of Dispatch, for the whole batch or none of it: the
	// batch is one all-or-none write, and a store writes a batch either
	// plain (PersistMany) or every row claimed (PersistClaimed).
	claimed := len(ds) > 0
	for _, d := range ds {
		claimed = claimed && e.claimable(d)
	}
	claimed = claimed && e.deliveries.beginIdleAll(jobsOf(ds))
	var began time.Time
	var err error
	if claimed {
		began = e.now()
		err = e.writer.persistClaimedMany(ctx, rows)
	} else {
		err = store.PersistMany(ctx, e.store, rows)
	}
	if err != nil {
		if claimed {
			for _, d := range ds {
				e.deliveries.end(d.job)
			}
		}
		e.storeErr("persist", err)
		err = fmt.Errorf("persist %d tasks: %w", len(rows), err)
		for i := range ds {
			end(i, err)
		}
		return nil, err
	}
	for i, d := range ds {
		if claimed {
			e.deliveries.claim(d.job, began)
			e.handClaimed(d.job)
			end(i, nil)
			continue
		}
		if err := e.deliver(ctx, d); err != nil {
			err = fmt.Errorf("deliver task %d (%s): %w", i, d.row.ID, err)
			for k := i; k < len(ds); k++ {
				end(k, err)
			}
			return ids, err
		}
		end(i, nil)
	}
	return ids, nil
}

// claimable reports whether d may be stored claimed by this node, as far
// as its options and queue tell: due now, not recurring, on a queue not
// paused, with the node running. Whether its queue has an idle worker is
// deliveries.beginIdle's to decide.
func (e *Engine) claimable(d *dispatch) bool {
	return e.claiming.Load() && d.due.IsZero() && !d.row.Recurring && !d.job.queue.paused.Load()
}

func jobsOf(ds []*dispatch) []*job {
	js := make([]*job, len(ds))
	for i, d := range ds {
		js[i] = d.job
	}
	return js
}

// dispatch is one prepared dispatch: the row to persist and the job to run.
type dispatch struct {
	row store.Task // allocated with the dispatch, which is reused
	job *job
	due time.Time // zero: run now
}

// prepare validates a dispatch and builds its row; it writes nothing.
func (e *Engine) prepare(task Task, opts *DispatchOpts) (*dispatch, error) {
	if err := e.acceptingWork(); err != nil {
		return nil, err
	}
	if task == nil {
		return nil, fmt.Errorf("%w: nil task", ErrInvalidDispatch)
	}
	if isNil(task) {
		// A typed nil (a nil *T in the Task interface) would be stored as
		// JSON null and reach the handler as a nil or zero value.
		return nil, fmt.Errorf("%w: nil %T task", ErrInvalidDispatch, task)
	}
	var o DispatchOpts
	if opts != nil {
		o = *opts
	}
	kindName, err := safeKind(task)
	if err != nil {
		return nil, err
	}
	k := e.kindByName(kindName)
	if k == nil {
		return nil, fmt.Errorf("%w: %q", ErrUnknownKind, kindName)
	}
	if !o.RunAt.IsZero() && o.Delay != 0 {
		return nil, fmt.Errorf("%w: set Delay or RunAt, not both", ErrInvalidDispatch)
	}
	recurring := o.Schedule != nil
	if recurring && (!o.RunAt.IsZero() || o.Delay != 0) {
		return nil, fmt.Errorf("%w: a recurring dispatch starts with its schedule's start options, not Delay or RunAt", ErrInvalidDispatch)
	}
	key := o.Key
	if strings.TrimSpace(key) == "" {
		key = ""
	}
	if err := store.ValidateKey(key); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidDispatch, err)
	}
	level := e.cfg.AuditLevel
	if k.audit != nil {
		level = *k.audit
	}
	if o.AuditLevel != nil {
		if !o.AuditLevel.Valid() {
			return nil, fmt.Errorf("%w: unknown audit level %d", ErrInvalidDispatch, *o.AuditLevel)
		}
		level = *o.AuditLevel
	}
	if err := store.ValidateMetadata(o.Metadata); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidDispatch, err)
	}
	payload, value, err := encodePayload(k, task)
	if err != nil {
		return nil, err
	}
	if limit := e.cfg.MaxPayloadBytes; limit > 0 && len(payload) > limit {
		return nil, fmt.Errorf("%w: a %s task's payload is %d bytes, the limit is %d (Config.MaxPayloadBytes)",
			ErrPayloadTooLarge, k.name, len(payload), limit)
	}
	q, err := e.routeQueue(k, o.Queue, recurring)
	if err != nil {
		return nil, err
	}

	now := e.now()
	id := newID(now)
	var due time.Time
	switch {
	case !o.RunAt.IsZero() && o.RunAt.After(now):
		due = o.RunAt
	case o.Delay > 0:
		due = now.Add(o.Delay)
	}
	d, _ := e.dispatches.Get().(*dispatch)
	if d == nil {
		d = &dispatch{}
	}
	d.due, d.row = due, store.Task{
		ID: id, CreatedAt: now, Kind: k.name, Payload: payload, Handler: k.handlerName,
		Queue: q.cfg.Name, Key: key, Status: store.StatusWaitingQueue, AuditLevel: level,
		ScheduledAt: due, Metadata: cloneMetadata(o.Metadata),
	}
	row := &d.row
	j := &job{id: id, kind: k, task: value, queue: q, audit: level, meta: row.Metadata, readyAt: unixNano(now)}
	if !due.IsZero() {
		j.readyAt = unixNano(due)
	}
	d.job = j
	// An immediate task whose Queued status would not be audited is
	// persisted Queued at once: one write less, same recoverability.
	if due.IsZero() && !store.StatusAuditRequired(level, store.StatusQueued, "") {
		row.Status = store.StatusQueued
		j.persistedQueued = true
	}
	if recurring {
		if err := e.prepareSeries(d, *o.Schedule, now); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// isNil reports whether task is a typed nil: a nil pointer, map or slice
// in a non-nil interface.
func isNil(task Task) bool {
	v := reflect.ValueOf(task)
	switch v.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Slice, reflect.Func, reflect.Chan, reflect.Interface:
		return v.IsNil()
	}
	return false
}

// safeKind calls task.Kind, turning a panic (a nil pointer task) into an
// error.
func safeKind(task Task) (name string, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: %T.Kind() panicked: %v", ErrInvalidDispatch, task, p)
		}
	}()
	name = task.Kind()
	if name == "" {
		return "", fmt.Errorf("%w: %T.Kind() is empty", ErrInvalidDispatch, task)
	}
	return name, nil
}

// routeQueue picks the queue: the dispatch's, else the kind's, else
// "recurring" for series, else "default".
func (e *Engine) routeQueue(k *kind, override string, recurring bool) (*queue, error) {
	name := override
	if name == "" {
		name = k.queue
	}
	if name == "" {
		name = DefaultQueue
		if recurring {
			name = RecurringQueue
		}
	}
	q := e.queues[name]
	if q == nil {
		return nil, fmt.Errorf("%w: unknown queue %q", ErrInvalidDispatch, name)
	}
	return q, nil
}

func (e *Engine) acceptingWork() error {
	select {
	case <-e.stopIntake:
		return ErrShutdown
	default:
		return nil
	}
}

// deliver hands a persisted task to the timer heap or its queue.
func (e *Engine) deliver(ctx context.Context, d *dispatch) error {
	e.live.mark(d.job.id, d.row.CreatedAt)
	if e.node != nil {
		q := d.job.queue
		if !d.due.IsZero() {
			// A timed task is a due row in the store: whichever node is free
			// at its time claims it, so it runs on time even if this node
			// is gone by then.
			e.node.due(q.cfg.Name, d.due)
			return nil
		}
		if q.paused.Load() {
			// Stored and claimable: a fetcher takes it once the queue
			// is resumed.
			return nil
		}
		err := e.enqueueNow(ctx, d.job)
		if q.load.Load() > int64(q.cfg.Workers) {
			// No idle worker here: other nodes may take it first.
			e.node.due(q.cfg.Name, time.Time{})
		}
		return err
	}
	if !d.due.IsZero() {
		e.schedule(d.job, d.due)
		return nil
	}
	return e.enqueueNow(ctx, d.job)
}

// handClaimed puts a job whose row its dispatch stored claimed by this node
// into the queue's buffer, where the idle worker deliveries.beginIdle
// counted takes it. Once Shutdown began (node.leave gives back what is left
// in the buffers), or if the buffer is full (a queue with fewer buffer
// slots than workers), the claim goes back to the store for a fetcher.
func (e *Engine) handClaimed(j *job) {
	e.mu.RLock()
	sent := false
	if !e.stopping {
		select {
		case j.queue.ch <- j:
			sent = true
		default:
		}
	}
	e.mu.RUnlock()
	if !sent {
		e.dropDelivery(j)
		e.node.due(j.queue.cfg.Name, time.Time{})
	}
}

// enqueueNow writes Queued (unless the row was persisted Queued) and puts the
// job in its queue, honouring the queue's FullQueueBehavior. It never waits
// for room: the row is persisted, and a task that does not fit waits in the
// store or the queue's overflow (overflow.go). Its only error is
// ErrQueueFull, for a queue configured with FullQueueError.
func (e *Engine) enqueueNow(ctx context.Context, j *job) error {
	if !e.deliveries.begin(j) {
		return nil // already in a queue or running in this process
	}
	if !j.persistedQueued {
		// Queued is written before the channel write: written after, it
		// could land on top of the worker's InProgress.
		applied, err := e.writer.transition(ctx, store.TransitionParams{
			ID: j.id, To: store.StatusQueued, From: fromWaiting,
			Now: e.now(), AuditLevel: j.audit,
		})
		// Not applied: the row was cancelled, or, in a cluster, a fetcher
		// claimed it first (it is due). If this node's fetcher did, the
		// claim is this delivery's now (adopted) and it goes to the queue
		// as claimed: endUnclaimed checks that and ends the delivery in one
		// step, so an adoption cannot slip in between and be dropped.
		adopted := (err != nil || !applied) && e.node != nil && !e.deliveries.endUnclaimed(j)
		if (err != nil || !applied) && !adopted {
			if e.node == nil {
				e.deliveries.end(j)
			}
			if err != nil {
				// The task is persisted, so it is accepted: a store hiccup
				// (or the caller's ctx ending) here must not make the
				// caller dispatch it again. The row is WaitingQueue, which
				// a fetcher or the timer path queues once the store
				// answers.
				if ctx.Err() == nil {
					e.storeErr("transition", err)
				}
				e.log.Warn("queue task, will retry", "task_id", j.id, "err", err)
				if e.node != nil {
					e.node.due(j.queue.cfg.Name, time.Time{}) // a fetcher takes the row
				} else {
					e.schedule(j, e.now().Add(e.cfg.FullQueueRetryDelay))
				}
			}
			return nil // persisted; cancelled or taken meanwhile, or retried
		}
	}
	q := j.queue
	if q.over.n.Load() == 0 {
		select {
		case q.ch <- j:
			return nil
		default:
		}
	}
	switch q.cfg.WhenFull {
	case FullQueueError:
		e.revertToWaiting(j)
		e.dropDelivery(j)
		return fmt.Errorf("%w: %q (task %s stays persisted)", ErrQueueFull, q.cfg.Name, j.id)
	case FullQueueFallback:
		e.log.Warn("queue full, falling back to the default queue", "queue", q.cfg.Name, "task_id", j.id)
		q = e.queues[DefaultQueue]
	}
	// The row is committed: the dispatch is acknowledged now, and the task
	// waits for room behind it, never in Dispatch (overflow.go).
	e.send(q, j)
	return nil
}

// dropDelivery ends a delivery that never ran. In a cluster, a claim it
// holds (its fetcher's, adopted) goes back to the store, so the row does not
// wait for its lease to expire.
func (e *Engine) dropDelivery(j *job) {
	if e.node != nil {
		e.node.release(j)
	}
	e.deliveries.end(j)
}

// revertToWaiting moves a task that could not be queued back to
// WaitingQueue, only if it is still Queued: a successor that already moved
// on is never clobbered (bug 46).
func (e *Engine) revertToWaiting(j *job) {
	_, err := e.writer.transition(context.Background(), store.TransitionParams{
		ID: j.id, To: store.StatusWaitingQueue, From: fromQueued,
		Now: e.now(), AuditLevel: j.audit,
	})
	if err != nil {
		e.log.Warn("revert task to WaitingQueue", "task_id", j.id, "err", err)
	}
}

// fireTimed runs on the timer heap's goroutine when a timed task is due. It
// must not block, so the store write happens on its own goroutine.
func (e *Engine) fireTimed(id uuid.UUID, j *job) {
	e.background.Add(1)
	go func() {
		defer e.background.Done()
		e.promote(j)
	}()
}

// promote moves a due timed task into its queue: a conditional Queued (only
// if the row is still recoverable, so a cancelled or finished row is never
// resurrected: bug 8), then a non-blocking write; a full queue or a store
// error retries later instead of blocking other queues (bug 43).
func (e *Engine) promote(j *job) {
	if e.acceptingWork() != nil || !e.takeTimed(j) {
		return // shutting down, or a newer job of the task was parked
	}
	retry := func(after time.Duration) { e.schedule(j, e.now().Add(after)) }
	if !e.deliveries.begin(j) {
		// Already in a queue or running here: that delivery stands, and for
		// a series it parks the next occurrence itself. Retrying this one
		// later could run an occurrence twice.
		return
	}
	applied, err := e.writer.transition(e.runCtx, store.TransitionParams{
		ID: j.id, To: store.StatusQueued, IfRecoverable: true, Now: e.now(), AuditLevel: j.audit,
	})
	switch {
	case errors.Is(err, store.ErrNotFound) || (err == nil && !applied):
		e.deliveries.end(j)
		return
	case err != nil:
		e.deliveries.end(j)
		e.storeErr("transition", err)
		e.log.Warn("queue timed task, will retry", "task_id", j.id, "err", err)
		retry(e.cfg.FullQueueRetryDelay)
		return
	}
	select {
	case j.queue.ch <- j:
	default:
		e.revertToWaiting(j)
		e.deliveries.end(j)
		retry(e.cfg.FullQueueRetryDelay)
	}
}
