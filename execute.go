package evertask

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/evertask/evertask/store"
)

// work is one worker goroutine of a queue. It ends at shutdown, or when a
// watchdog took over its place because a handler ignored its context.
func (e *Engine) work(q *queue) {
	for {
		select {
		case <-e.stopIntake:
			e.workers.Done()
			return
		case j := <-q.ch:
			q.took()
			if e.acceptingWork() != nil {
				// Shutting down: leave it Queued for the next start.
				e.dropDelivery(j)
				e.workers.Done()
				return
			}
			if e.holdPaused(j) {
				continue
			}
			if e.execute(j) == abandoned {
				return // the watchdog carries on in this worker's place
			}
		}
	}
}

// outcome is how an execution ended.
type outcome struct {
	status  store.Status
	err     error // the error to store and report (nil on success)
	last    error // the last attempt's own error, for OnError
	event   EventType
	elapsed time.Duration
}

// execution is one run of a delivered job. Its handler runs inline on the
// worker goroutine (only the outcome's write gets its own, see complete). A
// watchdog armed on the attempt's context takes the execution over when the
// context ends while the handler is still running, so a handler that
// ignores its context cannot hold the worker: the watchdog records the
// outcome and becomes the queue's worker, and the stuck goroutine exits
// quietly when (if) the handler returns. Go cannot stop that goroutine; it
// runs on detached.
//
// The execution is also the handler's context (execctx.go), carrying the
// task's metadata (see TaskID, Logger).
type execution struct {
	ctx       execCtx
	e         *Engine
	j         *job
	logs      *logBuffer
	started   time.Time
	runNumber int
	attempt   atomic.Int32
	// idle is set once the execution left its queue's busy count. (Beside
	// attempt, in what would be padding.)
	idle atomic.Bool
	// attemptStart is when the current attempt began; written by the
	// worker before the attempt, read by its watchdog after.
	attemptStart time.Time
	errs         []error
	// owner decides who finishes an attempt: the worker when the handler
	// returns, or the watchdog when the context ends first.
	owner atomic.Int32

	loggerOnce sync.Once // the logger is built on first use: most handlers never log
	logger     *slog.Logger
}

const (
	// No attempt has begun. A watchdog started by a cancel in this state
	// (the delivery is registered as running before its first attempt)
	// finds nothing to take over; the attempt then sees the ended context.
	// Were this state "handler", that watchdog would take over and serve as
	// a worker while the worker went on too: two workers in one slot.
	ownerNone     = 0
	ownerHandler  = 1 // the handler is running
	ownerWorker   = 2 // it returned: the worker goes on
	ownerWatchdog = 3 // the context ended first: the watchdog goes on
)

type execResult int

const (
	finished execResult = iota
	abandoned
)

