package evertask

import (
	"context"
	"fmt"

	"github.com/google/uuid"

	"github.com/evertask/evertask/store"
)

// Cancel stops a task: a running handler's context is cancelled, a queued
// or timed occurrence will not run, and a recurring series stops for good
// (it stays Cancelled across restarts). A one-shot task that already
// Completed or Failed is left as it is and Cancel returns ErrTaskFinished (a
// deliberate change from the original, which overwrote results). Cancelling
// an unknown id returns ErrNotFound; cancelling a cancelled task is a no-op.
func (e *Engine) Cancel(ctx context.Context, id uuid.UUID) error {
	// Memory first, store last: a racing enqueue cannot slip a Queued write
	// in after the Cancelled one (bug 38). The store's compare-and-set then
	// decides for everything this process does not hold.
	e.deliveries.markCancelled(id)
	e.unschedule(id)

	t, err := e.store.Get(ctx, id)
	if err != nil {
		return fmt.Errorf("cancel task %s: %w", id, err)
	}
	from := []store.Status{
		store.StatusWaitingQueue, store.StatusQueued, store.StatusPending,
		store.StatusInProgress, store.StatusServiceStopped,
	}
	if t.Recurring {
		from = append(from, store.StatusCompleted, store.StatusFailed)
	}
	switch {
	case t.Status == store.StatusCancelled:
		// Already cancelled, by an earlier Cancel or by the outcome of the
		// handler this call stopped: whichever wrote it announced it.
		return nil
	case !t.Recurring && (t.Status == store.StatusCompleted || t.Status == store.StatusFailed):
		return fmt.Errorf("cancel task %s: %w (%s)", id, ErrTaskFinished, t.Status)
	}
	applied, err := e.writer.transition(ctx, store.TransitionParams{
		ID: id, To: store.StatusCancelled, From: from, Now: e.now(),
		// The original wrote user cancels at ErrorsOnly; we keep the task's
		// own level so a Full audit shows who stopped it.
		AuditLevel: t.AuditLevel,
	})
	if err != nil {
		return fmt.Errorf("cancel task %s: %w", id, err)
	}
	if !applied {
		// It finished between the read and the write, or its stopped
		// handler's outcome wrote Cancelled first: that write made the
		// transition and announced it (see Event).
		cur, err := e.store.Get(ctx, id)
		if err == nil && cur.Status == store.StatusCancelled {
			return nil
		}
		return fmt.Errorf("cancel task %s: %w", id, ErrTaskFinished)
	}
	// A claim of this node made before the write may begin its delivery
	// only now: flagged again, and remembered for such a late one.
	e.deliveries.cancelledInStore(id, e.now())
	if e.node != nil {
		// It may run on another node: tell that node to stop it.
		e.node.cancelled(id)
	}
	// This write made the transition: its event is this call's to send.
	e.emit(Event{Type: EventCancelled, TaskID: id, Kind: t.Kind, Queue: t.Queue})
	return nil
}
