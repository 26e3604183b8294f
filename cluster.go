package evertask

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/evertask/evertask/store"
)

// node is the engine's side of cluster mode, used when the store implements
// store.Cluster: the store is the shared queue, and this engine is one of
// any number of nodes on it. Its stages, each one goroutine with the
// lifecycle of the node:
//
//   - a fetcher per queue claims due rows when the queue has free workers
//     (fetcher.go);
//   - the lease keeper renews the leases of the tasks this node holds, in
//     one store call per interval, refreshes the node's heartbeat, and stops
//     the tasks whose lease was lost (to a cancel or a take-over);
//   - the rescuer re-queues the rows of expired leases and of nodes proven
//     gone, counted by the recovery poison counter (at start on every
//     node, then on one node at a time: the rescue leader);
//   - the listener wakes fetchers and stops cancelled tasks on the notices
//     of other nodes, when the store has a notifier.
//
// Shutdown order: stop (fetchers, rescuer, listener) as intake stops; the
// workers finish; then the keeper stops (running handlers keep their leases
// through the grace period); last, the tasks claimed but never started are
// released and the node leaves the registry.
type node struct {
	e        *Engine
	st       store.Cluster
	notifier store.Notifier // nil: the store has none, nodes poll
	cfg      ClusterConfig
	info     store.Node

	fetchers map[string]*fetcher

	stop      chan struct{} // closed when Shutdown begins
	ctx       context.Context
	cancel    context.CancelFunc // ends the stages' store calls at Shutdown
	stages    sync.WaitGroup
	keeperEnd chan struct{} // closed after the workers finished
	keeperWG  sync.WaitGroup

	pub publisher
	// peers counts the other live nodes at the last look at the registry
	// (peersAt, unix nanoseconds): a node alone publishes no notices (nobody
	// would read them but itself) and prefetches more.
	peers   atomic.Int32
	peersAt atomic.Int64
}

// countPeers reads the registry for the number of other live nodes.
func (n *node) countPeers(nodes []store.Node) {
	peers := 0
	for _, nd := range nodes {
		if nd.ID != n.info.ID && !nd.Gone {
			peers++
		}
	}
	n.peers.Store(int32(peers))
	n.peersAt.Store(n.e.now().UnixNano())
}

// alone reports whether this node has no peers. Without a notifier no join
// notice tells it of a new peer, so before a claim larger than a shared
// one it reads the registry again if its last look is older than
// peersFresh.
func (n *node) alone(ctx context.Context) bool {
	if n.peers.Load() > 0 {
		return false
	}
	if n.notifier == nil && n.e.now().UnixNano()-n.peersAt.Load() > int64(peersFresh) {
		if nodes, err := n.st.Nodes(ctx); err == nil {
			n.countPeers(nodes)
		}
	}
	return n.peers.Load() == 0
}

// peersFresh is how old a registry read may be before a node without a
// notifier reads it again ahead of a large claim.
const peersFresh = 100 * time.Millisecond

func newNode(e *Engine, st store.Cluster) *node {
	n := &node{e: e, st: st, cfg: e.cfg.Cluster, stop: make(chan struct{}), keeperEnd: make(chan struct{})}
	n.notifier, _ = e.store.(store.Notifier)
	n.ctx, n.cancel = context.WithCancel(context.Background())
	n.pub.n = n
	if n.cfg.NodeID == "" {
		n.cfg.NodeID = defaultNodeID()
	}
	host, _ := os.Hostname()
	queues := map[string]int{}
	n.fetchers = map[string]*fetcher{}
	for name, q := range e.queues {
		queues[name] = q.cfg.Workers
		f := &fetcher{n: n, q: q, wake: make(chan struct{}, 1)}
		switch p := n.cfg.Prefetch; {
		case p > 0:
			f.alone, f.shared = q.cfg.Workers+p, q.cfg.Workers+p
		case p < 0:
			f.alone, f.shared = q.cfg.Workers, q.cfg.Workers
		default:
			f.alone, f.shared = q.cfg.Workers+q.cfg.Capacity, 2*q.cfg.Workers
		}
		n.fetchers[name] = f
		q.fetch = n.fetchers[name]
	}
	n.info = store.Node{ID: n.cfg.NodeID, Host: host, PID: os.Getpid(), StartedAt: store.NormalizeTime(e.now()), Queues: queues}
	return n
}