// execute runs one delivered job: claim, attempts, outcome. The delivery
// ends with it, whoever finishes it.
func (e *Engine) execute(j *job) execResult {
	started := e.now()
	if e.node != nil && e.deliveries.claim(j, time.Time{}) || e.node == nil && j.claimed {
		// Claimed already (by the fetcher, or by recovery); a Cancel since
		// then wrote Cancelled and flagged the delivery, a take-over
		// flagged it lost.
		if e.deliveries.cancelled(j) || e.deliveries.isLost(j) {
			e.deliveries.end(j)
			return finished
		}
	} else {
		// Claim: only a Queued row becomes InProgress. A cancel or another
		// process that got there first makes this a no-op. In a cluster the
		// claim takes the row's lease for this node.
		p := store.TransitionParams{
			ID: j.id, To: store.StatusInProgress, From: fromQueued,
			Now: started, AuditLevel: j.audit,
		}
		if e.node != nil {
			p.Lease = &store.Lease{Owner: e.node.info.ID, For: e.node.cfg.LeaseDuration}
		}
		applied, err := e.writer.transition(e.runCtx, p)
		switch {
		case err == nil && applied:
			if e.node != nil {
				e.deliveries.claim(j, started)
			}
		case e.node != nil && !e.deliveries.endUnclaimed(j):
			// This node's fetcher claimed the row meanwhile and adopted
			// this delivery: it runs with that claim.
		case err != nil:
			if e.node == nil {
				e.deliveries.end(j)
			}
			e.storeErr("transition", err)
			e.log.Warn("claim task, will retry", "task_id", j.id, "err", err)
			if e.node != nil {
				// The row is in the store: a fetcher takes it.
				e.node.due(j.queue.cfg.Name, time.Time{})
			} else {
				e.schedule(j, e.now().Add(e.cfg.FullQueueRetryDelay))
			}
			return finished
		default:
			// Taken by another node, or cancelled.
			if e.node == nil {
				e.deliveries.end(j)
			}
			return finished
		}
	}

	x := &execution{e: e, j: j, started: started, runNumber: 1}
	if j.series != nil {
		x.runNumber = j.series.runCount + 1
	}
	if e.cfg.LogCapture.Enabled {
		x.logs = &logBuffer{taskID: j.id, minLevel: e.cfg.LogCapture.MinLevel, max: e.cfg.LogCapture.MaxPerExecution}
	}
	var staleBefore time.Time
	if e.node != nil {
		staleBefore = started.Add(-e.node.startableLease())
	}
	switch st := e.deliveries.running(j, x, staleBefore); {
	case st == startLost:
		// Taken over, or the lease is too old to start on (this node was
		// starved past its renewals): another node may run the task now,
		// so this one does not start it and records nothing.
		e.log.Warn("lease lost before the task started; not running it", "task_id", j.id)
		e.deliveries.end(j)
		return finished
	case st == startCancelled || e.runCtx.Err() != nil:
		// Cancelled between dequeue and claim, or Shutdown's grace ended:
		// Shutdown cancels the executions it finds registered, and this one
		// checks after registering, so none is missed.
		x.cancel()
	}

	j.queue.busy.Add(1)
	ready := j.readyAt
	if j.series != nil {
		ready = unixNano(j.series.scheduledAt)
	}
	var waited time.Duration
	if now := started.UnixNano(); ready != 0 && now > ready {
		waited = time.Duration(now - ready)
	}
	e.emit(Event{Type: EventStarted, TaskID: j.id, Kind: j.kind.name, Queue: j.queue.cfg.Name, At: started, Attempt: 1, Waited: waited})
	if j.kind.started != nil {
		e.callHook(j, "OnStarted", func() { j.kind.started(x, j.task) })
	}
	out, res := x.attempts()
	if res == abandoned {
		return abandoned
	}
	x.leaveBusy()
	x.complete(out)
	return finished
}

// leaveBusy takes the execution out of its queue's busy count, once: the
// worker or the watchdog, whichever finishes it.
func (x *execution) leaveBusy() {
	if x.idle.CompareAndSwap(false, true) {
		x.j.queue.busy.Add(-1)
	}
}

// complete records the outcome and ends the delivery.
func (x *execution) complete(out outcome) {
	now := x.e.now()
	out.elapsed = now.Sub(x.started)
	if !x.e.overlapOutcomes {
		x.record(out, now)
		return
	}
	// The worker does not wait for the store: the outcome joins the next
	// group commit while the worker takes its next task (River's completer
	// works so), or a queue's workers would sit out a round trip per task.
	// What follows the write (hooks, the event, the end of the delivery)
	// still waits for its commit, and Shutdown waits for it as for a
	// worker. At most outcomesPerWorker × Workers outcomes of a queue are
	// in flight.
	q := x.j.queue
	q.recording <- struct{}{}
	x.e.workers.Add(1) // the caller holds a count: Shutdown's Wait cannot have returned
	if x.recordQueued(out, now) {
		return
	}
	go func() {
		defer x.recorded()
		x.record(out, now)
	}()
}

