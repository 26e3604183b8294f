package evertask

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/evertask/evertask/store"
)

// applyKeyRules decides what a keyed dispatch does with the task that holds
// its key (reference section 2). It runs under the key's lock. done means the
// dispatch is over and id is its answer; otherwise d is to be persisted as a
// new row.
func (e *Engine) applyKeyRules(ctx context.Context, d *dispatch) (id uuid.UUID, done bool, err error) {
	old, err := e.store.GetByKey(ctx, d.row.Key)
	if errors.Is(err, store.ErrNotFound) {
		return uuid.Nil, false, nil
	}
	if err != nil {
		return uuid.Nil, false, fmt.Errorf("look up task key: %w", err)
	}
	newRecurring := d.row.Recurring
	finished := old.Status == store.StatusCompleted || old.Status == store.StatusFailed
	if !old.Recurring && finished && e.deliveries.inFlight(old.ID) {
		// Its outcome is written and its delivery is ending (the outcome and
		// its logs are the delivery's last store steps): wait for that rather
		// than take the task for one in flight, so a dispatch made as soon
		// as the row reads finished replaces it. (A Cancelled row may still
		// have its handler running: that one stays in flight.)
		wctx, cancel := context.WithTimeout(ctx, time.Second)
		e.deliveries.waitEnd(wctx, old.ID)
		cancel()
	}
	switch {
	case e.deliveries.inFlight(old.ID) && !newRecurring:
		// In a queue or running here: the delivery in flight stands.
		e.log.Warn("task key is in flight, dispatch ignored", "key", d.row.Key, "task_id", old.ID)
		return old.ID, true, nil
	case old.Recurring && !newRecurring:
		// A series is never turned into a one-shot (bug 57).
		return old.ID, true, nil
	case old.Status == store.StatusInProgress:
		e.log.Warn("task key is running, dispatch ignored (a self-redispatch needs another key)",
			"key", d.row.Key, "task_id", old.ID)
		return old.ID, true, nil
	case old.Recurring:
		return e.updateSeries(ctx, old, d)
	}
	switch old.Status {
	case store.StatusWaitingQueue, store.StatusQueued, store.StatusPending:
		// Not started yet: the new definition replaces the old in place.
		d.row.ID, d.job.id = old.ID, old.ID
		d.row.CreatedAt = old.CreatedAt
		if err := e.store.UpdateDefinition(ctx, &d.row); err != nil {
			return uuid.Nil, true, fmt.Errorf("update task %s: %w", old.ID, err)
		}
		e.unschedule(old.ID) // the stale occurrence must not fire
		d.job.persistedQueued = old.Status == store.StatusQueued
		if !d.due.IsZero() && old.Status == store.StatusQueued {
			// A parked row must wait for its time: back to WaitingQueue.
			e.revertToWaiting(d.job)
		}
		if err := e.deliver(ctx, d); err != nil {
			// Keep the row recoverable at its time (bug 58).
			return old.ID, true, err
		}
		return old.ID, true, nil
	default:
		// Finished: the old row and its history make way for a new task.
		if err := e.store.Remove(ctx, old.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
			return uuid.Nil, true, fmt.Errorf("replace finished task %s: %w", old.ID, err)
		}
		return uuid.Nil, false, nil
	}
}