// defaultNodeID is host-pid-random: unique per start, readable in the
// registry.
func defaultNodeID() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "node"
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b[:]))
}

// join registers the node; start starts the stages. The first rescue runs
// before the fetchers claim anything, so a lone process restarted after a
// crash takes back its previous run's tasks at once: that run's liveness
// session died with it, which proves it gone.
func (n *node) join(ctx context.Context) error {
	if err := n.st.JoinCluster(ctx, n.info); err != nil {
		return fmt.Errorf("join the cluster as %s: %w", n.info.ID, err)
	}
	return nil
}

func (n *node) start() {
	if n.notifier != nil {
		lctx, cancel := context.WithCancel(n.ctx)
		notices, err := n.notifier.Subscribe(lctx)
		if err != nil {
			cancel()
			n.e.log.Warn("subscribe to cluster notices; polling only", "err", err)
		} else {
			n.stages.Add(1)
			go n.listen(notices, cancel)
			n.pub.add(store.Notice{Kind: store.NoticeJoin, Node: n.info.ID})
		}
	}
	// The first rescue runs before any claim: the previous run's tasks go
	// back to the queue at once, and the fetchers know whether this node
	// has peers (how much they prefetch).
	n.rescue(true)
	n.stages.Add(1)
	go n.rescueLoop()
	for _, f := range n.fetchers {
		n.stages.Add(1)
		go f.run()
	}
	n.keeperWG.Add(1)
	go n.keep()
}

// halt stops the stages that take new work; the keeper goes on.
func (n *node) halt() {
	close(n.stop)
	n.cancel()
	n.stages.Wait()
}

// leave runs once the workers finished: it stops the keeper, releases the
// claimed tasks nobody started, and leaves the registry.
func (n *node) leave() {
	close(n.keeperEnd)
	n.keeperWG.Wait()
	for _, q := range n.e.queues {
		for {
			select {
			case j := <-q.ch:
				n.release(j)
				n.e.deliveries.end(j)
				continue
			default:
			}
			break
		}
	}
	n.pub.flush()
	if err := n.st.LeaveCluster(context.Background(), n.info.ID); err != nil {
		n.e.log.Warn("leave the cluster", "node", n.info.ID, "err", err)
	}
}

// release gives a claimed task back to the store (Queued) so another node
// may take it at once rather than after its lease expired.
func (n *node) release(j *job) {
	if !n.e.deliveries.leased(j) {
		return
	}
	_, err := n.e.writer.transition(context.Background(), store.TransitionParams{
		ID: j.id, To: store.StatusQueued, From: fromInProgress, HeldBy: n.info.ID,
		Now: n.e.now(), AuditLevel: j.audit,
	})
	if err != nil {
		n.e.log.Warn("release claimed task; it is taken over when its lease expires", "task_id", j.id, "err", err)
	}
}

// releaseAbandoned gives back a row the dispatch fast path wrote claimed
// after its caller had stopped waiting (see writer.enableClaims): nothing
// runs it here, so it goes back to Queued at once, fenced on this node's
// lease, and a fetcher (of any node) takes it; else it would wait out its
// lease and count a recovery failure. The caller was told the dispatch
// failed, as when a plain persist lands after its caller left; the task
// exists and runs. The writer must not block, so the release runs on a
// goroutine that Shutdown waits for; a write that lands after Shutdown
// stopped waiting is given back on the writer's goroutine, and the other
// nodes find it at their next poll.
func (e *Engine) releaseAbandoned(t *store.Task) {
	e.mu.RLock()
	late := e.releasesClosed
	if !late {
		e.releases.Add(1)
	}
	e.mu.RUnlock()
	release := func() {
		ctx, cancel := context.WithTimeout(context.Background(), e.node.cfg.LeaseDuration)
		defer cancel()
		ok, err := e.store.Transition(ctx, store.TransitionParams{
			ID: t.ID, To: store.StatusQueued, From: fromInProgress, HeldBy: e.node.info.ID,
			Now: e.now(), AuditLevel: t.AuditLevel,
		})
		switch {
		case errors.Is(err, store.ErrNotFound):
			// The write did not land after all (see groupCommit.abandoned).
		case err != nil:
			e.log.Warn("give back a task claimed for a dispatch whose caller left; it is taken over when its lease expires", "task_id", t.ID, "err", err)
		case ok && !late:
			e.node.due(t.Queue, time.Time{})
		}
	}
	if late {
		release()
		return
	}
	go func() {
		defer e.releases.Done()
		release()
	}()
}

