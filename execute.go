package evertask

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"

	"github.com/evertask/evertask/store"
)

// work is one worker goroutine of a queue.
func (e *Engine) work(q *queue) {
	defer e.workers.Done()
	for {
		select {
		case <-e.stopIntake:
			return
		case j := <-q.ch:
			if e.acceptingWork() != nil {
				// Shutting down: leave it Queued for the next start.
				e.deliveries.end(j.id)
				return
			}
			e.execute(j)
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

// execute runs one delivered job: claim, attempts, outcome. The delivery
// ends when it returns, whatever happens.
func (e *Engine) execute(j *job) {
	defer e.deliveries.end(j.id)
	if e.deliveries.cancelled(j.id) {
		return
	}
	started := e.now()
	// Claim: only a Queued row becomes InProgress. A cancel or another
	// process that got there first makes this a no-op.
	applied, err := e.writer.transition(e.runCtx, store.TransitionParams{
		ID: j.id, To: store.StatusInProgress, From: []store.Status{store.StatusQueued},
		Now: started, AuditLevel: j.audit,
	})
	if err != nil {
		e.log.Warn("claim task, will retry", "task_id", j.id, "err", err)
		e.timers.Schedule(j.id, e.now().Add(e.cfg.FullQueueRetryDelay), j)
		return
	}
	if !applied {
		return
	}

	ctx, cancel := context.WithCancel(e.runCtx)
	defer cancel()
	if !e.deliveries.running(j.id, cancel) {
		cancel() // cancelled between dequeue and claim
	}
	runNumber := 1
	if j.series != nil {
		runNumber = j.series.runCount + 1
	}
	info := &execInfo{id: j.id, kind: j.kind.name, runNumber: runNumber}
	var logs *logBuffer
	if e.cfg.LogCapture.Enabled {
		logs = &logBuffer{taskID: j.id, minLevel: e.cfg.LogCapture.MinLevel, max: e.cfg.LogCapture.MaxPerExecution}
	}
	info.newLogger = func() *slog.Logger {
		// The task's id and kind go to the application's log; the stored
		// copy is the task's own, so it leaves them out.
		h := e.log.Handler().WithAttrs([]slog.Attr{slog.String("task_id", j.id.String()), slog.String("kind", j.kind.name)})
		if logs != nil {
			h = &captureHandler{next: h, buf: logs}
		}
		return slog.New(h)
	}
	ctx = withExecInfo(ctx, info)

	e.emit(Event{Type: EventStarted, TaskID: j.id, Kind: j.kind.name, Queue: j.queue.cfg.Name, At: started, Attempt: 1})
	if j.kind.started != nil {
		e.callHook(j, "OnStarted", func() { j.kind.started(ctx, j.task) })
	}

	out := e.attempts(ctx, j, info)
	out.elapsed = e.now().Sub(started)
	e.finish(ctx, j, out, logs)
}

// attempts runs the handler until it succeeds, the retry policy gives up, or
// the context ends.
func (e *Engine) attempts(ctx context.Context, j *job, info *execInfo) outcome {
	policy, timeout := e.policyFor(j)
	var errs []error
	for attempt := 1; ; attempt++ {
		info.attempt.Store(int32(attempt))
		err := e.runAttempt(ctx, j, timeout)
		if err == nil {
			return outcome{status: store.StatusCompleted, event: EventCompleted}
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			return e.interrupted(j, errs)
		}
		if errors.Is(err, errAttemptTimeout) {
			return outcome{status: store.StatusFailed, err: aggregate(errs), last: err, event: EventTimedOut}
		}
		delay, again := time.Duration(0), retryable(err)
		if again {
			delay, again = policy.Retry(attempt, err)
		}
		if !again {
			return outcome{status: store.StatusFailed, err: aggregate(errs), last: err, event: EventFailed}
		}
		if j.kind.retried != nil {
			e.callHook(j, "OnRetry", func() { j.kind.retried(ctx, j.task, attempt, err, delay) })
		}
		e.emit(Event{Type: EventRetried, TaskID: j.id, Kind: j.kind.name, Queue: j.queue.cfg.Name, Attempt: attempt, Duration: delay, Err: err})
		if delay > 0 {
			t := time.NewTimer(delay)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				// Keep every cause collected so far (bug 61).
				return e.interrupted(j, errs)
			}
		}
	}
}

// interrupted classifies an execution whose context ended: a user cancel
// wins over a shutdown that happened at the same time (bug 36).
func (e *Engine) interrupted(j *job, errs []error) outcome {
	if e.deliveries.cancelled(j.id) {
		return outcome{status: store.StatusCancelled, err: nil, last: context.Canceled, event: EventCancelled}
	}
	cause := fmt.Errorf("stopped by shutdown: %w", context.Canceled)
	return outcome{status: store.StatusServiceStopped, err: cause, last: errors.Join(append(errs, cause)...), event: EventStopped}
}

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

// runAttempt runs the handler once. It returns when the handler returns or
// the attempt's context ends, whichever is first: a handler that ignores its
// context is left running detached (Go cannot stop a goroutine) and its
// result is discarded.
func (e *Engine) runAttempt(parent context.Context, j *job, timeout time.Duration) error {
	ctx := parent
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(parent, timeout)
		defer cancel()
	}
	done := make(chan error, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				done <- fmt.Errorf("panic: %v\n%s", p, debug.Stack())
			}
		}()
		done <- j.kind.handle(ctx, j.task)
	}()
	select {
	case err := <-done:
		if err != nil && parent.Err() == nil && ctx.Err() == context.DeadlineExceeded {
			return &TimeoutError{Timeout: timeout}
		}
		return err
	case <-ctx.Done():
		select {
		case err := <-done: // it returned at the same moment: take its result
			if err == nil {
				return nil
			}
		default:
		}
		if parent.Err() == nil {
			return &TimeoutError{Timeout: timeout}
		}
		return parent.Err()
	}
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
func (e *Engine) finish(ctx context.Context, j *job, out outcome, logs *logBuffer) {
	now := e.now()
	errText := ""
	if out.err != nil {
		errText = out.err.Error()
	}
	// The outcome must be written even when shutdown cancelled the run.
	wctx := context.WithoutCancel(ctx)
	var applied bool
	var err error
	if j.series != nil && (out.status == store.StatusCompleted || out.status == store.StatusFailed) {
		applied, err = e.finishRun(wctx, j, out, now, errText)
	} else {
		applied, err = e.writeOutcome(wctx, store.TransitionParams{
			ID: j.id, To: out.status, From: []store.Status{store.StatusInProgress},
			Now: now, Error: errText, ExecutionTime: out.elapsed, AuditLevel: j.audit,
		})
	}
	var captured []store.ExecutionLog
	if logs != nil {
		captured = logs.drain(now)
		if len(captured) > 0 {
			if err := e.store.SaveLogs(wctx, j.id, captured); err != nil {
				e.log.Warn("save execution logs", "task_id", j.id, "err", err)
			}
		}
	}
	if err != nil {
		// The row stays InProgress and is recovered (re-run) at the next
		// start: at least once, never lost.
		e.log.Error("record task outcome", "task_id", j.id, "status", out.status, "err", err)
		return
	}
	ev := Event{Type: out.event, TaskID: j.id, Kind: j.kind.name, Queue: j.queue.cfg.Name, At: now,
		Attempt: Attempt(ctx), Duration: out.elapsed, Err: out.err, Logs: captured}
	if !applied && out.status != store.StatusCancelled {
		// Cancelled while running: the cancel's status stands and the result
		// is suppressed (bug 37).
		ev.Type, ev.Err = EventCancelled, nil
		e.emit(ev)
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
	if out.status != store.StatusCancelled { // Cancel announced it already
		e.emit(ev)
	}
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
	deadline := e.now().Add(30 * time.Second)
	for {
		err := fn()
		if err == nil || !errors.Is(err, store.ErrUnavailable) || e.now().After(deadline) {
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
