package evertask

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/evertask/evertask/store"
)

// node is the engine's side of cluster mode, used when the store implements
// store.Cluster: the store is the shared queue, and this engine is one of
// any number of nodes on it. It holds the node's identity, its count of
// peers and its stages, each one goroutine with its own lifecycle and
// dependencies (stage.go):
//
//   - the listener (notices.go) wakes fetchers and stops cancelled tasks on
//     the notices of other nodes, when the store has a notifier;
//   - the rescuer (rescuer.go) re-queues the rows of expired leases and of
//     nodes proven gone, counted by the recovery poison counter (at start
//     on every node, then on one node at a time: the rescue leader);
//   - a fetcher per queue (fetcher.go) claims due rows when the queue has
//     free workers, and hands them to the queue (claims);
//   - the lease keeper (keeper.go) renews the leases of the tasks this node
//     holds, in one store call per interval, refreshes the node's
//     heartbeat, and stops the tasks whose lease was lost (to a cancel or a
//     take-over).
//
// Start order: join the registry; the intake stages in the order above
// (the listener subscribes, the rescuer's first rescue runs before any
// fetcher claims); then the keeper. Shutdown order: the intake stages stop
// together as intake stops; the workers finish; then the keeper stops
// (running handlers keep their leases through the grace period); last,
// leave releases the tasks claimed but never started and leaves the
// registry.
type node struct {
	st   store.Cluster
	cfg  ClusterConfig
	info store.Node
	log  *slog.Logger

	peers  peers
	pub    *publisher // nil: the store has no notifier, nodes poll
	claims *claims

	fetchers map[string]*fetcher
	// intake are the stages that take new work, in start order; upkeep
	// the lease keeper, which outlives the workers.
	intake []stage
	upkeep []stage
}

// clusterStore is the engine's store with its cluster capability, from
// which each stage takes the narrow interface it calls.
type clusterStore struct {
	store.Store
	store.Cluster
}