// keep is the lease keeper: every RenewInterval one Renew call for every
// task this node holds, and a heartbeat. A lease is counted from the start
// of the call that last renewed it, so the node gives a task up before the
// store's lease can have run out, whatever the call's latency; when the
// store cannot be reached for a whole lease, the node stops those tasks
// itself (their writes would be refused anyway).
func (n *node) keep() {
	defer n.keeperWG.Done()
	t := time.NewTicker(n.cfg.RenewInterval)
	defer t.Stop()
	for {
		select {
		case <-n.keeperEnd:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), n.cfg.LeaseDuration/2)
		n.renew(ctx)
		if err := n.st.JoinCluster(ctx, n.info); err != nil {
			n.e.storeErr("heartbeat", err)
			n.e.log.Warn("cluster heartbeat", "node", n.info.ID, "err", err)
		}
		cancel()
	}
}

// renewAge is how old a lease may get before the keeper renews it when the
// node has a notifier: a third of the lease, or less when the renewal
// interval is long, so that a lease is always renewed before it reaches
// startableLease (a lease skipped at one tick is at most renewAge +
// RenewInterval old at the next).
func (n *node) renewAge() time.Duration {
	return max(min(n.cfg.LeaseDuration/3, n.cfg.LeaseDuration-2*n.cfg.RenewInterval), 0)
}

// startableLease is the oldest a lease may be for a handler to start on
// it: the keeper's next tick, at most RenewInterval away, must find it
// still held (the keeper gives a lease up once it is LeaseDuration old).
func (n *node) startableLease() time.Duration {
	return n.cfg.LeaseDuration - n.cfg.RenewInterval
}

func (n *node) renew(ctx context.Context) {
	e := n.e
	began := e.now()
	// With a notifier, cancels arrive as notices, so a lease is renewed
	// once a third of it is gone: with a deep prefetch, renewing every
	// lease at every tick doubled the writes of a PostgreSQL burn. Without
	// one, the renewal is how a cancel from another node is learnt, so
	// every lease is renewed at every tick.
	renewBefore := began
	if n.notifier != nil {
		renewBefore = began.Add(-n.renewAge())
	}
	held, expired := e.deliveries.leases(began.Add(-n.cfg.LeaseDuration), renewBefore)
	for _, j := range expired {
		if e.deliveries.markLost(j) {
			e.log.Warn("lease not renewed in time; stopping the task", "task_id", j.id)
		}
	}
	if len(held) == 0 {
		return
	}
	ids := make([]uuid.UUID, len(held))
	for i, j := range held {
		ids[i] = j.id
	}
	lost, err := n.st.Renew(ctx, store.RenewParams{Owner: n.info.ID, IDs: ids, LeaseFor: n.cfg.LeaseDuration})
	if err != nil {
		e.storeErr("renew", err)
		e.log.Warn("renew leases", "tasks", len(ids), "err", err)
		return
	}
	e.deliveries.renewed(ids, lost, began)
	if len(lost) == 0 {
		return
	}
	gone := make(map[uuid.UUID]bool, len(lost))
	for _, id := range lost {
		gone[id] = true
	}
	for _, j := range held {
		if gone[j.id] {
			n.lostLease(ctx, j)
		}
	}
}

