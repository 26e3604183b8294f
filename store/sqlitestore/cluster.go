package sqlitestore

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/evertask/evertask/store"
)

// The statements of cluster mode. dueSQL and claimableStatusSQL are textually the key
// expression and the WHERE of the tasks_claim index (migration 002): SQLite
// matches index expressions and partial-index conditions by their text, so
// a change to one without the other silently turns every claim into a scan.
// Equalities rather than IN lists for the reason given in migration 001.
const (
	// dueSQL is Task.DueAt; a NULL column is the zero time.
	dueSQL = `coalesce(next_run_at, scheduled_at, created_at)`
	// claimableStatusSQL is the status term of Task.Claimable: the status
	// term of the recoverable predicate without InProgress.
	claimableStatusSQL = `(status = 'WaitingQueue' OR status = 'Queued' OR status = 'Pending' OR status = 'ServiceStopped'
       OR (recurring = 1 AND next_run_at IS NOT NULL AND (status = 'Completed' OR status = 'Failed')))`
	// claimableSQL is Task.Claimable at the store's clock @now, for @queue.
	claimableSQL = `queue = @queue
  AND (max_runs <= 0 OR run_count < max_runs)
  AND (run_until IS NULL OR run_until >= @now)
  AND ` + claimableStatusSQL

	claimSelectSQL = `SELECT ` + taskColumns + ` FROM tasks INDEXED BY tasks_claim
WHERE ` + claimableSQL + ` AND ` + dueSQL + ` <= @now
ORDER BY ` + dueSQL + `, created_at, id LIMIT @limit`
	// The ids travel as one JSON array of hex strings: one statement, and
	// one prepared text, for any number of rows.
	claimUpdateSQL = `UPDATE tasks SET status = 'InProgress', owner = @owner, lease_until = @until
WHERE id IN (SELECT unhex(value) FROM json_each(@ids))`
	nextDueSQL = `SELECT ` + dueSQL + ` FROM tasks INDEXED BY tasks_claim
WHERE ` + claimableSQL + ` AND ` + dueSQL + ` > @now
ORDER BY ` + dueSQL + `, created_at, id LIMIT 1`

	// renewSQL never revives a lease that expired: lease_until > @now. The
	// unary + keeps the planner off tasks_status, which without statistics
	// it prefers to the ids, and which would visit every running row.
	renewSQL = `UPDATE tasks SET lease_until = @until
WHERE id IN (SELECT unhex(value) FROM json_each(@ids))
  AND +status = 'InProgress' AND owner = @owner AND lease_until IS NOT NULL AND lease_until > @now
RETURNING id`

	// rescueSQL re-queues or poisons, in one statement, up to @limit
	// InProgress rows nobody holds: an expired or missing lease, or an
	// owner the caller proved gone. Every SET expression reads the row as
	// it was, so "poisoned" is the same test in each. No execution ended,
	// so LastExecutionAt and ExecutionTime are kept, poisoned or not.
	rescueSQL = `UPDATE tasks SET
    recovery_failures = recovery_failures + 1,
    owner = '',
    lease_until = NULL,
    status = CASE WHEN ` + poisonedSQL + ` THEN 'Failed' ELSE 'Queued' END,
    error = CASE WHEN ` + poisonedSQL + ` THEN @poison ELSE error END,
    next_run_at = CASE WHEN ` + poisonedSQL + ` AND recurring = 1 THEN NULL ELSE next_run_at END
WHERE id IN (SELECT id FROM tasks
    WHERE status = 'InProgress'
      AND (owner = '' OR lease_until IS NULL OR lease_until <= @now
           OR owner IN (SELECT value FROM json_each(@owners)))
    ORDER BY created_at, id LIMIT @limit)
RETURNING ` + taskColumns
	poisonedSQL = `(@max > 0 AND recovery_failures + 1 >= @max)`

	joinSQL = `INSERT INTO nodes (id, host, pid, started_at, queues, last_heartbeat) VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET host = excluded.host, pid = excluded.pid, started_at = excluded.started_at,
    queues = excluded.queues, last_heartbeat = excluded.last_heartbeat`
	leaveSQL = `DELETE FROM nodes WHERE id = ?`
	// Oldest first: by start, then by first join (the rowid an upsert keeps).
	nodesSQL = `SELECT id, host, pid, started_at, queues, last_heartbeat FROM nodes ORDER BY started_at, rowid`
)

// Now returns the store's clock.
func (s *Store) Now(ctx context.Context) (time.Time, error) {
	if err := s.check(); err != nil {
		return time.Time{}, err
	}
	if err := ctx.Err(); err != nil {
		return time.Time{}, err
	}
	return s.clock(), nil
}

