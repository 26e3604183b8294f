package inspect

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/google/uuid"

	"github.com/evertask/evertask/store"
)

// Config tunes an Inspector. A nil *Config means the defaults.
type Config struct {
	// Now is the clock written to audits and compared with due times.
	// Default time.Now.
	Now func() time.Time
	// Logger receives the warnings of notices that could not be sent (the
	// nodes then act at their next poll). Default: discarded.
	Logger *slog.Logger
}

// Inspector reads and acts on the tasks, queues and nodes of a store. It is
// safe for concurrent use and holds nothing but the store: create one per
// store and keep it.
type Inspector struct {
	st       store.Store
	notifier store.Notifier // nil: the store has none
	now      func() time.Time
	log      *slog.Logger
}

// New returns an Inspector over st.
func New(st store.Store, cfg *Config) *Inspector {
	in := &Inspector{st: st, now: time.Now, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if cfg != nil && cfg.Now != nil {
		in.now = cfg.Now
	}
	if cfg != nil && cfg.Logger != nil {
		in.log = cfg.Logger
	}
	in.notifier, _ = st.(store.Notifier)
	return in
}

// Store returns the inspector's store.
func (in *Inspector) Store() store.Store { return in.st }

// List returns one page of tasks (see store.Store.List).
func (in *Inspector) List(ctx context.Context, f store.Filter) (store.Page, error) {
	page, err := in.st.List(ctx, f)
	if err != nil {
		return store.Page{}, fmt.Errorf("list tasks: %w", err)
	}
	return page, nil
}

// Get returns the task with the id, or ErrNotFound.
func (in *Inspector) Get(ctx context.Context, id uuid.UUID) (*store.Task, error) {
	t, err := in.st.Get(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("get task %s: %w", id, err)
	}
	return t, nil
}

// cancellable are the statuses a cancel moves to Cancelled; a series also
// from Completed and Failed, between its occurrences.
var cancellable = []store.Status{
	store.StatusWaitingQueue, store.StatusQueued, store.StatusPending,
	store.StatusInProgress, store.StatusServiceStopped,
}

// Cancel stops a task wherever it is: a waiting or scheduled task will not
// run, a recurring series stops for good, and a running handler is
// cancelled by the node running it (at once on the store's notice, else at
// that node's next lease renewal). Cancelling a cancelled task is a no-op;
// a one-shot task that already Completed or Failed is left as it is
// (ErrStatus), as is a series that ended.
func (in *Inspector) Cancel(ctx context.Context, id uuid.UUID) error {
	t, err := in.st.Get(ctx, id)
	if err != nil {
		return fmt.Errorf("cancel task %s: %w", id, err)
	}
	if t.Status == store.StatusCancelled {
		return nil
	}
	from := cancellable
	if t.Recurring && !t.NextRunAt.IsZero() {
		from = append(append([]store.Status(nil), cancellable...), store.StatusCompleted, store.StatusFailed)
	}
	if !contains(from, t.Status) {
		return fmt.Errorf("cancel task %s: %w: it already ended %s", id, ErrStatus, t.Status)
	}
	applied, err := in.st.Transition(ctx, store.TransitionParams{
		ID: id, To: store.StatusCancelled, From: from, Now: in.now(), AuditLevel: t.AuditLevel,
	})
	if err != nil {
		return fmt.Errorf("cancel task %s: %w", id, err)
	}
	if !applied {
		// It moved between the read and the write: finished, or cancelled
		// by someone else.
		cur, err := in.st.Get(ctx, id)
		if err == nil && cur.Status == store.StatusCancelled {
			return nil
		}
		if err == nil {
			return fmt.Errorf("cancel task %s: %w: it ended %s meanwhile", id, ErrStatus, cur.Status)
		}
		return fmt.Errorf("cancel task %s: %w", id, err)
	}
	in.notify(ctx, store.Notice{Kind: store.NoticeCancel, ID: id})
	return nil
}

// Retry runs a Failed or Cancelled one-shot task again, now: the row goes
// back to Queued (a status audit at the task's level says so; its history
// and its last error are kept until the new run writes its outcome) and
// whichever node has a free worker claims it. A recurring series is not
// retried (ErrStatus): RunNow runs its next occurrence.
func (in *Inspector) Retry(ctx context.Context, id uuid.UUID) error {
	t, err := in.st.Get(ctx, id)
	if err != nil {
		return fmt.Errorf("retry task %s: %w", id, err)
	}
	if t.Recurring {
		return fmt.Errorf("retry task %s: %w: a recurring series is not retried (run it now instead)", id, ErrStatus)
	}
	from := []store.Status{store.StatusFailed, store.StatusCancelled}
	if !contains(from, t.Status) {
		return fmt.Errorf("retry task %s: %w: only Failed or Cancelled tasks are retried, it is %s", id, ErrStatus, t.Status)
	}
	now := in.now()
	applied, err := in.st.Transition(ctx, store.TransitionParams{
		ID: id, To: store.StatusQueued, From: from, Now: now, AuditLevel: t.AuditLevel,
	})
	if err != nil {
		return fmt.Errorf("retry task %s: %w", id, err)
	}
	if !applied {
		return fmt.Errorf("retry task %s: %w: it changed meanwhile (retried by someone else?)", id, ErrStatus)
	}
	if t.ScheduledAt.After(now) {
		// Cancelled before its time: due now, as asked.
		if err := in.dueNow(ctx, id, now); err != nil {
			return fmt.Errorf("retry task %s: %w", id, err)
		}
	}
	in.notify(ctx, store.Notice{Kind: store.NoticeDue, Queue: t.Queue})
	return nil
}

// RunNow runs a task that waits for its time now: a delayed or scheduled
// task, or the next occurrence of a recurring series (the series then goes
// on with its schedule after this run). A task that is due already is only
// announced to the nodes. A running task (ErrStatus: it runs already) and a
// task that will not run again (cancelled, finished, an ended series) are
// left as they are.
func (in *Inspector) RunNow(ctx context.Context, id uuid.UUID) error {
	t, err := in.st.Get(ctx, id)
	if err != nil {
		return fmt.Errorf("run task %s now: %w", id, err)
	}
	now := in.now()
	switch {
	case t.Status == store.StatusInProgress:
		return fmt.Errorf("run task %s now: %w: it is running", id, ErrStatus)
	case !t.Claimable(now):
		return fmt.Errorf("run task %s now: %w: it will not run again (%s)", id, ErrStatus, t.Status)
	}
	if t.DueAt().After(now) || (t.Recurring && t.NextRunAt.IsZero()) {
		if err := in.dueNow(ctx, id, now); err != nil {
			return fmt.Errorf("run task %s now: %w", id, err)
		}
	}
	if t.Status != store.StatusQueued {
		// Through Queued, as a timed occurrence goes when it fires, so the
		// status history shows when it was made due.
		applied, err := in.st.Transition(ctx, store.TransitionParams{
			ID: id, To: store.StatusQueued, From: []store.Status{t.Status}, IfRecoverable: true,
			Now: now, AuditLevel: t.AuditLevel,
		})
		if err != nil {
			return fmt.Errorf("run task %s now: %w", id, err)
		}
		if !applied {
			// It moved since the read: once it was made due, a node may
			// have claimed it, and even run it, before this write. Only a
			// cancel meanwhile means it will not run.
			cur, err := in.st.Get(ctx, id)
			if err != nil {
				return fmt.Errorf("run task %s now: %w", id, err)
			}
			if cur.Status == store.StatusCancelled {
				return fmt.Errorf("run task %s now: %w: it was cancelled meanwhile", id, ErrStatus)
			}
		}
	}
	in.notify(ctx, store.Notice{Kind: store.NoticeDue, Queue: t.Queue})
	return nil
}

// dueNow makes a row due at now: its next occurrence for a series, its
// scheduled time otherwise. It rewrites the definition read just before, so
// it reads the row again to lose nothing a re-registration wrote meanwhile.
func (in *Inspector) dueNow(ctx context.Context, id uuid.UUID, now time.Time) error {
	t, err := in.st.Get(ctx, id)
	if err != nil {
		return err
	}
	if t.Recurring {
		t.NextRunAt = now
	} else {
		t.ScheduledAt = now
	}
	return in.st.UpdateDefinition(ctx, t)
}

// Delete removes a finished task with its history (audits, attempts,
// logs): a one-shot task that Completed, Failed or was Cancelled, or a
// series that ended or was cancelled. A task that may still run is left
// (ErrStatus): cancel it first.
func (in *Inspector) Delete(ctx context.Context, id uuid.UUID) error {
	t, err := in.st.Get(ctx, id)
	if err != nil {
		return fmt.Errorf("delete task %s: %w", id, err)
	}
	if !t.Status.Terminal() || t.Recoverable(in.now()) {
		return fmt.Errorf("delete task %s: %w: it may still run (%s); cancel it first", id, ErrStatus, t.Status)
	}
	if err := in.st.Remove(ctx, id); err != nil {
		return fmt.Errorf("delete task %s: %w", id, err)
	}
	return nil
}

// Purge deletes the history the policy says is old (see
// store.RetentionPolicy); a zero policy.Now is the inspector's clock.
// ErrUnsupported when the store has no store.Retainer.
func (in *Inspector) Purge(ctx context.Context, policy store.RetentionPolicy) (store.PurgeResult, error) {
	if policy.Now.IsZero() {
		policy.Now = in.now()
	}
	res, err := store.Purge(ctx, in.st, policy)
	if err != nil {
		return res, fmt.Errorf("purge: %w", err)
	}
	return res, nil
}

// Nodes lists the engines registered on the store (see store.Cluster.Nodes).
// ErrUnsupported when the store has no store.Cluster.
func (in *Inspector) Nodes(ctx context.Context) ([]store.Node, error) {
	cs, ok := in.st.(store.Cluster)
	if !ok {
		return nil, fmt.Errorf("list nodes: %w", ErrUnsupported)
	}
	nodes, err := cs.Nodes(ctx)
	if err != nil {
		return nil, fmt.Errorf("list nodes: %w", err)
	}
	return nodes, nil
}

// notify sends a notice when the store has a notifier. A notice is a hint:
// when it is lost the nodes act at their next poll, so a failure is only
// logged.
func (in *Inspector) notify(ctx context.Context, n store.Notice) {
	if in.notifier == nil {
		return
	}
	if err := in.notifier.Publish(ctx, []store.Notice{n}); err != nil {
		in.log.Warn("publish notice; the nodes act at their next poll", "kind", n.Kind, "err", err)
	}
}

func contains(list []store.Status, s store.Status) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