// record writes the outcome, reports it and ends the delivery.
func (x *execution) record(out outcome, now time.Time) {
	x.e.finish(x, x.j, out, x.logs, now)
	x.end()
}

// end ends the execution's context and delivery once its outcome is
// recorded.
func (x *execution) end() {
	x.cancel()
	x.e.deliveries.end(x.j)
}

// recorded gives back what complete took for an overlapped outcome.
func (x *execution) recorded() {
	<-x.j.queue.recording
	x.e.workers.Done()
}

// recordQueued records an overlapped outcome without a goroutine of its
// own, when nothing after its write can block: a one-shot task without
// hooks, captured logs or an observer. The outcome joins the transitions
// lane's next batch, and the batch's writer reports it once the batch
// committed (reportOutcome: the delivery's end, the event). A goroutine
// per outcome, waiting on its batch, was a sixth of a PostgreSQL burn's
// engine CPU (its start, stack growth, exit and the GC's scans of the
// parked ones). A failed write or a refusal by the fence, rare, takes the
// full path on a goroutine. False: take the goroutine path.
func (x *execution) recordQueued(out outcome, now time.Time) bool {
	e, j := x.e, x.j
	if j.series != nil || x.logs != nil || j.kind.completed != nil || j.kind.failed != nil || e.observe != nil || !e.writer.transitions.batches() {
		return false
	}
	w, ok := e.prepareOutcome(j, out, now)
	if !ok {
		x.end()
		x.recorded()
		return true
	}
	e.writer.transitions.submit(w.params, func(applied bool, err error) {
		if err != nil || (!applied && w.params.HeldBy != "") {
			go func() {
				if err != nil {
					applied, err = e.writeOutcome(context.Background(), w.params)
				}
				e.reportOutcome(x, j, out, nil, now, w, applied, err)
				x.end()
				x.recorded()
			}()
			return
		}
		e.reportOutcome(x, j, out, nil, now, w, applied, nil)
		x.end()
		x.recorded()
	})
	return true
}

// newLogger builds the task's logger on first use.
func (x *execution) newLogger() *slog.Logger {
	// The task's id and kind go to the application's log; the stored copy is
	// the task's own, so it leaves them out.
	h := x.e.log.Handler().WithAttrs([]slog.Attr{slog.String("task_id", x.j.id.String()), slog.String("kind", x.j.kind.name)})
	if x.logs != nil {
		h = &captureHandler{next: h, buf: x.logs}
	}
	return slog.New(h)
}

// attempts runs the handler until it succeeds, the retry policy gives up, or
// the context ends.
func (x *execution) attempts() (outcome, execResult) {
	e, j := x.e, x.j
	policy, timeout := e.policyFor(j)
	for attempt := 1; ; attempt++ {
		x.attempt.Store(int32(attempt))
		x.attemptStart = e.now()
		res, err := x.runAttempt(timeout)
		if res == abandoned {
			return outcome{}, abandoned
		}
		if err == nil {
			return outcome{status: store.StatusCompleted, event: EventCompleted}, finished
		}
		x.errs = append(x.errs, err)
		if x.Err() == nil {
			// A failure of the attempt itself (not a cancel or a shutdown,
			// which the status records): kept before the retry, so it
			// survives a crash during the backoff.
			x.recordAttempt(attempt, err)
		}
		if out, ended := x.ended(err); ended {
			return out, finished
		}
		delay, again := time.Duration(0), retryable(err)
		if again {
			delay, again = policy.Retry(attempt, err)
		}
		if !again {
			return outcome{status: store.StatusFailed, err: aggregate(x.errs), last: err, event: EventFailed}, finished
		}
		if j.kind.retried != nil {
			e.callHook(j, "OnRetry", func() { j.kind.retried(x, j.task, attempt, err, delay) })
		}
		e.emit(Event{Type: EventRetried, TaskID: j.id, Kind: j.kind.name, Queue: j.queue.cfg.Name, Attempt: attempt, Duration: delay, Err: err})
		if delay > 0 {
			t := time.NewTimer(delay)
			select {
			case <-t.C:
			case <-x.Done():
				t.Stop()
				// Keep every cause collected so far (bug 61).
				return e.interrupted(j, x.errs), finished
			}
		}
	}
}