// Claim takes up to p.Limit due rows of p.Queue in one IMMEDIATE
// transaction: the write lock it holds from BEGIN serializes claimers of
// every process, so two never see the same row as free.
func (s *Store) Claim(ctx context.Context, p store.ClaimParams) (store.ClaimResult, error) {
	if err := s.check(); err != nil {
		return store.ClaimResult{}, err
	}
	if err := p.Validate(); err != nil {
		return store.ClaimResult{}, err
	}
	var res store.ClaimResult
	err := s.withTx(ctx, func(tx *sql.Tx) error {
		now := s.clock()
		res = store.ClaimResult{StoreNow: now}
		queue, at := sql.Named("queue", p.Queue), sql.Named("now", now.UnixMicro())
		rows, err := tx.StmtContext(ctx, s.stmts.claimSelect).QueryContext(ctx, queue, at, sql.Named("limit", p.Limit))
		if err != nil {
			return err
		}
		tasks, err := scanTasks(rows, min(p.Limit, 64))
		if err != nil {
			return err
		}
		if len(tasks) > 0 {
			until := store.NormalizeTime(now.Add(p.LeaseFor))
			if err := s.claimRows(ctx, tx, tasks, &p, until); err != nil {
				return err
			}
		}
		res.Tasks = tasks
		var next int64
		err = tx.StmtContext(ctx, s.stmts.nextDue).QueryRowContext(ctx, queue, at).Scan(&next)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return nil
		case err != nil:
			return err
		}
		res.NextDue = time.UnixMicro(next).UTC()
		return nil
	})
	if err != nil {
		return store.ClaimResult{}, fmt.Errorf("claim in queue %q: %w", p.Queue, err)
	}
	return res, nil
}

// claimRows moves the selected rows to InProgress under p.Owner's lease,
// writes their audits as if each had gone through Queued, and updates tasks
// to what the rows now hold.
func (s *Store) claimRows(ctx context.Context, tx *sql.Tx, tasks []*store.Task, p *store.ClaimParams, until time.Time) error {
	ids := make([]uuid.UUID, len(tasks))
	for i, t := range tasks {
		ids[i] = t.ID
	}
	res, err := tx.StmtContext(ctx, s.stmts.claimUpdate).ExecContext(ctx,
		sql.Named("owner", p.Owner), sql.Named("until", until.UnixMicro()), sql.Named("ids", hexIDs(ids)))
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n != int64(len(tasks)) {
		// The rows were read under the same write lock; anything else is
		// a bug, and the transaction must not commit half of it.
		return fmt.Errorf("claim updated %d of %d selected rows", n, len(tasks))
	}
	var audits []statusAudit
	for _, t := range tasks {
		if t.Status != store.StatusQueued && store.StatusAuditRequired(t.AuditLevel, store.StatusQueued, "") {
			audits = append(audits, statusAudit{t.ID, p.Now, store.StatusQueued, ""})
		}
		if store.StatusAuditRequired(t.AuditLevel, store.StatusInProgress, "") {
			audits = append(audits, statusAudit{t.ID, p.Now, store.StatusInProgress, ""})
		}
		t.Status, t.Owner, t.LeaseUntil = store.StatusInProgress, p.Owner, until
	}
	return s.insertStatusAudits(ctx, tx, audits)
}

// Renew extends p.Owner's live leases on p.IDs in one statement and returns
// the ids it did not extend, in the order given, each once.
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
	renewed := make(map[uuid.UUID]bool, len(p.IDs))
	err := s.withTx(ctx, func(tx *sql.Tx) error {
		clear(renewed)
		now := s.clock() // under the write lock: a lease that expired while waiting stays expired
		rows, err := tx.StmtContext(ctx, s.stmts.renew).QueryContext(ctx,
			sql.Named("until", now.Add(p.LeaseFor).UnixMicro()), sql.Named("ids", hexIDs(p.IDs)),
			sql.Named("owner", p.Owner), sql.Named("now", now.UnixMicro()))
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id []byte
			if err := rows.Scan(&id); err != nil {
				return err
			}
			renewed[uuid.UUID(id)] = true
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("renew %d leases of %q: %w", len(p.IDs), p.Owner, err)
	}
	return store.LostLeases(p.IDs, renewed), nil
}

