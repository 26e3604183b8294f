package mysqlstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/evertask/evertask/store"
)

// The statements of store.Cluster, templates as in sql.go. Every lease time
// is the server's clock (storeClock).

// claimLimits is the rest of store.Task.Claimable beyond the ready column,
// at the time now: the run limit and RunUntil.
func claimLimits(now string) string {
	return `(max_runs <= 0 OR GREATEST(run_count, 0) < max_runs) AND (run_until IS NULL OR run_until >= ` + now + `)`
}

const (
	sqlNow = `SELECT ` + storeClock

	// The clock, whether any row of queue ? is due, and the due time of
	// the first claimable row that is not due yet: read before the claim,
	// whose rows are all due, so the claim cannot change the answer.
	sqlClaimProbe = `SELECT ` + storeClock + `,
	EXISTS (SELECT 1 FROM {tasks} WHERE ready = 1 AND queue = ? AND due_at <= ` + storeClock + ` AND {limitsClock}),
	(SELECT due_at FROM {tasks} WHERE ready = 1 AND queue = ? AND due_at > ` + storeClock + ` AND {limitsClock}
		ORDER BY due_at LIMIT 1)`

	// ? queue, clock, clock, limit. The due rows in due order, locked,
	// skipping rows another claimer holds.
	sqlClaim = `SELECT ` + taskColumns + ` FROM {tasks}
WHERE ready = 1 AND queue = ? AND due_at <= ? AND {limitsP}
ORDER BY due_at, created_at, id
LIMIT ?
FOR UPDATE SKIP LOCKED`

	// ? owner, clock, lease µs; the ids follow.
	sqlClaimed = `UPDATE {tasks} SET status = 'InProgress', owner = ?, lease_until = ? + INTERVAL ? MICROSECOND WHERE id IN `

	// ? lease µs, owner; the ids follow. The leases this owner still
	// holds, extended; the new end stays in @evertask_lease for sqlRenewed.
	sqlRenew = `UPDATE {tasks} SET lease_until = (@evertask_lease := ` + storeClock + ` + INTERVAL ? MICROSECOND)
WHERE status = 'InProgress' AND owner = ? AND lease_until > ` + storeClock + ` AND id IN `
	// ? owner; the ids follow. The rows the last sqlRenew of the session
	// renewed.
	sqlRenewed = `SELECT id FROM {tasks} WHERE status = 'InProgress' AND owner = ? AND lease_until = @evertask_lease AND id IN `

	// The running rows nobody holds any more, through status_idx, in
	// creation order; {owners} is empty or an OR over the nodes proven
	// gone. ? limit.
	sqlRescue = `SELECT ` + storeClock + `, ` + taskColumns + ` FROM {tasks}
WHERE status = 'InProgress' AND (owner = '' OR lease_until IS NULL OR lease_until <= ` + storeClock + `{owners})
ORDER BY created_at, id
LIMIT ?
FOR UPDATE SKIP LOCKED`

	sqlJoinCluster = `INSERT INTO {nodes} (id, host, pid, started_at, queues, last_heartbeat, lock_name)
VALUES (?, ?, ?, ?, ?, ` + storeClock + `, ?)
ON DUPLICATE KEY UPDATE host = VALUES(host), pid = VALUES(pid), started_at = VALUES(started_at),
	queues = VALUES(queues), last_heartbeat = VALUES(last_heartbeat), lock_name = VALUES(lock_name)`

	sqlLeaveCluster = `DELETE FROM {nodes} WHERE id = ?`

	// A node is gone when nobody holds its lock. The clock comes along for
	// the server's start time (see Nodes).
	sqlNodes = `SELECT id, host, pid, started_at, queues, last_heartbeat, IS_USED_LOCK(lock_name) IS NULL, ` + storeClock + `
FROM {nodes} ORDER BY started_at, id`
)

// clusterStatements holds the cluster statement texts of one Store.
type clusterStatements struct {
	now, claimProbe, claim, claimed, renew, renewed, rescue string
	joinCluster, leaveCluster, nodes                        string
}

func newClusterStatements(f func(string) string) clusterStatements {
	g := func(tmpl string) string {
		return f(replaceAll(tmpl, "{limitsClock}", claimLimits(storeClock), "{limitsP}", claimLimits("?")))
	}
	return clusterStatements{
		now: g(sqlNow), claimProbe: g(sqlClaimProbe), claim: g(sqlClaim), claimed: g(sqlClaimed),
		renew: g(sqlRenew), renewed: g(sqlRenewed), rescue: g(sqlRescue),
		joinCluster: g(sqlJoinCluster), leaveCluster: g(sqlLeaveCluster), nodes: g(sqlNodes),
	}
}

