package redisstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/evertask/evertask/store"
)

var (
	_ store.Cluster           = (*Store)(nil)
	_ store.ClaimingPersister = (*Store)(nil)
	_ store.Notifier          = (*Store)(nil)
)

// scriptNow reads the server's clock. It is a script so that it goes,
// like every step, to the node that owns the store's slot: the clock the
// lease scripts read.
var scriptNow = redis.NewScript(`return redis.call('TIME')`)

// Now returns the server's clock (TIME), the clock of every lease.
func (s *Store) Now(ctx context.Context) (time.Time, error) {
	if err := s.check(); err != nil {
		return time.Time{}, err
	}
	v, err := scriptNow.Run(ctx, s.rdb, s.routeKey).StringSlice()
	if err != nil {
		return time.Time{}, fmt.Errorf("store clock: %w", mapErr(err))
	}
	if len(v) != 2 {
		return time.Time{}, fmt.Errorf("store clock: TIME gave %v", v)
	}
	sec, err1 := strconv.ParseInt(v[0], 10, 64)
	us, err2 := strconv.ParseInt(v[1], 10, 64)
	if err1 != nil || err2 != nil {
		return time.Time{}, fmt.Errorf("store clock: TIME gave %v", v)
	}
	return time.Unix(sec, us*1000).UTC(), nil
}

// leaseMicros is a lease length in the scripts' unit, rounded up: a
// positive lease shorter than a microsecond must not end at the instant it
// starts.
func leaseMicros(d time.Duration) int64 {
	return int64((d + time.Microsecond - 1) / time.Microsecond)
}

// auditFlags is the status audit policy of one status and error text for
// each audit level, in level order, as the cluster scripts read it: the
// rows of one call may have different levels.
func auditFlags(st store.Status, errText string) string {
	var b strings.Builder
	for _, l := range store.AuditLevels {
		b.WriteString(boolField(store.StatusAuditRequired(l, st, errText)))
	}
	return b.String()
}

// Claim is one script (lua/claim.lua): it takes the head of the queue's
// due index up to the server's clock, the rows' status audits, their lease
// entries, and reads the claimed rows back, in one round trip. Redis runs
// one script at a time, so two claims never see the same row.
func (s *Store) Claim(ctx context.Context, p store.ClaimParams) (store.ClaimResult, error) {
	var res store.ClaimResult
	if err := s.check(); err != nil {
		return res, err
	}
	if err := p.Validate(); err != nil {
		return res, err
	}
	v, err := s.run(ctx, scriptClaim, p.Queue, p.Owner, p.Limit, leaseMicros(p.LeaseFor), micros(p.Now),
		auditFlags(store.StatusQueued, ""), auditFlags(store.StatusInProgress, "")).Slice()
	if err != nil {
		return res, fmt.Errorf("claim from %s: %w", p.Queue, mapErr(err))
	}
	if res.StoreNow, res.NextDue, res.Tasks, err = decodeClaim(v, p.Owner); err != nil {
		return res, fmt.Errorf("claim from %s: %w", p.Queue, err)
	}
	return res, nil
}

// decodeClaim reads the reply of claim.lua: the server's clock, a time
// (empty for none), the claimed rows' lease end, then the rows as HGETALL
// gave them before the claim, which the claim's fields are applied to here.
func decodeClaim(v []any, owner string) (now, next time.Time, rows []*store.Task, err error) {
	if len(v) < 3 {
		return now, next, nil, fmt.Errorf("short script reply %v", v)
	}
	a, _ := v[0].(string)
	b, _ := v[1].(string)
	c, _ := v[2].(string)
	if now, err = parseMicros(a); err != nil {
		return now, next, nil, err
	}
	if next, err = parseMicros(b); err != nil {
		return now, next, nil, err
	}
	lease, err := parseMicros(c)
	if err != nil {
		return now, next, nil, err
	}
	if rows, err = decodeRows(v[3:]); err != nil {
		return now, next, nil, err
	}
	for _, t := range rows {
		t.Status, t.Owner, t.LeaseUntil = store.StatusInProgress, owner, lease
	}
	return now, next, rows, nil
}

// decodeRows reads rows a script returned as HGETALL arrays.
func decodeRows(v []any) ([]*store.Task, error) {
	rows := make([]*store.Task, 0, len(v))
	for _, r := range v {
		flat, ok := r.([]any)
		if !ok {
			return nil, fmt.Errorf("bad row in script reply: %v", r)
		}
		t, err := decodeFlat(flat)
		if err != nil {
			return nil, err
		}
		rows = append(rows, t)
	}
	return rows, nil
}