// ended reports the outcome of an attempt that ended with its context: a
// timeout fails the task, a cancel or a shutdown interrupts it. Neither is
// retried.
func (x *execution) ended(err error) (outcome, bool) {
	if x.Err() != nil {
		return x.e.interrupted(x.j, x.errs), true
	}
	if errors.Is(err, errAttemptTimeout) {
		return outcome{status: store.StatusFailed, err: aggregate(x.errs), last: err, event: EventTimedOut}, true
	}
	return outcome{}, false
}

// runAttempt calls the handler once, inline. A cancel or a shutdown starts
// the watchdog explicitly (deliveries.markCancelled, Engine.Shutdown); a
// timeout starts it from the attempt's deadline. Arming it only where a
// deadline exists keeps context.AfterFunc off the common path.
func (x *execution) runAttempt(timeout time.Duration) (execResult, error) {
	var ctx context.Context = x
	x.owner.Store(ownerHandler)
	if err := x.Err(); err != nil {
		// Cancelled or shut down before the handler started: a watchdog
		// started before the Store found no attempt (ownerNone); one
		// started since may take this one over.
		if !x.owner.CompareAndSwap(ownerHandler, ownerWorker) {
			return abandoned, nil
		}
		return finished, err
	}
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(x, timeout)
		defer cancel()
		stop := context.AfterFunc(ctx, x.watchdog)
		defer stop()
	}
	err := x.callHandler(ctx)
	if !x.owner.CompareAndSwap(ownerHandler, ownerWorker) {
		return abandoned, nil
	}
	if err != nil && x.Err() == nil && ctx.Err() == context.DeadlineExceeded {
		err = &TimeoutError{Timeout: timeout}
	}
	return finished, err
}

// stop ends a running execution's context and starts its watchdog, so
// even a handler that ignores the cancel stops holding its worker. A nil
// execution (the delivery is not running) is left alone.
func (x *execution) stop() {
	if x != nil {
		x.cancel()
		go x.watchdog()
	}
}

// watchdog runs when an attempt's context ends. If the handler is still
// running, it takes the execution over: it records the outcome, then serves
// as the queue's worker in place of the stuck goroutine. If the handler
// already returned, or the watchdog of this attempt already ran, it does
// nothing.
func (x *execution) watchdog() {
	if !x.owner.CompareAndSwap(ownerHandler, ownerWatchdog) {
		return
	}
	var err error = &TimeoutError{Timeout: x.timeout()}
	if x.Err() != nil {
		err = x.Err()
	}
	x.errs = append(x.errs, err)
	if x.Err() == nil {
		x.recordAttempt(int(x.attempt.Load()), err)
	}
	out, _ := x.ended(err)
	x.leaveBusy()
	x.complete(out)
	x.e.work(x.j.queue)
}

// attemptWriteTimeout bounds the write of one failed attempt: the history
// is worth a try, not a stuck worker.
const attemptWriteTimeout = 10 * time.Second