// Rescue re-queues (or poisons) the InProgress rows nobody holds, with their
// audits, in one transaction.
func (s *Store) Rescue(ctx context.Context, p store.RescueParams) ([]*store.Task, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	err := p.Normalize()
	if err != nil {
		return nil, err
	}
	limit := p.Limit
	owners := []byte("[]")
	if len(p.Owners) > 0 {
		if owners, err = json.Marshal(p.Owners); err != nil {
			return nil, err
		}
	}
	var tasks []*store.Task
	err = s.withTx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, rescueSQL,
			sql.Named("now", s.clock().UnixMicro()), sql.Named("owners", string(owners)),
			sql.Named("limit", limit), sql.Named("max", p.MaxFailures), sql.Named("poison", p.PoisonError))
		if err != nil {
			return err
		}
		if tasks, err = scanTasks(rows, 0); err != nil {
			return err
		}
		// RETURNING comes in no promised order; the audits and the result
		// go in the order the rows were picked.
		slices.SortFunc(tasks, func(a, b *store.Task) int {
			switch ca, cb := store.CursorOf(a), store.CursorOf(b); {
			case ca.Less(cb):
				return -1
			case cb.Less(ca):
				return 1
			}
			return 0
		})
		var audits []statusAudit
		for _, t := range tasks {
			errText := ""
			if t.Status == store.StatusFailed {
				errText = p.PoisonError
			}
			if store.StatusAuditRequired(t.AuditLevel, t.Status, errText) {
				audits = append(audits, statusAudit{t.ID, p.Now, t.Status, errText})
			}
		}
		return s.insertStatusAudits(ctx, tx, audits)
	})
	if err != nil {
		return nil, fmt.Errorf("rescue: %w", err)
	}
	return tasks, nil
}

// JoinCluster registers the node or refreshes its row. The first call for a
// node through this store takes the node's liveness lock (see
// lockNodeFile) before the row is written, so a row other nodes read always
// has a lock behind it while the process lives.
func (s *Store) JoinCluster(ctx context.Context, node store.Node) error {
	if err := s.check(); err != nil {
		return err
	}
	if err := node.Validate(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err // before the lock file is created for nothing
	}
	queues, err := json.Marshal(node.Queues)
	if err != nil {
		return fmt.Errorf("%w: queues of node %q: %w", store.ErrInvalid, node.ID, err)
	}
	s.liveMu.Lock()
	defer s.liveMu.Unlock()
	if s.closed.Load() { // Close may have released the locks already
		return store.ErrClosed
	}
	first := s.live[node.ID] == nil
	if first {
		f, err := s.lockNodeFile(ctx, node.ID)
		if err != nil {
			return fmt.Errorf("join cluster as %q: %w", node.ID, err)
		}
		if s.live == nil {
			s.live = map[string]*os.File{}
		}
		s.live[node.ID] = f
	}
	_, err = s.writer.ExecContext(ctx, joinSQL, node.ID, node.Host, node.PID, micros(node.StartedAt),
		string(queues), s.clock().UnixMicro())
	if err != nil {
		if first {
			// Not joined: another try starts from scratch.
			unlockNodeFile(s.live[node.ID], true)
			delete(s.live, node.ID)
		}
		return fmt.Errorf("join cluster as %q: %w", node.ID, mapErr(err))
	}
	return nil
}

// LeaveCluster deletes the node's row, then releases and removes its lock
// file: the row goes first, so no reader finds the row of a live node
// without its lock. For a node another process joined, the lock file is
// removed only if no process holds it.
func (s *Store) LeaveCluster(ctx context.Context, nodeID string) error {
	if err := s.check(); err != nil {
		return err
	}
	if _, err := s.writer.ExecContext(ctx, leaveSQL, nodeID); err != nil {
		return fmt.Errorf("leave cluster as %q: %w", nodeID, mapErr(err))
	}
	if nodeID == "" {
		return nil
	}
	s.liveMu.Lock()
	defer s.liveMu.Unlock()
	if f := s.live[nodeID]; f != nil {
		delete(s.live, nodeID)
		if err := unlockNodeFile(f, true); err != nil {
			return fmt.Errorf("leave cluster as %q: release liveness lock: %w", nodeID, err)
		}
		return nil
	}
	removeStaleNodeFile(s.nodeLockPath(nodeID))
	return nil
}