// Renew is one script for every id (lua/renew.lua).
func (s *Store) Renew(ctx context.Context, p store.RenewParams) ([]uuid.UUID, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if len(p.IDs) == 0 {
		return nil, nil
	}
	args := make([]any, 0, 2+len(p.IDs))
	args = append(args, p.Owner, leaseMicros(p.LeaseFor))
	for _, id := range p.IDs {
		args = append(args, id.String())
	}
	v, err := s.run(ctx, scriptRenew, args...).StringSlice()
	if err != nil {
		return nil, fmt.Errorf("renew leases of %s: %w", p.Owner, mapErr(err))
	}
	lost := make([]uuid.UUID, 0, len(v))
	for _, x := range v {
		id, err := uuid.Parse(x)
		if err != nil {
			return nil, fmt.Errorf("renew leases of %s: bad id %q", p.Owner, x)
		}
		lost = append(lost, id)
	}
	return lost, nil
}

// rescueScanChunk is how many index entries one read of the candidate scan
// takes.
const rescueScanChunk = 1000

// Rescue is one script (lua/rescue.lua) over the lease index, where every
// InProgress row a lease-aware step wrote waits, scored by its lease's end:
// the expired ones are its head. Two kinds of rows are not found there, and
// the script reports when to look for them: InProgress rows written without
// a lease (by a process that does not use leases: their count is the
// InProgress sets' size less the lease index's), and the rows of
// params.Owners whose leases are still running. For those, Rescue reads
// the InProgress sets, or the lease index, outside any script (a read of
// every InProgress row, but only then) and hands what it found to a second
// run of the script, which checks each row again.
func (s *Store) Rescue(ctx context.Context, p store.RescueParams) ([]*store.Task, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	if err := p.Normalize(); err != nil {
		return nil, err
	}
	limit := p.Limit
	owners := slices.DeleteFunc(slices.Clone(p.Owners), func(o string) bool { return o == "" })
	rows, now, unleased, err := s.rescue(ctx, &p, limit, owners, nil)
	if err != nil || len(rows) >= limit || (unleased <= 0 && len(owners) == 0) {
		return rows, err
	}
	cands, err := s.rescueCandidates(ctx, now, unleased > 0, owners, limit-len(rows))
	if err != nil || len(cands) == 0 {
		return rows, err
	}
	more, _, _, err := s.rescue(ctx, &p, limit-len(rows), owners, cands)
	return append(rows, more...), err
}

func (s *Store) rescue(ctx context.Context, p *store.RescueParams, limit int, owners, cands []string) ([]*store.Task, time.Time, int64, error) {
	args := make([]any, 0, 7+len(owners)+len(cands))
	args = append(args, micros(p.Now), limit, p.MaxFailures, p.PoisonError,
		auditFlags(store.StatusQueued, ""), auditFlags(store.StatusFailed, p.PoisonError), len(owners))
	for _, o := range owners {
		args = append(args, o)
	}
	for _, c := range cands {
		args = append(args, c)
	}
	v, err := s.run(ctx, scriptRescue, args...).Slice()
	if err != nil {
		return nil, time.Time{}, 0, fmt.Errorf("rescue: %w", mapErr(err))
	}
	if len(v) < 2 {
		return nil, time.Time{}, 0, fmt.Errorf("rescue: short script reply %v", v)
	}
	a, _ := v[0].(string)
	now, err := parseMicros(a)
	if err != nil {
		return nil, now, 0, fmt.Errorf("rescue: %w", err)
	}
	unleased, _ := v[1].(int64)
	rows, err := decodeRows(v[2:])
	if err != nil {
		return nil, now, 0, fmt.Errorf("rescue: %w", err)
	}
	return rows, now, unleased, nil
}