// recordAttempt keeps one failed attempt in the store when it is a
// store.AttemptStore and the task's audit level records errors. In a
// cluster the write is fenced on this node's lease; a delivery whose lease
// is lost writes nothing. A failed write is logged and the task goes on:
// the history is not worth the task.
func (x *execution) recordAttempt(number int, err error) {
	e, j := x.e, x.j
	as, ok := e.store.(store.AttemptStore)
	if !ok || !store.AttemptAuditRequired(j.audit) {
		return
	}
	p := store.AttemptParams{
		Attempt: store.Attempt{
			TaskID: j.id, Run: x.runNumber, Number: number, StartedAt: x.attemptStart,
			Duration: max(0, e.now().Sub(x.attemptStart)), Error: err.Error(),
		},
		AuditLevel: j.audit,
	}
	if e.node != nil {
		leased, lost := e.deliveries.lease(j)
		if lost {
			return
		}
		if leased {
			p.HeldBy = e.node.info.ID
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), attemptWriteTimeout)
	defer cancel()
	if _, werr := as.RecordAttempt(ctx, p); werr != nil {
		e.log.Warn("record failed attempt", "task_id", j.id, "attempt", number, "err", werr)
	}
}

func (x *execution) timeout() time.Duration {
	_, t := x.e.policyFor(x.j)
	return t
}

// callHandler calls the handler, turning a panic into an error with its
// stack: the worker lives on.
func (x *execution) callHandler(ctx context.Context) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v\n%s", p, debug.Stack())
		}
	}()
	if x.e.attempt == nil {
		return x.j.kind.handle(ctx, x.j.task)
	}
	j := x.j
	return x.e.attempt(ctx, &AttemptInfo{TaskID: j.id, Kind: j.kind.name, Queue: j.queue.cfg.Name,
		Attempt: int(x.attempt.Load()), RunNumber: x.runNumber, Metadata: j.meta, x: x})
}

// Status sets shared by every execution, so a transition allocates no slice.
var (
	fromQueued     = []store.Status{store.StatusQueued}
	fromInProgress = []store.Status{store.StatusInProgress}
	fromWaiting    = []store.Status{store.StatusWaitingQueue}
)

// interrupted classifies an execution whose context ended: a user cancel
// wins over a shutdown that happened at the same time (bug 36).
func (e *Engine) interrupted(j *job, errs []error) outcome {
	if e.deliveries.cancelled(j) {
		return outcome{status: store.StatusCancelled, err: nil, last: context.Canceled, event: EventCancelled}
	}
	if e.deliveries.isLost(j) {
		return outcome{status: store.StatusServiceStopped, err: errLeaseLost, last: errLeaseLost, event: EventStopped}
	}
	cause := fmt.Errorf("stopped by shutdown: %w", context.Canceled)
	return outcome{status: store.StatusServiceStopped, err: cause, last: errors.Join(append(errs, cause)...), event: EventStopped}
}

// errLeaseLost is the cause of an execution stopped because its node lost
// the task's lease: nothing of it is recorded.
var errLeaseLost = errors.New("lease lost: the task was taken over by another node")

// errAttemptTimeout marks an attempt that ran out of time.
var errAttemptTimeout = errors.New("attempt timed out")

// TimeoutError is the error of an attempt that hit its timeout. It wraps
// context.DeadlineExceeded, so it is never retried.
type TimeoutError struct{ Timeout time.Duration }

func (e *TimeoutError) Error() string { return fmt.Sprintf("attempt timed out after %s", e.Timeout) }

// Is makes errors.Is(err, context.DeadlineExceeded) hold.
func (e *TimeoutError) Is(target error) bool {
	return target == context.DeadlineExceeded || target == errAttemptTimeout
}

func (e *Engine) policyFor(j *job) (RetryPolicy, time.Duration) {
	policy := j.kind.retry
	if policy == nil {
		policy = j.queue.cfg.Retry
	}
	if policy == nil {
		policy = e.cfg.Retry
	}
	timeout := j.kind.timeout
	if timeout == 0 {
		timeout = j.queue.cfg.Timeout
	}
	if timeout == 0 {
		timeout = e.cfg.Timeout
	}
	return policy, timeout
}

func aggregate(errs []error) error {
	if len(errs) == 1 {
		return errs[0]
	}
	return &AttemptsError{Errs: errs}
}