// newNode builds the node and its stages, each with what it needs of e;
// none keeps e.
func newNode(e *Engine, cs store.Cluster) *node {
	st := clusterStore{e.store, cs}
	n := &node{st: cs, cfg: e.cfg.Cluster, log: e.log}
	if n.cfg.NodeID == "" {
		n.cfg.NodeID = defaultNodeID()
	}
	host, _ := os.Hostname()
	queues := map[string]int{}
	for name, q := range e.queues {
		queues[name] = q.cfg.Workers
	}
	// A claim older than its lease never starts: cancels need not outlive it.
	e.deliveries.cancelsFor = n.cfg.LeaseDuration
	n.info = store.Node{ID: n.cfg.NodeID, Host: host, PID: os.Getpid(), StartedAt: store.NormalizeTime(e.now()), Queues: queues}
	self := n.info.ID

	notifier, _ := e.store.(store.Notifier)
	n.peers = peers{self: self, now: e.now, nodes: cs.Nodes, noJoinNotices: notifier == nil}
	if notifier != nil {
		n.pub = &publisher{notifier: notifier, log: e.log}
	}
	n.claims = &claims{
		st: st, self: self, startedAt: n.info.StartedAt, leaseFor: n.cfg.LeaseDuration,
		transition: e.writer.transition, kind: e.kindByName, endSeries: e.endSeries, emit: e.emit,
		due: n.due, deliveries: &e.deliveries, stopIntake: e.stopIntake, now: e.now, log: e.log,
		releases: &e.releases,
	}
	if notifier != nil {
		n.intake = append(n.intake, &listener{listenerDeps: listenerDeps{
			notifier: notifier, self: self, pub: n.pub, peers: &n.peers,
			poke: n.poke, stopTask: func(id uuid.UUID) { e.deliveries.cancelledInStore(id, e.now()) }, pokePauses: e.pokePauses, log: e.log,
		}})
	}
	n.intake = append(n.intake, &rescuer{rescuerDeps: rescuerDeps{
		st: st, self: self, cfg: n.cfg, maxFailures: e.cfg.MaxRecoveryFailures, peers: &n.peers,
		now: e.now, log: e.log, storeErr: e.storeErr, emit: e.emit, takeOver: e.cfg.Observer.TakeOver, due: n.due,
	}})
	fd := &fetcherDeps{st: st, self: self, cfg: n.cfg, peers: &n.peers, claims: n.claims, now: e.now, log: e.log, storeErr: e.storeErr}
	n.fetchers = map[string]*fetcher{}
	for name, q := range e.queues {
		f := newFetcher(fd, q)
		n.fetchers[name] = f
		q.fetch = f
		n.intake = append(n.intake, f)
	}
	n.upkeep = []stage{&keeper{keeperDeps: keeperDeps{
		st: st, info: n.info, cfg: n.cfg, notices: notifier != nil, deliveries: &e.deliveries,
		now: e.now, log: e.log, storeErr: e.storeErr,
	}}}
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

// join registers the node, before any stage starts.
func (n *node) join(ctx context.Context) error {
	if err := n.st.JoinCluster(ctx, n.info); err != nil {
		return fmt.Errorf("join the cluster as %s: %w", n.info.ID, err)
	}
	return nil
}

// leave runs once the workers finished and the keeper stopped: it releases
// the claimed tasks nobody started, and leaves the registry.
func (n *node) leave() {
	for _, f := range n.fetchers {
		for {
			select {
			case j := <-f.q.ch:
				n.claims.drop(j)
				continue
			default:
			}
			break
		}
	}
	if n.pub != nil {
		n.pub.flush()
	}
	if err := n.st.LeaveCluster(context.Background(), n.info.ID); err != nil {
		n.log.Warn("leave the cluster", "node", n.info.ID, "err", err)
	}
}

// release gives a claimed task back to the store (see claims.release).
func (n *node) release(j *job) { n.claims.release(j) }

// startableLease is the oldest a lease may be for a handler to start on
// it: the keeper's next tick, at most RenewInterval away, must find it
// still held (the keeper gives a lease up once it is LeaseDuration old).
func (n *node) startableLease() time.Duration {
	return n.cfg.LeaseDuration - n.cfg.RenewInterval
}

// poke wakes the fetcher of queue, if this node runs the queue.
func (n *node) poke(queue string) {
	if f := n.fetchers[queue]; f != nil {
		f.poke()
	}
}

// due says that rows of queue are due at at (zero: now): this node's
// fetcher looks again, and the other nodes are told.
func (n *node) due(queue string, at time.Time) {
	n.poke(queue)
	if n.pub != nil && n.peers.any() {
		n.pub.add(store.Notice{Kind: store.NoticeDue, Queue: queue, At: store.NormalizeTime(at)})
	}
}

// cancelled tells the other nodes to stop a task.
func (n *node) cancelled(id uuid.UUID) {
	if n.pub != nil && n.peers.any() {
		n.pub.add(store.Notice{Kind: store.NoticeCancel, ID: id})
	}
}

// peers counts the other live nodes at the last look at the registry (at,
// unix nanoseconds): a node alone publishes no notices (nobody would read
// them but itself) and prefetches more.
type peers struct {
	self  string
	now   func() time.Time
	nodes func(ctx context.Context) ([]store.Node, error)
	// noJoinNotices: the store has no notifier, so no join notice tells
	// this node of a new peer (see alone).
	noJoinNotices bool

	n  atomic.Int32
	at atomic.Int64
}

func (p *peers) any() bool { return p.n.Load() > 0 }

// count records the number of other live nodes in a read of the registry.
func (p *peers) count(nodes []store.Node) {
	peers := 0
	for _, nd := range nodes {
		if nd.ID != p.self && !nd.Gone {
			peers++
		}
	}
	p.n.Store(int32(peers))
	p.at.Store(p.now().UnixNano())
}

// joined records a join notice of another node; the rescuer's next read of
// the registry has the count.
func (p *peers) joined() {
	if p.n.Load() == 0 {
		p.n.Store(1)
	}
}

// alone reports whether this node has no peers. Without a notifier no join
// notice tells it of a new peer, so before a claim larger than a shared
// one it reads the registry again if its last look is older than
// peersFresh.
func (p *peers) alone(ctx context.Context) bool {
	if p.n.Load() > 0 {
		return false
	}
	if p.noJoinNotices && p.now().UnixNano()-p.at.Load() > int64(peersFresh) {
		if nodes, err := p.nodes(ctx); err == nil {
			p.count(nodes)
		}
	}
	return p.n.Load() == 0
}

// peersFresh is how old a registry read may be before a node without a
// notifier reads it again ahead of a large claim.
const peersFresh = 100 * time.Millisecond