// rescueCandidates finds up to want rows for Rescue outside its index: with
// unleased, InProgress rows whose lease is missing or over at now (the
// server's clock of the first run); with owners, rows those own.
func (s *Store) rescueCandidates(ctx context.Context, now time.Time, unleased bool, owners []string, want int) ([]string, error) {
	var cands []string
	seen := map[string]bool{}
	gone := map[string]bool{}
	for _, o := range owners {
		gone[o] = true
	}
	check := func(ms []string) error {
		pipe := s.rdb.Pipeline()
		cmds := make([]*redis.SliceCmd, len(ms))
		for i, m := range ms {
			cmds[i] = pipe.HMGet(ctx, s.taskKey(m[16:]), "s", "o", "lu")
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return mapErr(err)
		}
		for i, c := range cmds {
			v := c.Val()
			st, _ := v[0].(string)
			o, _ := v[1].(string)
			lu, _ := v[2].(string)
			id := ms[i][16:]
			if st != string(store.StatusInProgress) || seen[id] {
				continue
			}
			end, err := parseMicros(lu)
			if err != nil {
				return err
			}
			if gone[o] || (unleased && (o == "" || !end.After(now))) {
				seen[id] = true
				cands = append(cands, id)
			}
		}
		return nil
	}
	// The rows of gone owners are in the lease index, whatever their score;
	// ZSCAN returns every entry present for the whole scan, however the
	// scores of the others move meanwhile.
	if len(owners) > 0 {
		var cursor uint64
		for len(cands) < want {
			kv, next, err := s.rdb.ZScan(ctx, s.p+"lease", cursor, "", rescueScanChunk).Result()
			if err != nil {
				return nil, fmt.Errorf("rescue: %w", mapErr(err))
			}
			ms := make([]string, 0, len(kv)/2)
			for i := 0; i < len(kv); i += 2 {
				if len(kv[i]) == memberLen {
					ms = append(ms, kv[i])
				}
			}
			if err := check(ms); err != nil {
				return nil, fmt.Errorf("rescue: %w", err)
			}
			if cursor = next; cursor == 0 {
				break
			}
		}
	}
	if unleased {
		queues, err := s.queues(ctx)
		if err != nil {
			return nil, fmt.Errorf("rescue: %w", err)
		}
		for _, q := range queues {
			lo := "-"
			for len(cands) < want {
				ms, err := s.rdb.ZRangeByLex(ctx, s.p+"qs:"+string(store.StatusInProgress)+":"+q,
					&redis.ZRangeBy{Min: lo, Max: "+", Count: rescueScanChunk}).Result()
				if err != nil {
					return nil, fmt.Errorf("rescue: %w", mapErr(err))
				}
				if err := check(ms); err != nil {
					return nil, fmt.Errorf("rescue: %w", err)
				}
				if len(ms) < rescueScanChunk {
					break
				}
				lo = "(" + ms[len(ms)-1]
			}
		}
	}
	if len(cands) > want {
		cands = cands[:want]
	}
	return cands, nil
}

// liveConn is the liveness session of a node that joined through this
// store: a connection of its own, named after the node, that dies with the
// process. rid is the run id of the server it is open on.
type liveConn struct {
	conn *redis.Conn
	name string
	rid  string
}

// clientName is the connection name of a node's liveness session: readable
// (the node id, with what Redis does not allow in a name replaced), and
// unique to the (prefix, node id) pair through a hash of both, so two
// stores on one server never mistake each other's nodes.
func (s *Store) clientName(nodeID string) string {
	sum := sha256.Sum256([]byte(s.p + "\x00" + nodeID))
	id := []byte(nodeID)
	if len(id) > 64 {
		id = id[:64]
	}
	for i, c := range id {
		// Redis refuses names with bytes outside '!'..'~' (spaces,
		// newlines, non-ASCII).
		if c < '!' || c > '~' {
			id[i] = '_'
		}
	}
	return "evertask:" + string(id) + ":" + hex.EncodeToString(sum[:8])
}

// slotClient is the client of the server that owns the store's slot: the
// server whose connection list proves a node alive.
func (s *Store) slotClient(ctx context.Context) (*redis.Client, error) {
	switch c := s.rdb.(type) {
	case *redis.Client:
		return c, nil
	case *redis.ClusterClient:
		cl, err := c.MasterForKey(ctx, s.routeKey[0])
		if err != nil {
			return nil, mapErr(err)
		}
		return cl, nil
	}
	return nil, fmt.Errorf("%w: cluster liveness needs a *redis.Client or *redis.ClusterClient, not %T", store.ErrUnsupported, s.rdb)
}

// runID reads the server's run id, which changes when it restarts, from
// the reply of INFO server.
func runID(info string) (string, error) {
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "run_id:"); ok {
			return v, nil
		}
	}
	return "", errors.New("no run_id in INFO server")
}