// finish records the outcome, then tells the hooks and subscribers. The store
// write comes first: a task is reported done only once that is durable.
func (e *Engine) finish(ctx context.Context, j *job, out outcome, logs *logBuffer, now time.Time) {
	w, ok := e.prepareOutcome(j, out, now)
	if !ok {
		return
	}
	// The outcome must be written even when shutdown cancelled the run; the
	// store retries are bounded by retryStore.
	var applied bool
	var err error
	if w.run {
		applied, err = e.finishRun(context.Background(), j, out, now, w.params.Error, w.params.HeldBy)
	} else {
		applied, err = e.writeOutcome(context.Background(), w.params)
	}
	e.reportOutcome(ctx, j, out, logs, now, w, applied, err)
}

// outcomeWrite is the write of an execution's outcome: a series run's
// (finishRun), or a transition.
type outcomeWrite struct {
	run    bool
	params store.TransitionParams // the transition; Error and HeldBy serve a run too
}

// prepareOutcome settles j's delivery for the write of its outcome and
// says what to write; false when this node lost the lease, and the outcome
// was dropped (lostOutcome).
func (e *Engine) prepareOutcome(j *job, out outcome, now time.Time) (outcomeWrite, bool) {
	errText := ""
	if out.err != nil {
		errText = out.err.Error()
	}
	var heldBy string
	if e.node != nil {
		leased, lost := e.deliveries.settle(j)
		if lost {
			e.lostOutcome(j, out)
			return outcomeWrite{}, false
		}
		if leased {
			heldBy = e.node.info.ID
		}
	}
	return outcomeWrite{
		run: j.series != nil && (out.status == store.StatusCompleted || out.status == store.StatusFailed),
		params: store.TransitionParams{
			ID: j.id, To: out.status, From: fromInProgress, HeldBy: heldBy,
			Now: now, Error: errText, ExecutionTime: out.elapsed, AuditLevel: j.audit,
		},
	}, true
}

// reportOutcome follows the write of an outcome: the fence's refusal,
// the captured logs, the end of the delivery, the hooks and the event.
func (e *Engine) reportOutcome(ctx context.Context, j *job, out outcome, logs *logBuffer, now time.Time, w outcomeWrite, applied bool, err error) {
	wctx := context.Background()
	heldBy, run := w.params.HeldBy, w.run
	if err == nil && !applied && heldBy != "" {
		// Refused by the fence: a cancel from another node (reported as a
		// cancel below) or a take-over (nothing to report: the row is
		// another node's now).
		if row, gerr := e.store.Get(wctx, j.id); gerr != nil || row.Status != store.StatusCancelled {
			e.lostOutcome(j, out)
			return
		}
	}
	var captured []store.ExecutionLog
	if logs != nil {
		captured = logs.drain(now)
		// In a cluster, logs follow an outcome that landed: a refused
		// outcome's logs are refused with it.
		if len(captured) > 0 && (heldBy == "" || applied) {
			e.saveLogs(wctx, j.id, captured)
		}
	}
	if err == nil && !run {
		// The row and its logs are final: the task is no longer this
		// process's to run, and a keyed dispatch may replace it now (it
		// waits for this, see applyKeyRules). The hooks and the event
		// follow.
		e.deliveries.end(j)
	}
	if err != nil {
		// The row stays InProgress and is recovered (re-run) at the next
		// start: at least once, never lost.
		e.storeErr("transition", err)
		e.log.Error("record task outcome", "task_id", j.id, "status", out.status, "err", err)
		return
	}
	ev := Event{Type: out.event, TaskID: j.id, Kind: j.kind.name, Queue: j.queue.cfg.Name, At: now,
		Attempt: Attempt(ctx), Duration: out.elapsed, Err: out.err, Logs: captured}
	if !applied {
		// Cancelled while running, and the Cancel's write landed first: its
		// status stands and the result is suppressed (bug 37). The handler
		// was stopped by the cancel, so OnError hears of it; the event is
		// the Cancel's to send, as its write made the transition (see
		// Event): sending it here too would announce one cancel twice.
		if j.kind.failed != nil {
			e.callHook(j, "OnError", func() { j.kind.failed(ctx, j.task, context.Canceled) })
		}
		return
	}
	switch out.status {
	case store.StatusCompleted:
		if j.kind.completed != nil {
			e.callHook(j, "OnCompleted", func() { j.kind.completed(ctx, j.task) })
		}
	default:
		if j.kind.failed != nil {
			e.callHook(j, "OnError", func() { j.kind.failed(ctx, j.task, out.last) })
		}
	}
	// This write made the transition, so this is its one event: a
	// Cancelled written here (the stopped handler's outcome landed before
	// the Cancel's own write, which then found nothing to change) is
	// announced here and not by Cancel.
	e.emit(ev)
}