func replaceAll(s string, oldnew ...string) string {
	for i := 0; i+1 < len(oldnew); i += 2 {
		s = strings.ReplaceAll(s, oldnew[i], oldnew[i+1])
	}
	return s
}

// Now implements store.Cluster: the server's UTC clock.
func (s *Store) Now(ctx context.Context) (time.Time, error) {
	if err := s.check(); err != nil {
		return time.Time{}, err
	}
	var now time.Time
	if err := s.db.QueryRowContext(ctx, s.sql.cluster.now).Scan(timeDest{&now}); err != nil {
		return time.Time{}, fmt.Errorf("store clock: %w", mapErr(err))
	}
	return now, nil
}

// Claim implements store.Cluster: a probe (the clock, whether anything is
// due, the next due time), then, when something is due, one READ COMMITTED
// transaction that locks the due rows with FOR UPDATE SKIP LOCKED, moves
// them InProgress under the lease and writes their audits.
func (s *Store) Claim(ctx context.Context, p store.ClaimParams) (store.ClaimResult, error) {
	if err := s.check(); err != nil {
		return store.ClaimResult{}, err
	}
	if err := p.Validate(); err != nil {
		return store.ClaimResult{}, err
	}
	var (
		res store.ClaimResult
		due bool
	)
	err := s.db.QueryRowContext(ctx, s.sql.cluster.claimProbe, p.Queue, p.Queue).
		Scan(timeDest{&res.StoreNow}, &due, timeDest{&res.NextDue})
	if err != nil {
		return store.ClaimResult{}, fmt.Errorf("claim in queue %q: %w", p.Queue, mapErr(err))
	}
	if !due {
		return res, nil
	}
	clock := ts(res.StoreNow)
	leaseUS := max(micros(p.LeaseFor), 1)
	err = s.inTx(ctx, readCommitted, func(tx *sql.Tx) error {
		res.Tasks = res.Tasks[:0]
		rows, err := tx.QueryContext(ctx, s.sql.cluster.claim, p.Queue, clock, clock, p.Limit)
		if err != nil {
			return err
		}
		tasks, err := scanTasks(rows, p.Limit)
		if err != nil || len(tasks) == 0 {
			return err
		}
		e := &edit{}
		ids := make([]uuid.UUID, len(tasks))
		until := store.NormalizeTime(res.StoreNow.Add(time.Duration(leaseUS) * time.Microsecond))
		for i, t := range tasks {
			if t.Status != store.StatusQueued && store.StatusAuditRequired(t.AuditLevel, store.StatusQueued, "") {
				e.auditStatus(t.ID, p.Now, store.StatusQueued, "")
			}
			if store.StatusAuditRequired(t.AuditLevel, store.StatusInProgress, "") {
				e.auditStatus(t.ID, p.Now, store.StatusInProgress, "")
			}
			t.Status, t.Owner, t.LeaseUntil = store.StatusInProgress, p.Owner, until
			ids[i] = t.ID
		}
		// In primary key order and in lists under MariaDB's IN conversion
		// threshold, as every statement that locks rows (see lockBatch).
		ids = sortedUnique(ids)
		for start := 0; start < len(ids); start += lockBatch {
			part := ids[start:min(start+lockBatch, len(ids))]
			args := make([]any, 0, 3+len(part))
			args = append(args, p.Owner, clock, leaseUS)
			for _, id := range part {
				args = append(args, idArg(id))
			}
			if _, err := tx.ExecContext(ctx, s.sql.cluster.claimed+inList(len(part)), args...); err != nil {
				return err
			}
		}
		if err := s.write(ctx, tx, e); err != nil {
			return err
		}
		res.Tasks = tasks
		return nil
	})
	if err != nil {
		return store.ClaimResult{}, fmt.Errorf("claim in queue %q: %w", p.Queue, mapErr(err))
	}
	return res, nil
}

