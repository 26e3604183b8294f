package evertask

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"

	"github.com/evertask/evertask/store"
)

// rescueStore is what the rescuer calls of the store.
type rescueStore interface {
	Nodes(ctx context.Context) ([]store.Node, error)
	Now(ctx context.Context) (time.Time, error)
	Rescue(ctx context.Context, params store.RescueParams) ([]*store.Task, error)
	LeaveCluster(ctx context.Context, nodeID string) error
}

// rescuerDeps is everything the rescuer reaches.
type rescuerDeps struct {
	st          rescueStore
	self        string // this node's id
	cfg         ClusterConfig
	maxFailures int // Config.MaxRecoveryFailures
	peers       *peers
	now         func() time.Time
	log         *slog.Logger
	storeErr    func(op string, err error)
	emit        func(Event)
	takeOver    func(taskID uuid.UUID, kind, queue string) // Observer.TakeOver; nil: none
	due         func(queue string, at time.Time)           // node.due
}

// rescuer re-queues the rows nobody holds any more: those of expired
// leases and of nodes proven gone, counted by the recovery poison counter.
// Every PollInterval it reads the registry (which also gives the peer
// count). The rescue leader (see leads) then looks for expired leases when
// one can have run out (see sweepDue); any node rescues the rows of a node
// it finds proven gone.
type rescuer struct {
	rescuerDeps
	loop
	// swept is when (the store's clock) this node last looked for expired
	// leases; zero before its first look. Only the rescuer's goroutine (and
	// start, before it runs) touches it.
	swept time.Time
}

// start runs the first rescue before it returns: the node's fetchers start
// after it, so a lone process restarted after a crash takes back its
// previous run's tasks before claiming anything (that run's liveness
// session died with it, which proves it gone, and a lone node leads), and
// the fetchers know whether this node has peers (how much they prefetch).
// A node that joins live peers and finds none gone leaves the expired
// leases to their leader: on PostgreSQL that look reads every open row (at
// 4 nodes starting on a backlog of 100,000, each start's look took about
// 0.1 s in pg_stat_statements).
func (r *rescuer) start() {
	r.rescue(r.context())
	r.run(r.rescueLoop)
}

func (r *rescuer) rescueLoop(ctx context.Context) {
	t := time.NewTicker(r.cfg.PollInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		r.rescue(ctx)
	}
}

// rescueBatch bounds one Rescue call.
const rescueBatch = 500

// rescue re-queues what nobody holds: expired leases, and every row of the
// nodes proven gone, which then leave the registry. Any node may run it;
// the store's atomic step makes that safe. Only the rescue leader does
// (see leads), and only when a lease can have run out (see sweepDue),
// unless a node is proven gone (or the registry cannot be read): finding
// expired leases reads every running row (on PostgreSQL, every open row),
// which every node repeating every poll multiplied by the number of nodes.
func (r *rescuer) rescue(parent context.Context) {
	ctx, cancel := context.WithTimeout(parent, max(r.cfg.LeaseDuration, 5*time.Second))
	defer cancel()
	var gone []string
	nodes, err := r.st.Nodes(ctx)
	var now time.Time
	if err == nil {
		now, err = r.st.Now(ctx)
	}
	if err != nil {
		r.log.Warn("read the nodes registry", "err", err)
	}
	for _, nd := range nodes {
		if nd.ID != r.self && nd.Gone && now.Sub(nd.LastHeartbeat) > 2*r.cfg.RenewInterval {
			// Its liveness session died and it missed a heartbeat since: a
			// live node whose session merely dropped (a killed backend, a
			// blip) takes a new one on its next beat and is left alone.
			gone = append(gone, nd.ID)
		}
	}
	if err == nil {
		r.peers.count(nodes)
		if len(gone) == 0 && !(r.leads(nodes, now) && r.sweepDue(nodes, now)) {
			return
		}
	}
	for {
		rows, err := r.st.Rescue(ctx, store.RescueParams{
			Owners: gone, Limit: rescueBatch, MaxFailures: r.maxFailures, Now: r.now(),
			PoisonError: fmt.Sprintf("poisoned: its node stopped while running it %d times", r.maxFailures),
		})
		if err != nil {
			if !errors.Is(err, context.Canceled) {
				r.storeErr("rescue", err)
				r.log.Warn("rescue expired leases", "err", err)
			}
			return
		}
		for _, row := range rows {
			if row.Status == store.StatusFailed {
				r.log.Error("task taken over too often; poisoned", "task_id", row.ID, "kind", row.Kind)
				r.emit(Event{Type: EventPoisoned, TaskID: row.ID, Kind: row.Kind, Queue: row.Queue, Err: errors.New(row.Error)})
				continue
			}
			// EventRecovered is the claim's to send, on the node that picks
			// the task up (claims.run): sent here too, a take-over would be
			// announced twice.
			r.log.Info("task taken over from a lost node", "task_id", row.ID, "kind", row.Kind, "takeovers", row.RecoveryFailures)
			if r.takeOver != nil {
				r.takeOver(row.ID, row.Kind, row.Queue)
			}
			r.due(row.Queue, time.Time{})
		}
		if len(rows) < rescueBatch {
			break
		}
	}
	if !now.IsZero() {
		r.swept = now
	}
	for _, id := range gone {
		if err := r.st.LeaveCluster(ctx, id); err != nil {
			r.log.Warn("remove a gone node from the registry", "node", id, "err", err)
		}
	}
}