// openLive opens a node's liveness session: a dedicated connection (one
// that goes back to no pool) named with CLIENT SETNAME.
func (s *Store) openLive(ctx context.Context, nodeID string) (*liveConn, error) {
	cl, err := s.slotClient(ctx)
	if err != nil {
		return nil, err
	}
	lc := &liveConn{conn: cl.EphemeralConn(), name: s.clientName(nodeID)}
	if err := lc.conn.ClientSetName(ctx, lc.name).Err(); err != nil {
		lc.conn.Close()
		return nil, mapErr(err)
	}
	info, err := lc.conn.Info(ctx, "server").Result()
	if err == nil {
		lc.rid, err = runID(info)
	}
	if err != nil {
		lc.conn.Close()
		return nil, mapErr(err)
	}
	return lc, nil
}

// JoinCluster registers the node in a hash (P node:<id>) and the set of
// node ids (P nodes), with its heartbeat at the server's clock. The node's
// first call through this store opens its liveness session (see Nodes);
// every later call checks that the session still has its name, which also
// keeps it from idling, and opens a new one when the connection was lost.
// So the heartbeat must come more often than the server's client timeout
// (0, never, by default).
func (s *Store) JoinCluster(ctx context.Context, node store.Node) error {
	if err := s.check(); err != nil {
		return err
	}
	if err := node.Validate(); err != nil {
		return err
	}
	qs, err := json.Marshal(node.Queues)
	if err != nil {
		return fmt.Errorf("%w: queues of node %s: %w", store.ErrInvalid, node.ID, err)
	}
	s.liveMu.Lock()
	defer s.liveMu.Unlock()
	if err := s.check(); err != nil {
		return err // closed while this call waited
	}
	lc := s.live[node.ID]
	if lc != nil {
		name, err := lc.conn.ClientGetName(ctx).Result()
		if err != nil && ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil || name != lc.name {
			lc.conn.Close()
			delete(s.live, node.ID)
			lc = nil
		}
	}
	if lc == nil {
		if lc, err = s.openLive(ctx, node.ID); err != nil {
			return fmt.Errorf("join node %s: %w", node.ID, err)
		}
		s.live[node.ID] = lc
	}
	err = s.run(ctx, scriptJoin, node.ID, node.Host, node.PID, micros(node.StartedAt), string(qs), lc.rid).Err()
	if err != nil {
		return fmt.Errorf("join node %s: %w", node.ID, mapErr(err))
	}
	return nil
}

// LeaveCluster removes the node's registration and closes its liveness
// session.
func (s *Store) LeaveCluster(ctx context.Context, nodeID string) error {
	if err := s.check(); err != nil {
		return err
	}
	s.liveMu.Lock()
	if lc := s.live[nodeID]; lc != nil {
		lc.conn.Close()
		delete(s.live, nodeID)
	}
	s.liveMu.Unlock()
	_, err := s.rdb.TxPipelined(ctx, func(pipe redis.Pipeliner) error {
		pipe.Del(ctx, s.p+"node:"+nodeID)
		pipe.SRem(ctx, s.p+"nodes", nodeID)
		return nil
	})
	if err != nil {
		return fmt.Errorf("leave node %s: %w", nodeID, mapErr(err))
	}
	return nil
}

func (s *Store) closeLive() {
	s.liveMu.Lock()
	defer s.liveMu.Unlock()
	for id, lc := range s.live {
		lc.conn.Close()
		delete(s.live, id)
	}
}