// Renew implements store.Cluster with one UPDATE per 500 leases, in
// primary key order, each its own short transaction: the leases renewed
// are those whose row matched, and the statement leaves the new lease end
// in a session variable. When every row of a statement matched (the usual
// case) that is the answer; otherwise a read on the same connection finds
// which rows carry the new lease end. (A row the owner finished between the
// two is reported lost: its work has stopped anyway.)
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
	ids := sortedUnique(p.IDs)
	held := make(map[uuid.UUID]bool, len(ids))
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("renew %d leases: %w", len(p.IDs), mapErr(err))
	}
	defer conn.Close()
	leaseUS := max(micros(p.LeaseFor), 1)
	for start := 0; start < len(ids); start += lockBatch {
		part := ids[start:min(start+lockBatch, len(ids))]
		args := make([]any, 0, len(part)+2)
		args = append(args, leaseUS, p.Owner)
		for _, id := range part {
			args = append(args, idArg(id))
		}
		var changed int64
		err := retry(ctx, func() error {
			res, err := conn.ExecContext(ctx, s.sql.cluster.renew+inList(len(part)), args...)
			if err == nil {
				changed, err = res.RowsAffected()
			}
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("renew %d leases: %w", len(p.IDs), mapErr(err))
		}
		if int(changed) == len(part) {
			for _, id := range part {
				held[id] = true
			}
			continue
		}
		rows, err := conn.QueryContext(ctx, s.sql.cluster.renewed+inList(len(part)), args[1:]...)
		if err != nil {
			return nil, fmt.Errorf("renew %d leases: %w", len(p.IDs), mapErr(err))
		}
		for rows.Next() {
			var id uuid.UUID
			if err := rows.Scan(idDest{&id}); err != nil {
				rows.Close()
				return nil, fmt.Errorf("renew %d leases: %w", len(p.IDs), mapErr(err))
			}
			held[id] = true
		}
		if err := rows.Close(); err != nil {
			return nil, fmt.Errorf("renew %d leases: %w", len(p.IDs), mapErr(err))
		}
	}
	return store.LostLeases(p.IDs, held), nil
}

// Rescue implements store.Cluster in one READ COMMITTED transaction: the
// running rows nobody holds, locked with FOR UPDATE SKIP LOCKED (so two
// rescuers never take the same row), re-queued or poisoned in Go as the
// contract says, written back with their audits.
func (s *Store) Rescue(ctx context.Context, p store.RescueParams) ([]*store.Task, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	err := p.Normalize()
	if err != nil {
		return nil, err
	}
	limit := p.Limit
	q := s.sql.cluster.rescue
	var args []any
	if len(p.Owners) > 0 {
		q = strings.ReplaceAll(q, "{owners}", " OR owner IN "+inList(len(p.Owners)))
		for _, o := range p.Owners {
			args = append(args, o)
		}
	} else {
		q = strings.ReplaceAll(q, "{owners}", "")
	}
	args = append(args, limit)
	var out []*store.Task
	err = s.inTx(ctx, readCommitted, func(tx *sql.Tx) error {
		out = out[:0]
		rows, err := tx.QueryContext(ctx, q, args...)
		if err != nil {
			return err
		}
		e := &edit{marked: map[uuid.UUID]bool{}}
		var found []*store.Task
		for rows.Next() {
			var clock time.Time
			t, err := scanTask(rows, timeDest{&clock})
			if err != nil {
				rows.Close()
				return err
			}
			e.clock = clock
			found = append(found, t)
		}
		if err := rows.Close(); err != nil {
			return err
		}
		for _, t := range found {
			if t.LeaseLive(e.clock) && !slices.Contains(p.Owners, t.Owner) {
				continue
			}
			t.RecoveryFailures = min(t.RecoveryFailures, store.MaxRunCount-1) + 1
			t.Owner, t.LeaseUntil = "", time.Time{}
			errText := ""
			if p.MaxFailures > 0 && t.RecoveryFailures >= p.MaxFailures {
				t.Status, t.Error, errText = store.StatusFailed, p.PoisonError, p.PoisonError
				t.NextRunAt = time.Time{}
			} else {
				t.Status = store.StatusQueued
			}
			e.mark(t)
			if store.StatusAuditRequired(t.AuditLevel, t.Status, errText) {
				e.auditStatus(t.ID, p.Now, t.Status, errText)
			}
			out = append(out, t)
		}
		return s.write(ctx, tx, e)
	})
	if err != nil {
		return nil, fmt.Errorf("rescue: %w", mapErr(err))
	}
	return out, nil
}

// session is a node's liveness session: a connection held out of the pool
// that holds the node's GET_LOCK lock. The server releases the lock when
// the session ends, with the process or its connection, which is what
// Nodes reads with IS_USED_LOCK.
type session struct {
	conn   *sql.Conn
	connID int64
	lock   string
}

// errNodeHeld is returned by JoinCluster when another session holds the
// node's lock: a live process already runs with that node id, or the
// server has not yet noticed that the previous one died.
var errNodeHeld = errors.New("another session holds the node's liveness lock (is a process with this node id running?)")

