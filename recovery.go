package evertask

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/evertask/evertask/store"
)

// recoveryStats counts what one recovery did, for its summary line.
type recoveryStats struct {
	requeued, scheduled, skipped, transient, poisoned atomic.Int64
}

// recoveryStall is how long recovery waits for a queue two shares behind
// before it leaves the rest of that queue to a second pass; the other
// queues wait at most this long, once, for a wedged one.
const recoveryStall = time.Second

// recover re-dispatches the work a previous run left behind: every row that
// is recoverable and was created before cutoff (strictly, so tasks
// dispatched while recovery runs are not picked up twice: bug 7).
//
// It reads keyset pages (bounded memory: bug 17) and feeds each queue its
// share of every page through the queue's own bounded pipeline, so a queue
// whose workers are wedged does not hold up the recovery of the others (bug
// 16): when a queue's pipeline is full, the rest of that queue's rows are
// left for a second pass of their own that starts at the first row left.
// Each share is queued with one store round trip (TransitionMany).
func (e *Engine) recover(ctx context.Context, cutoff time.Time) {
	var stats recoveryStats
	pageSize := e.cfg.RecoveryPageSize
	pipes := map[string]chan []*store.Task{}
	var wg sync.WaitGroup
	deferred := map[string]store.Cursor{}

	pipe := func(name string) chan []*store.Task {
		ch := pipes[name]
		if ch == nil {
			ch = make(chan []*store.Task, 2) // at most two pages per queue in memory
			pipes[name] = ch
			wg.Add(1)
			go func() {
				defer wg.Done()
				for rows := range ch {
					e.recoverRows(ctx, rows, &stats)
				}
			}()
		}
		return ch
	}

	var after store.Cursor
	for e.acceptingWork() == nil {
		page, err := e.pendingPage(ctx, after, cutoff, pageSize)
		if err != nil {
			e.storeErr("recover", err)
			e.log.Error("recovery stopped: cannot read pending tasks", "err", err)
			break
		}
		// Split the page by queue, remembering where each queue's share
		// starts, for a queue that has to be deferred.
		shares := map[string][]*store.Task{}
		starts := map[string]store.Cursor{}
		var order []string
		prev := after
		for _, row := range page {
			name := e.recoveryQueue(row)
			if _, ok := deferred[name]; !ok {
				if _, seen := shares[name]; !seen {
					starts[name] = prev
					order = append(order, name)
				}
				shares[name] = append(shares[name], row)
			}
			prev = store.CursorOf(row)
		}
		for _, name := range order {
			// A queue two shares behind gets a moment to take this one: a
			// queue merely slower than the reads keeps its place, and its
			// rows are not read twice (once here, once by its second pass).
			stall := time.NewTimer(recoveryStall)
			select {
			case pipe(name) <- shares[name]:
			case <-stall.C:
				deferred[name] = starts[name]
			case <-e.stopIntake:
				deferred[name] = starts[name] // its second pass sees the shutdown
			}
			stall.Stop()
		}
		if len(page) < pageSize {
			break
		}
		after = prev
	}
	for _, ch := range pipes {
		close(ch)
	}
	// Second pass, one goroutine per queue that overflowed, from its first
	// row left behind.
	for name, from := range deferred {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e.recoverQueue(ctx, name, from, cutoff, &stats)
		}()
	}
	wg.Wait()

	level, msg := slog.LevelInfo, "recovery finished"
	switch {
	case stats.transient.Load() > 0 || stats.poisoned.Load() > 0:
		level, msg = slog.LevelWarn, "recovery finished with failures"
	case stats.requeued.Load()+stats.scheduled.Load()+stats.skipped.Load() == 0:
		level = slog.LevelDebug // nothing was left: not worth a line
	}
	e.log.Log(ctx, level, msg, "requeued", stats.requeued.Load(), "scheduled", stats.scheduled.Load(),
		"skipped", stats.skipped.Load(), "transient_failures", stats.transient.Load(),
		"poisoned", stats.poisoned.Load())
}

func (e *Engine) recoverQueue(ctx context.Context, name string, after store.Cursor, cutoff time.Time, stats *recoveryStats) {
	pageSize := e.cfg.RecoveryPageSize
	for e.acceptingWork() == nil {
		page, err := e.pendingPage(ctx, after, cutoff, pageSize)
		if err != nil {
			e.storeErr("recover", err)
			e.log.Error("recovery of queue stopped: cannot read pending tasks", "queue", name, "err", err)
			return
		}
		var mine []*store.Task
		for _, row := range page {
			if e.recoveryQueue(row) == name {
				mine = append(mine, row)
			}
			after = store.CursorOf(row)
		}
		e.recoverRows(ctx, mine, stats)
		if len(page) < pageSize {
			return
		}
	}
}

