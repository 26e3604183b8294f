package evertask

import (
	"context"
	"log/slog"
	"time"

	"github.com/google/uuid"

	"github.com/evertask/evertask/store"
)

// leaseStore is what the lease keeper calls of the store.
type leaseStore interface {
	Renew(ctx context.Context, params store.RenewParams) (lost []uuid.UUID, err error)
	JoinCluster(ctx context.Context, node store.Node) error
	Get(ctx context.Context, id uuid.UUID) (*store.Task, error)
}

// keeperDeps is everything the lease keeper reaches.
type keeperDeps struct {
	st   leaseStore
	info store.Node // this node, as its heartbeat registers it
	cfg  ClusterConfig
	// notices: the store has a notifier, so cancels from other nodes
	// arrive as notices, not only as lost leases (see renew).
	notices    bool
	deliveries *deliveries
	now        func() time.Time
	log        *slog.Logger
	storeErr   func(op string, err error)
}

// keeper is the lease keeper: every RenewInterval one Renew call for every
// task this node holds, and a heartbeat. A lease is counted from the start
// of the call that last renewed it, so the node gives a task up before the
// store's lease can have run out, whatever the call's latency; when the
// store cannot be reached for a whole lease, the node stops those tasks
// itself (their writes would be refused anyway).
//
// Its store calls run under their own timeout, not the context halt ends:
// a renewal in flight when the keeper stops finishes.
type keeper struct {
	keeperDeps
	loop
}

func (k *keeper) start() { k.run(k.keep) }

func (k *keeper) keep(stop context.Context) {
	t := time.NewTicker(k.cfg.RenewInterval)
	defer t.Stop()
	for {
		select {
		case <-stop.Done():
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), k.cfg.renewTimeout())
		// No beat after a failed renewal: a fresh heartbeat tells the
		// rescue leader that the node's leases are renewed (see
		// rescuer.sweepDue); a stale one makes it look for expired leases
		// at every poll until that node's leases have run out.
		if k.renew(ctx) {
			if err := k.st.JoinCluster(ctx, k.info); err != nil {
				k.storeErr("heartbeat", err)
				k.log.Warn("cluster heartbeat", "node", k.info.ID, "err", err)
			}
		}
		cancel()
	}
}

// renewTimeout bounds one round of the keeper, its renewal and the
// heartbeat after it: the rescue leader's watch of a stale node
// (rescuer.staleWatch) counts on it.
func (c ClusterConfig) renewTimeout() time.Duration { return c.LeaseDuration / 2 }

// renewAge is how old a lease may get before the keeper renews it when the
// node has a notifier: a third of the lease, or less when the renewal
// interval is long, so that a lease is always renewed before it reaches
// node.startableLease (a lease skipped at one tick is at most renewAge +
// RenewInterval old at the next).
func (k *keeper) renewAge() time.Duration {
	return max(min(k.cfg.LeaseDuration/3, k.cfg.LeaseDuration-2*k.cfg.RenewInterval), 0)
}

// renew renews the leases that need it; false when the store refused the
// call.
func (k *keeper) renew(ctx context.Context) bool {
	began := k.now()
	// With a notifier, cancels arrive as notices, so a lease is renewed
	// once a third of it is gone: with a deep prefetch, renewing every
	// lease at every tick doubled the writes of a PostgreSQL burn. Without
	// one, the renewal is how a cancel from another node is learnt, so
	// every lease is renewed at every tick.
	renewBefore := began
	if k.notices {
		renewBefore = began.Add(-k.renewAge())
	}
	held, expired := k.deliveries.leases(began.Add(-k.cfg.LeaseDuration), renewBefore)
	for _, j := range expired {
		if k.deliveries.markLost(j) {
			k.log.Warn("lease not renewed in time; stopping the task", "task_id", j.id)
		}
	}
	if len(held) == 0 {
		return true
	}
	ids := make([]uuid.UUID, len(held))
	for i, j := range held {
		ids[i] = j.id
	}
	lost, err := k.st.Renew(ctx, store.RenewParams{Owner: k.info.ID, IDs: ids, LeaseFor: k.cfg.LeaseDuration})
	if err != nil {
		k.storeErr("renew", err)
		k.log.Warn("renew leases", "tasks", len(ids), "err", err)
		return false
	}
	k.deliveries.renewed(ids, lost, began)
	if len(lost) == 0 {
		return true
	}
	gone := make(map[uuid.UUID]bool, len(lost))
	for _, id := range lost {
		gone[id] = true
	}
	for _, j := range held {
		if gone[j.id] {
			k.lostLease(ctx, j)
		}
	}
	return true
}

// lostLease stops the delivery j whose lease the store no longer grants: a
// cancel from another node (the task ends Cancelled, as a local cancel
// would) or a take-over (nothing is recorded: the row is another node's
// now). A delivery that ended or is writing its outcome meanwhile is left
// alone: its own write released the lease, or its fence decides.
func (k *keeper) lostLease(ctx context.Context, j *job) {
	if !k.deliveries.current(j) {
		return
	}
	row, err := k.st.Get(ctx, j.id)
	if err == nil && row.Status == store.StatusCancelled {
		k.deliveries.markCancelled(j.id)
		return
	}
	if k.deliveries.markLost(j) {
		k.log.Warn("lease lost; stopping the task without recording it", "task_id", j.id)
	}
}