// livenessWaitTimeout is the idle timeout, in seconds, of a liveness
// session: a year (the server's maximum), since it carries no query after
// its lock and the server's default (8 hours) would end it and make its
// node look gone.
const livenessWaitTimeout = 31536000

// openSession opens a node's liveness session.
func (s *Store) openSession(ctx context.Context, lock string) (*session, error) {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return nil, mapErr(err)
	}
	ss := &session{conn: conn, lock: lock}
	if _, err := conn.ExecContext(ctx, "SET SESSION wait_timeout = "+strconv.Itoa(livenessWaitTimeout)); err != nil {
		ss.close()
		return nil, mapErr(err)
	}
	var got sql.NullInt64
	if err := conn.QueryRowContext(ctx, "SELECT CONNECTION_ID(), GET_LOCK(?, 0)", lock).Scan(&ss.connID, &got); err != nil {
		ss.close()
		return nil, mapErr(err)
	}
	if got.Int64 != 1 {
		ss.close()
		return nil, errNodeHeld
	}
	return ss, nil
}

// close ends the session: it releases the lock and discards the
// connection, which must not go back to the pool still holding it.
func (ss *session) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ss.conn.ExecContext(ctx, "DO RELEASE_LOCK(?)", ss.lock) //nolint:errcheck // the lock also ends with the connection
	// A Raw callback that answers ErrBadConn makes database/sql close the
	// connection instead of returning it to the pool.
	ss.conn.Raw(func(any) error { return driver.ErrBadConn }) //nolint:errcheck // see above
	ss.conn.Close()
}

// JoinCluster implements store.Cluster. The first call of a node opens its
// liveness session; every call checks that the session still holds the
// lock (a server restart or a network cut ends it without the process) and
// opens another when not, then refreshes the registration.
func (s *Store) JoinCluster(ctx context.Context, node store.Node) error {
	if err := s.check(); err != nil {
		return err
	}
	if err := node.Validate(); err != nil {
		return err
	}
	queues := node.Queues
	if queues == nil {
		queues = map[string]int{}
	}
	qs, err := json.Marshal(queues)
	if err != nil {
		return fmt.Errorf("join cluster as %s: %w", node.ID, err)
	}
	lock := lockName("node", s.scope, s.n.prefix, node.ID)
	s.sessionsMu.Lock()
	defer s.sessionsMu.Unlock()
	if s.closed.Load() {
		return store.ErrClosed
	}
	ss := s.sessions[node.ID]
	if ss != nil {
		var holder sql.NullInt64
		if err := s.db.QueryRowContext(ctx, "SELECT IS_USED_LOCK(?)", lock).Scan(&holder); err != nil {
			return fmt.Errorf("join cluster as %s: %w", node.ID, mapErr(err))
		}
		if !holder.Valid || holder.Int64 != ss.connID {
			ss.close()
			delete(s.sessions, node.ID)
			ss = nil
		}
	}
	if ss == nil {
		if ss, err = s.openSession(ctx, lock); err != nil {
			return fmt.Errorf("join cluster as %s: %w", node.ID, err)
		}
		s.sessions[node.ID] = ss
	}
	err = retry(ctx, func() error {
		_, err := s.db.ExecContext(ctx, s.sql.cluster.joinCluster, node.ID, node.Host, node.PID, ts(node.StartedAt), string(qs), lock)
		return err
	})
	if err != nil {
		return fmt.Errorf("join cluster as %s: %w", node.ID, mapErr(err))
	}
	return nil
}

// LeaveCluster implements store.Cluster: the row goes first, then the
// session, so no other node sees this one gone while it is registered.
func (s *Store) LeaveCluster(ctx context.Context, nodeID string) error {
	if err := s.check(); err != nil {
		return err
	}
	_, err := s.db.ExecContext(ctx, s.sql.cluster.leaveCluster, nodeID)
	s.sessionsMu.Lock()
	if ss := s.sessions[nodeID]; ss != nil {
		ss.close()
		delete(s.sessions, nodeID)
	}
	s.sessionsMu.Unlock()
	if err != nil {
		return fmt.Errorf("leave cluster as %s: %w", nodeID, mapErr(err))
	}
	return nil
}