// pendingPage reads one page, retrying transient store errors.
func (e *Engine) pendingPage(ctx context.Context, after store.Cursor, cutoff time.Time, limit int) ([]*store.Task, error) {
	var page []*store.Task
	err := e.retryStore(ctx, func() error {
		var err error
		page, err = e.store.RetrievePending(ctx, store.PendingParams{
			After: after, Limit: limit, Now: e.now(), CreatedBefore: cutoff,
		})
		return err
	})
	return page, err
}

// recoveryQueue is the queue a row goes back to: its stored queue when that
// still exists, else the default routing.
func (e *Engine) recoveryQueue(row *store.Task) string {
	if _, ok := e.queues[row.Queue]; ok {
		return row.Queue
	}
	if row.Recurring {
		return RecurringQueue
	}
	return DefaultQueue
}

// recoverRows re-dispatches rows of one queue. It never rewrites a row's
// definition (a concurrent re-registration by key would be lost: bug 10)
// and keeps its audit level (bug 11).
//
// A row goes to Queued only if it is still recoverable (a row that finished
// after the page was read is never resurrected: bug 8), in one TransitionMany
// for the whole share. When the policy audits neither Queued nor InProgress
// the same step claims it (InProgress), so a recovered task costs one write
// less; a one-shot row that is Queued already is not written at all.
func (e *Engine) recoverRows(ctx context.Context, rows []*store.Task, stats *recoveryStats) {
	type pending struct {
		row   *store.Task
		job   *job
		write bool // it has a transition in params
	}
	var ready, toQueue []pending
	var params []store.TransitionParams
	now := e.now()
	for _, row := range rows {
		if e.live.taken(row.ID) {
			stats.skipped.Add(1) // dispatched or re-registered live: the live path owns it
			continue
		}
		j, due, ok := e.recoveredJob(ctx, row, stats)
		if !ok {
			continue
		}
		if due.After(now) {
			e.schedule(j, due)
			stats.scheduled.Add(1)
			e.recovered(ctx, row)
			continue
		}
		if !e.deliveries.begin(j) {
			stats.skipped.Add(1) // dispatched live meanwhile
			continue
		}
		if !store.StatusAuditRequired(row.AuditLevel, store.StatusQueued, "") &&
			!store.StatusAuditRequired(row.AuditLevel, store.StatusInProgress, "") {
			// Neither step is audited: claim the row for this process at once
			// (as River marks the jobs it fetches running), in the share's
			// one round trip, and the worker skips its own claim.
			j.claimed = true
			toQueue = append(toQueue, pending{row, j, true})
			params = append(params, store.TransitionParams{
				ID: j.id, To: store.StatusInProgress, IfRecoverable: true, Now: now, AuditLevel: j.audit,
			})
			continue
		}
		if row.Status == store.StatusQueued && !row.Recurring {
			// Queued already: nothing to write, and nothing to audit. The
			// worker's claim (From Queued) is the check that the row did not
			// finish meanwhile (bug 8), as for any queued task.
			toQueue = append(toQueue, pending{row, j, false})
			continue
		}
		toQueue = append(toQueue, pending{row, j, true})
		params = append(params, store.TransitionParams{
			ID: j.id, To: store.StatusQueued, IfRecoverable: true, Now: now, AuditLevel: j.audit,
		})
	}
	var applied []bool
	var err error
	if len(params) > 0 {
		err = e.retryStore(ctx, func() error {
			var err error
			applied, err = store.TransitionMany(ctx, e.store, params)
			return err
		})
	}
	w := 0 // index in params and applied
	for _, p := range toQueue {
		if !p.write {
			ready = append(ready, p)
			continue
		}
		w++
		switch {
		case err != nil:
			e.deliveries.end(p.job)
			e.recoveryFailed(ctx, p.row, err, stats)
		case applied[w-1]:
			ready = append(ready, p)
		default:
			e.deliveries.end(p.job)
			stats.skipped.Add(1)
		}
	}
	for i, p := range ready {
		select {
		case p.job.queue.ch <- p.job:
			stats.requeued.Add(1)
			e.recovered(ctx, p.row)
		case <-e.stopIntake:
			for _, rest := range ready[i:] {
				e.deliveries.end(rest.job) // they stay Queued for the next start
			}
			return
		}
	}
}