// lostLease stops the delivery j whose lease the store no longer grants: a
// cancel from another node (the task ends Cancelled, as a local cancel
// would) or a take-over (nothing is recorded: the row is another node's
// now). A delivery that ended or is writing its outcome meanwhile is left
// alone: its own write released the lease, or its fence decides.
func (n *node) lostLease(ctx context.Context, j *job) {
	if !n.e.deliveries.current(j) {
		return
	}
	row, err := n.e.store.Get(ctx, j.id)
	if err == nil && row.Status == store.StatusCancelled {
		n.e.deliveries.markCancelled(j.id)
		return
	}
	if n.e.deliveries.markLost(j) {
		n.e.log.Warn("lease lost; stopping the task without recording it", "task_id", j.id)
	}
}

// rescueLoop runs the rescuer at start and every PollInterval.
func (n *node) rescueLoop() {
	defer n.stages.Done()
	t := time.NewTicker(n.cfg.PollInterval)
	defer t.Stop()
	for {
		select {
		case <-n.stop:
			return
		case <-t.C:
		}
		n.rescue(false)
	}
}

// rescueBatch bounds one Rescue call.
const rescueBatch = 500

// rescue re-queues what nobody holds: expired leases, and every row of the
// nodes proven gone, which then leave the registry. Any node may run it;
// the store's atomic step makes that safe. At start a node always does; on
// its polls, only the rescue leader does (see leads), unless a node is
// proven gone: finding expired leases reads every running row (on
// PostgreSQL, every open row), which every node repeating every poll
// multiplied by the number of nodes.
func (n *node) rescue(always bool) {
	e := n.e
	ctx, cancel := context.WithTimeout(n.ctx, max(n.cfg.LeaseDuration, 5*time.Second))
	defer cancel()
	var gone []string
	nodes, err := n.st.Nodes(ctx)
	var now time.Time
	if err == nil {
		now, err = n.st.Now(ctx)
	}
	if err != nil {
		e.log.Warn("read the nodes registry", "err", err)
	}
	for _, nd := range nodes {
		if nd.ID != n.info.ID && nd.Gone && now.Sub(nd.LastHeartbeat) > 2*n.cfg.RenewInterval {
			// Its liveness session died and it missed a heartbeat since: a
			// live node whose session merely dropped (a killed backend, a
			// blip) takes a new one on its next beat and is left alone.
			gone = append(gone, nd.ID)
		}
	}
	if err == nil {
		n.countPeers(nodes)
		if !always && len(gone) == 0 && !n.leads(nodes, now) {
			return
		}
	}
	for {
		rows, err := n.st.Rescue(ctx, store.RescueParams{
			Owners: gone, Limit: rescueBatch, MaxFailures: e.cfg.MaxRecoveryFailures, Now: e.now(),
			PoisonError: fmt.Sprintf("poisoned: its node stopped while running it %d times", e.cfg.MaxRecoveryFailures),
		})
		if err != nil {
			if !errors.Is(err, context.Canceled) {
				e.storeErr("rescue", err)
				e.log.Warn("rescue expired leases", "err", err)
			}
			return
		}
		for _, row := range rows {
			if row.Status == store.StatusFailed {
				e.log.Error("task taken over too often; poisoned", "task_id", row.ID, "kind", row.Kind)
				e.emit(Event{Type: EventPoisoned, TaskID: row.ID, Kind: row.Kind, Queue: row.Queue, Err: errors.New(row.Error)})
				continue
			}
			// EventRecovered is the claim's to send, on the node that picks
			// the task up (runClaimed): sent here too, a take-over would be
			// announced twice.
			e.log.Info("task taken over from a lost node", "task_id", row.ID, "kind", row.Kind, "takeovers", row.RecoveryFailures)
			if f := e.cfg.Observer.TakeOver; f != nil {
				f(row.ID, row.Kind, row.Queue)
			}
			n.due(row.Queue, time.Time{})
		}
		if len(rows) < rescueBatch {
			break
		}
	}
	for _, id := range gone {
		if err := n.st.LeaveCluster(ctx, id); err != nil {
			e.log.Warn("remove a gone node from the registry", "node", id, "err", err)
		}
	}
}