// Nodes implements store.Cluster. A node is gone when nobody holds its
// lock and it beat since the server started: a server restart ends every
// session, the live nodes' too, until their next heartbeat takes the lock
// again, so a missing lock proves nothing about a node that has not beaten
// since.
func (s *Store) Nodes(ctx context.Context) ([]store.Node, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	var (
		name   string
		uptime int64
	)
	if err := s.db.QueryRowContext(ctx, "SHOW GLOBAL STATUS LIKE 'Uptime'").Scan(&name, &uptime); err != nil {
		return nil, fmt.Errorf("list nodes: server uptime: %w", mapErr(err))
	}
	rows, err := s.db.QueryContext(ctx, s.sql.cluster.nodes)
	if err != nil {
		return nil, fmt.Errorf("list nodes: %w", mapErr(err))
	}
	defer rows.Close()
	var out []store.Node
	for rows.Next() {
		var (
			n      store.Node
			queues string
			free   bool
			clock  time.Time
		)
		if err := rows.Scan(&n.ID, &n.Host, &n.PID, timeDest{&n.StartedAt}, &queues, timeDest{&n.LastHeartbeat}, &free, timeDest{&clock}); err != nil {
			return nil, fmt.Errorf("list nodes: %w", mapErr(err))
		}
		if err := json.Unmarshal([]byte(queues), &n.Queues); err != nil {
			return nil, fmt.Errorf("list nodes: queues of %s: %w", n.ID, err)
		}
		serverStart := clock.Add(-time.Duration(uptime) * time.Second)
		n.Gone = free && n.LastHeartbeat.After(serverStart)
		out = append(out, n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list nodes: %w", mapErr(err))
	}
	return out, nil
}

// PersistTx writes a new row inside the caller's transaction, as Persist
// does (same validation and errors): the row exists only if tx commits.
// A task key another row holds gives store.ErrDuplicateKey, and an id that
// exists store.ErrInvalid; MySQL rolls back only the failed statement, so
// tx stays usable. A deadlock (which rolls back all of tx) or a lock wait
// timeout wraps store.ErrUnavailable and is not retried here: the caller
// runs its transaction again.
//
// The store has no notifier: nodes find the row at their next poll
// (evertask.ClusterConfig.PollInterval) after the commit.
func (s *Store) PersistTx(ctx context.Context, tx *sql.Tx, task *store.Task) error {
	if err := s.check(); err != nil {
		return err
	}
	if tx == nil {
		return fmt.Errorf("%w: nil transaction", store.ErrInvalid)
	}
	if err := task.Validate(); err != nil {
		return err
	}
	if err := validateCounters(task); err != nil {
		return err
	}
	if err := s.insertTasks(ctx, tx, []*store.Task{task}); err != nil {
		return fmt.Errorf("persist task %s: %w", task.ID, mapErr(err))
	}
	return nil
}

// claimedRow is the VALUES group of a row PersistClaimed writes: the
// columns of taskColumns, with lease_until the server's clock plus the
// lease (µs) bound in its place.
var claimedRow = "(" + strings.Repeat("?, ", taskColumnCount-2) + storeClock + " + INTERVAL ? MICROSECOND, ?)"

// PersistClaimed implements store.ClaimingPersister in one transaction:
// the rows as PersistMany writes them, already InProgress under the lease
// (its end from the server's clock in the INSERT itself), then their
// audits.
func (s *Store) PersistClaimed(ctx context.Context, p store.PersistClaimedParams) error {
	if err := s.check(); err != nil {
		return err
	}
	if err := p.Validate(); err != nil {
		return err
	}
	for _, t := range p.Tasks {
		if err := validateCounters(t); err != nil {
			return err
		}
	}
	if len(p.Tasks) == 0 {
		return nil
	}
	leaseUS := max(micros(p.LeaseFor), 1)
	e := &edit{}
	for _, t := range p.Tasks {
		for _, st := range store.ClaimedAudits(t.AuditLevel, t.Status) {
			e.auditStatus(t.ID, p.Now, st, "")
		}
	}
	err := s.inTx(ctx, nil, func(tx *sql.Tx) error {
		for _, chunk := range insertChunks(p.Tasks) {
			args := make([]any, 0, len(chunk)*taskColumnCount)
			for _, t := range chunk {
				c := *t
				c.Status, c.Owner = store.StatusInProgress, p.Owner
				args = taskArgs(args, &c)
				args[len(args)-2] = leaseUS // lease_until: the clock + leaseUS
			}
			q := s.sql.insert + strings.TrimSuffix(strings.Repeat(claimedRow+", ", len(chunk)), ", ")
			if _, err := tx.ExecContext(ctx, q, args...); err != nil {
				return err
			}
		}
		return s.write(ctx, tx, e)
	})
	if err != nil {
		return fmt.Errorf("persist %d claimed tasks: %w", len(p.Tasks), mapErr(err))
	}
	return nil
}