// sweepDue reports whether the leader should look for expired leases now,
// the store's clock: at its first look, every LeaseDuration, and at every
// poll while any node of the registry (this one too) is stale, its
// heartbeat older than 2 × RenewInterval, until staleWatch after that
// heartbeat. A node beats only after its renewal succeeded (keeper.keep),
// so a lease a node renews cannot run out before that node is stale: a node
// that dies unproven, is paused or is cut off from the store goes stale
// first, and its leases are found within LeaseDuration + PollInterval of
// its last renewal. What a live node holds without renewing it (a row it
// claimed whose payload does not decode, the rows of a claim whose reply
// was lost, a row without a lease) is found by the look every
// LeaseDuration, at most two leases after it was claimed.
// On PostgreSQL a look reads every open row: with 1,000,000 tasks waiting
// one took 0.26 s of the server's time, once a second when the leader
// looked at every poll.
func (r *rescuer) sweepDue(nodes []store.Node, now time.Time) bool {
	if r.swept.IsZero() || now.Sub(r.swept) >= r.cfg.LeaseDuration {
		return true
	}
	for _, nd := range nodes {
		if age := now.Sub(nd.LastHeartbeat); age > 2*r.cfg.RenewInterval && age <= r.staleWatch() {
			return true
		}
	}
	return false
}

// staleWatch is how long after a stale node's last heartbeat the leader
// keeps looking at every poll: until every lease the node can have taken
// before it stopped has run out, and one poll more. Its next renewal was
// due at most a RenewInterval after that heartbeat and takes at most
// renewTimeout (LeaseDuration/2) before the next beat, so what it renewed
// or claimed before stopping ran out within 1.5 × LeaseDuration +
// RenewInterval of the heartbeat. A node stale for longer (paused for good,
// cut off by a partition its PostgreSQL session outlives) holds no lease of
// before: watching it at every poll found nothing more, and cost a look a
// poll for as long as it stayed in the registry. A row it claimed while its
// renewals kept failing is left to the look every LeaseDuration.
func (r *rescuer) staleWatch() time.Duration {
	return r.cfg.LeaseDuration + r.cfg.renewTimeout() + r.cfg.RenewInterval + r.cfg.PollInterval
}

// leads reports whether this node is the rescue leader: no other node with
// a smaller id is live, that is, its liveness session holds (not Gone) and
// it beat within 2 × RenewInterval of now, the store's clock. Every node
// decides from its own read of the registry, so two may lead for a moment
// (a rescue by two is safe), and a leader that stops is replaced as soon
// as it is proven gone, or once it missed its heartbeats for 2 ×
// RenewInterval, far less than the lease the rows it rescues must outlive.
func (r *rescuer) leads(nodes []store.Node, now time.Time) bool {
	for _, nd := range nodes {
		if nd.ID < r.self && !nd.Gone && now.Sub(nd.LastHeartbeat) <= 2*r.cfg.RenewInterval {
			return false
		}
	}
	return true
}