// Nodes reads the registry and the server's connection list (CLIENT LIST)
// at once. A node is Gone when no connection carries its session's name on
// the server its session was opened on (same run id): its process ended,
// or at least its session did, which only a network failure also does. A
// node registered under another run id (the server restarted, or failed
// over, since its last join) is not proven gone: its next join opens a new
// session.
func (s *Store) Nodes(ctx context.Context) ([]store.Node, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	ids, err := s.rdb.SMembers(ctx, s.p+"nodes").Result()
	if err != nil {
		return nil, fmt.Errorf("nodes: %w", mapErr(err))
	}
	if len(ids) == 0 {
		return nil, nil
	}
	cl, err := s.slotClient(ctx)
	if err != nil {
		return nil, fmt.Errorf("nodes: %w", err)
	}
	pipe := cl.Pipeline()
	cmds := make([]*redis.MapStringStringCmd, len(ids))
	for i, id := range ids {
		cmds[i] = pipe.HGetAll(ctx, s.p+"node:"+id)
	}
	list := pipe.Do(ctx, "CLIENT", "LIST", "TYPE", "normal")
	info := pipe.Info(ctx, "server")
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("nodes: %w", mapErr(err))
	}
	text, err := list.Text()
	if err != nil {
		return nil, fmt.Errorf("nodes: %w", mapErr(err))
	}
	named := map[string]bool{}
	for _, line := range strings.Split(text, "\n") {
		for _, f := range strings.Fields(line) {
			if name, ok := strings.CutPrefix(f, "name="); ok && name != "" {
				named[name] = true
			}
		}
	}
	rid, err := runID(info.Val())
	if err != nil {
		return nil, fmt.Errorf("nodes: %w", err)
	}
	nodes := make([]store.Node, 0, len(ids))
	for i, c := range cmds {
		h := c.Val()
		if len(h) == 0 {
			continue // left between the two reads
		}
		n := store.Node{ID: ids[i], Host: h["host"]}
		if n.PID, err = strconv.Atoi(h["pid"]); err != nil && h["pid"] != "" {
			return nil, fmt.Errorf("nodes: node %s: bad pid %q", n.ID, h["pid"])
		}
		if n.StartedAt, err = parseMicros(h["st"]); err != nil {
			return nil, fmt.Errorf("nodes: node %s: %w", n.ID, err)
		}
		if n.LastHeartbeat, err = parseMicros(h["hb"]); err != nil {
			return nil, fmt.Errorf("nodes: node %s: %w", n.ID, err)
		}
		if err := json.Unmarshal([]byte(h["qs"]), &n.Queues); err != nil && h["qs"] != "" {
			return nil, fmt.Errorf("nodes: node %s: bad queues %q: %w", n.ID, h["qs"], err)
		}
		n.Gone = h["rid"] == rid && !named[s.clientName(n.ID)]
		nodes = append(nodes, n)
	}
	slices.SortFunc(nodes, func(a, b store.Node) int {
		if c := a.StartedAt.Compare(b.StartedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return nodes, nil
}

// noticeBuffer is how many notices a subscriber may leave unread before
// later ones are dropped.
const noticeBuffer = 256

func (s *Store) noticeChannel() string { return s.p + "notices" }

// Publish sends the notices as one JSON array in one PUBLISH on the
// store's channel (P notices).
func (s *Store) Publish(ctx context.Context, notices []store.Notice) error {
	if err := s.check(); err != nil {
		return err
	}
	if len(notices) == 0 {
		return nil
	}
	b, err := json.Marshal(notices)
	if err != nil {
		return fmt.Errorf("publish notices: %w", err)
	}
	if err := s.rdb.Publish(ctx, s.noticeChannel(), b).Err(); err != nil {
		return fmt.Errorf("publish notices: %w", mapErr(err))
	}
	return nil
}

// Subscribe subscribes to the store's channel and returns once the server
// confirmed it. go-redis reconnects a dropped subscription by itself
// (notices published meanwhile are lost, which the contract allows). The
// channel closes when ctx ends or the store is closed.
func (s *Store) Subscribe(ctx context.Context) (<-chan store.Notice, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	ps := s.rdb.Subscribe(ctx, s.noticeChannel())
	if _, err := ps.Receive(ctx); err != nil {
		ps.Close()
		return nil, fmt.Errorf("subscribe to notices: %w", mapErr(err))
	}
	in := ps.Channel()
	out := make(chan store.Notice, noticeBuffer)
	go func() {
		defer close(out)
		defer ps.Close()
		for {
			select {
			case <-ctx.Done():
				return
			case <-s.done:
				return
			case m, ok := <-in:
				if !ok {
					return
				}
				var ns []store.Notice
				if json.Unmarshal([]byte(m.Payload), &ns) != nil {
					continue // not ours: the channel is public
				}
				for _, n := range ns {
					select {
					case out <- n:
					default: // a slow reader loses notices, never blocks the others
					}
				}
			}
		}
	}()
	return out, nil
}

// PersistClaimed implements store.ClaimingPersister: persist.lua writes the
// rows already InProgress under the lease (the server's TIME) with their
// audits, all or none, in one script.
func (s *Store) PersistClaimed(ctx context.Context, p store.PersistClaimedParams) error {
	if err := s.check(); err != nil {
		return err
	}
	if err := p.Validate(); err != nil {
		return err
	}
	return s.persist(ctx, p.Tasks, &p)
}