// Nodes lists the registry, oldest first, and marks Gone the nodes whose
// liveness lock no process holds: the kernel releases a flock when the
// last descriptor of its holder closes, which a process's death does, and
// a stopped (SIGSTOP) process keeps it.
func (s *Store) Nodes(ctx context.Context) ([]store.Node, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	var nodes []store.Node
	err := s.queryEach(ctx, nodesSQL, nil, func(rows *sql.Rows) error {
		var (
			n       store.Node
			started sql.NullInt64
			queues  string
			beat    int64
		)
		if err := rows.Scan(&n.ID, &n.Host, &n.PID, &started, &queues, &beat); err != nil {
			return err
		}
		n.StartedAt = fromMicros(started)
		n.LastHeartbeat = time.UnixMicro(beat).UTC()
		if err := json.Unmarshal([]byte(queues), &n.Queues); err != nil {
			return fmt.Errorf("queues of node %q: %w", n.ID, err)
		}
		nodes = append(nodes, n)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list nodes: %w", err)
	}
	s.liveMu.Lock()
	defer s.liveMu.Unlock()
	for i := range nodes {
		if s.live[nodes[i].ID] != nil {
			continue // joined here and not left: alive by definition
		}
		gone, err := probeNodeFile(s.nodeLockPath(nodes[i].ID))
		if err != nil {
			return nil, fmt.Errorf("list nodes: liveness of %q: %w", nodes[i].ID, err)
		}
		nodes[i].Gone = gone
	}
	return nodes, nil
}

// nodeLockDir is the directory of the liveness lock files: beside the
// database, so every process that opens the file finds them.
func (s *Store) nodeLockDir() string { return s.path + ".nodes" }

// nodeLockPath is a node's lock file. A node id is any string; the file name
// keeps its safe characters, and when the id had others (or was long), a
// hash of the whole id, so two ids never share a file.
func (s *Store) nodeLockPath(id string) string {
	safe := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_':
			return r
		}
		return '_'
	}, id)
	if safe != id || len(safe) > 64 {
		sum := sha256.Sum256([]byte(id))
		safe = safe[:min(len(safe), 64)] + "." + hex.EncodeToString(sum[:8])
	}
	return filepath.Join(s.nodeLockDir(), safe+".lock")
}

// lockNodeFile takes the node's liveness lock, creating the directory and
// the file as needed. Another holder (the same node id in a live process,
// or a Nodes call that tests the lock at that moment) is waited for up to
// the busy timeout, as SQLite waits for its own locks.
func (s *Store) lockNodeFile(ctx context.Context, id string) (*os.File, error) {
	if err := os.MkdirAll(s.nodeLockDir(), 0o755); err != nil {
		return nil, err
	}
	path := s.nodeLockPath(id)
	deadline := time.Now().Add(s.busy)
	for wait := time.Millisecond; ; wait = min(2*wait, 50*time.Millisecond) {
		f, err := lockFile(path)
		if err == nil || !errors.Is(err, errLockHeld) {
			return f, err
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%w: node id %q is in use by a live process", store.ErrInvalid, id)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(wait):
		}
	}
}

// releaseNodeLocks closes every liveness lock of the store, at Close. The
// files stay, as a crashed process leaves them: their nodes are still
// registered, and other nodes must find them gone.
func (s *Store) releaseNodeLocks() error {
	s.liveMu.Lock()
	defer s.liveMu.Unlock()
	var errs []error
	for id, f := range s.live {
		errs = append(errs, unlockNodeFile(f, false))
		delete(s.live, id)
	}
	return errors.Join(errs...)
}

// hexIDs is the JSON array of the ids in hex, for json_each and unhex.
func hexIDs(ids []uuid.UUID) string {
	var b strings.Builder
	b.Grow(2 + 35*len(ids))
	b.WriteByte('[')
	for i, id := range ids {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('"')
		var buf [32]byte
		hex.Encode(buf[:], id[:])
		b.Write(buf[:])
		b.WriteByte('"')
	}
	b.WriteByte(']')
	return b.String()
}

// PersistClaimed implements store.ClaimingPersister: the rows as
// PersistMany writes them, already InProgress under the lease, and their
// audits, in one transaction.
func (s *Store) PersistClaimed(ctx context.Context, p store.PersistClaimedParams) error {
	if err := s.check(); err != nil {
		return err
	}
	if err := p.Validate(); err != nil {
		return err
	}
	if len(p.Tasks) == 0 {
		return nil
	}
	rows := make([]*store.Task, len(p.Tasks))
	var audits []statusAudit
	for i, t := range p.Tasks {
		c := *t
		rows[i] = &c
		for _, st := range store.ClaimedAudits(t.AuditLevel, t.Status) {
			audits = append(audits, statusAudit{t.ID, p.Now, st, ""})
		}
	}
	return s.withTx(ctx, func(tx *sql.Tx) error {
		// The clock is read under the write lock (BEGIN IMMEDIATE), as
		// Claim reads it.
		until := store.NormalizeTime(s.clock().Add(p.LeaseFor))
		for _, r := range rows {
			r.Status, r.Owner, r.LeaseUntil = store.StatusInProgress, p.Owner, until
		}
		if err := s.persistMany(ctx, tx, rows); err != nil {
			return err
		}
		return s.insertStatusAudits(ctx, tx, audits)
	})
}