// recoveredJob builds the job of a recovered row and its due time. ok is
// false when the row was dealt with here: poisoned, or a series that has
// nothing left to run.
func (e *Engine) recoveredJob(ctx context.Context, row *store.Task, stats *recoveryStats) (j *job, due time.Time, ok bool) {
	k := e.kindByName(row.Kind)
	if k == nil {
		e.poison(ctx, row, fmt.Sprintf("no handler is registered for kind %q", row.Kind), stats)
		return nil, time.Time{}, false
	}
	value, err := k.decode(row.Payload)
	if err != nil {
		e.recoveryFailed(ctx, row, fmt.Errorf("decode payload: %w", err), stats)
		return nil, time.Time{}, false
	}
	j = &job{id: row.ID, kind: k, task: value, queue: e.queues[e.recoveryQueue(row)], audit: row.AuditLevel,
		meta: row.Metadata, readyAt: unixNano(row.DueAt())}
	due = row.ScheduledAt
	if row.Recurring {
		var end bool
		due, end, err = e.recoverSeries(j, row)
		if err != nil {
			// An unreadable schedule ends the series as Failed; it is never
			// demoted to a one-shot (bugs 12, 13).
			e.poison(ctx, row, err.Error(), stats)
			return nil, time.Time{}, false
		}
		if end {
			e.endSeries(ctx, row, store.StatusCompleted, "")
			stats.skipped.Add(1)
			return nil, time.Time{}, false
		}
	}
	return j, due, true
}

func (e *Engine) recovered(ctx context.Context, row *store.Task) {
	if row.RecoveryFailures > 0 {
		if err := e.clearRecoveryFailures(ctx, row.ID); err != nil {
			e.log.Warn("clear recovery failures", "task_id", row.ID, "err", err)
		}
	}
	e.emit(Event{Type: EventRecovered, TaskID: row.ID, Kind: row.Kind, Queue: row.Queue})
}

// recoveryFailed counts a failed re-dispatch; at the limit the row is
// poisoned, below it stays recoverable for the next start (bugs 14, 15).
func (e *Engine) recoveryFailed(ctx context.Context, row *store.Task, cause error, stats *recoveryStats) {
	n, err := e.incRecoveryFailures(ctx, row.ID)
	if err != nil {
		e.log.Warn("count recovery failure", "task_id", row.ID, "err", err)
	}
	if n >= e.cfg.MaxRecoveryFailures {
		e.poison(ctx, row, fmt.Sprintf("recovery failed %d times, last: %v", n, cause), stats)
		return
	}
	stats.transient.Add(1)
	e.log.Warn("recover task, will retry at the next start", "task_id", row.ID, "failures", n, "err", cause)
}

// poison ends a row that recovery cannot run as Failed with the reason.
func (e *Engine) poison(ctx context.Context, row *store.Task, reason string, stats *recoveryStats) {
	stats.poisoned.Add(1)
	e.log.Error("recovery gave up on task", "task_id", row.ID, "kind", row.Kind, "reason", reason)
	var applied bool
	if row.Recurring {
		applied = e.endSeries(ctx, row, store.StatusFailed, reason)
	} else {
		var err error
		applied, err = e.writer.transition(ctx, store.TransitionParams{
			ID: row.ID, To: store.StatusFailed, IfRecoverable: true, Now: e.now(),
			Error: "poisoned: " + reason, AuditLevel: row.AuditLevel,
		})
		if err != nil {
			e.log.Error("mark poisoned task failed", "task_id", row.ID, "err", err)
		}
	}
	if applied { // announced only by the write that made it (see Event)
		e.emit(Event{Type: EventPoisoned, TaskID: row.ID, Kind: row.Kind, Queue: row.Queue, Err: errors.New(reason)})
	}
}

// endSeries ends a recurring series and reports whether its write applied.
func (e *Engine) endSeries(ctx context.Context, row *store.Task, status store.Status, reason string) bool {
	if reason != "" {
		reason = "poisoned: " + reason
	}
	applied, err := store.EndSeries(ctx, e.store, store.EndSeriesParams{
		ID: row.ID, Status: status, Error: reason, Now: e.now(), AuditLevel: row.AuditLevel,
	})
	if err != nil {
		e.log.Error("end recurring series", "task_id", row.ID, "err", err)
	}
	return applied && err == nil
}