// saveLogs stores an execution's captured logs and applies the per-task
// cap (Config.LogCapture.MaxPerTask): with a store.LogTrimmer the oldest
// logs of the task go, as the original's MaxExecutionLogsPerTask did;
// without one only what fits under the cap is stored, so the newest of this
// execution are the ones dropped. A failure is logged: logs are not worth
// the task.
func (e *Engine) saveLogs(ctx context.Context, id uuid.UUID, logs []store.ExecutionLog) {
	limit := e.cfg.LogCapture.MaxPerTask
	trimmer, canTrim := e.store.(store.LogTrimmer)
	if limit > 0 && !canTrim {
		page, err := e.store.LogsPage(ctx, store.LogQuery{TaskID: id, Limit: 1})
		if err != nil {
			e.log.Warn("count execution logs", "task_id", id, "err", err)
			return
		}
		logs = logs[:max(0, min(len(logs), limit-page.Total))]
		if len(logs) == 0 {
			return
		}
	}
	if err := e.store.SaveLogs(ctx, id, logs); err != nil {
		e.storeErr("save logs", err)
		e.log.Warn("save execution logs", "task_id", id, "err", err)
		return
	}
	if limit > 0 && canTrim {
		if _, err := trimmer.TrimLogs(ctx, id, limit); err != nil {
			e.log.Warn("trim execution logs", "task_id", id, "err", err)
		}
	}
}

// lostOutcome drops the outcome of an execution whose lease this node lost:
// another node owns the row now, so nothing is written, announced or
// hooked.
func (e *Engine) lostOutcome(j *job, out outcome) {
	e.log.Warn("lease lost: outcome not recorded, the task runs again elsewhere",
		"task_id", j.id, "node", e.node.info.ID, "outcome", out.status)
	e.deliveries.end(j)
}

// writeOutcome writes a final transition, retrying a transient store error
// for a while: the result of work already done is worth a few retries.
func (e *Engine) writeOutcome(ctx context.Context, p store.TransitionParams) (bool, error) {
	var applied bool
	err := e.retryStore(ctx, func() error {
		var err error
		applied, err = e.writer.transition(ctx, p)
		return err
	})
	return applied, err
}

// retryStore calls fn until it succeeds, fails with a non-transient error,
// or about 30 s of backoff passed.
func (e *Engine) retryStore(ctx context.Context, fn func() error) error {
	delay := 50 * time.Millisecond
	var deadline time.Time // read the clock only once something failed
	for {
		err := fn()
		if err == nil || !errors.Is(err, store.ErrUnavailable) {
			return err
		}
		if deadline.IsZero() {
			deadline = e.now().Add(30 * time.Second)
		} else if e.now().After(deadline) {
			return err
		}
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return err
		}
		delay = min(2*delay, 2*time.Second)
	}
}

// callHook runs a hook; its panic is logged, never fatal to the task.
func (e *Engine) callHook(j *job, name string, fn func()) {
	defer func() {
		if p := recover(); p != nil {
			e.log.Error("handler hook panicked", "hook", name, "task_id", j.id, "kind", j.kind.name, "panic", p)
		}
	}()
	fn()
}