// leads reports whether this node is the rescue leader: no other node with
// a smaller id is live, that is, its liveness session holds (not Gone) and
// it beat within 2 × RenewInterval of now, the store's clock. Every node
// decides from its own read of the registry, so two may lead for a moment
// (a rescue by two is safe), and a leader that stops is replaced as soon
// as it is proven gone, or once it missed its heartbeats for 2 ×
// RenewInterval, far less than the lease the rows it rescues must outlive.
func (n *node) leads(nodes []store.Node, now time.Time) bool {
	for _, nd := range nodes {
		if nd.ID < n.info.ID && !nd.Gone && now.Sub(nd.LastHeartbeat) <= 2*n.cfg.RenewInterval {
			return false
		}
	}
	return true
}

// due says that rows of queue are due at at (zero: now): this node's
// fetcher looks again, and the other nodes are told.
func (n *node) due(queue string, at time.Time) {
	if f := n.fetchers[queue]; f != nil {
		f.poke()
	}
	if n.notifier != nil && n.peers.Load() > 0 {
		n.pub.add(store.Notice{Kind: store.NoticeDue, Queue: queue, At: store.NormalizeTime(at)})
	}
}

// cancelled tells the other nodes to stop a task.
func (n *node) cancelled(id uuid.UUID) {
	if n.notifier != nil && n.peers.Load() > 0 {
		n.pub.add(store.Notice{Kind: store.NoticeCancel, ID: id})
	}
}

// listen acts on the notices of every node (its own included, which cost
// a poke at most).
func (n *node) listen(notices <-chan store.Notice, cancel context.CancelFunc) {
	defer n.stages.Done()
	defer cancel()
	for {
		select {
		case <-n.stop:
			return
		case nt, ok := <-notices:
			if !ok {
				return
			}
			switch nt.Kind {
			case store.NoticeDue:
				if f := n.fetchers[nt.Queue]; f != nil {
					f.poke()
				}
			case store.NoticeCancel:
				n.e.deliveries.markCancelled(nt.ID)
			case store.NoticePause:
				n.e.pokePauses()
			case store.NoticeJoin:
				// The rescuer's next read of the registry has the count.
				if nt.Node != n.info.ID && n.peers.Load() == 0 {
					n.peers.Store(1)
				}
			}
		}
	}
}

// publisher sends notices with at most one Publish call in flight: the
// notices that arrive meanwhile go together in the next call, and due
// notices of one queue are merged, so a burst of dispatches costs a few
// calls, not one per task.
type publisher struct {
	n       *node
	mu      sync.Mutex
	pending []store.Notice
	busy    bool
	idle    sync.Cond
}

func (p *publisher) add(nt store.Notice) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if nt.Kind == store.NoticeDue {
		for i, old := range p.pending {
			if old.Kind == store.NoticeDue && old.Queue == nt.Queue {
				if nt.At.IsZero() || (!old.At.IsZero() && nt.At.Before(old.At)) {
					p.pending[i].At = nt.At
				}
				return
			}
		}
	}
	p.pending = append(p.pending, nt)
	if !p.busy {
		p.busy = true
		go p.send()
	}
}

func (p *publisher) send() {
	for {
		p.mu.Lock()
		batch := p.pending
		p.pending = nil
		if len(batch) == 0 {
			p.busy = false
			if p.idle.L != nil {
				p.idle.Broadcast()
			}
			p.mu.Unlock()
			return
		}
		p.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := p.n.notifier.Publish(ctx, batch); err != nil {
			p.n.e.log.Warn("publish cluster notices; nodes find the work by polling", "notices", len(batch), "err", err)
		}
		cancel()
	}
}

// flush waits until every notice added so far was sent.
func (p *publisher) flush() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.idle.L == nil {
		p.idle.L = &p.mu
	}
	for p.busy {
		p.idle.Wait()
	}
}
