package pgstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/evertask/evertask/store"
)

// The statements of store.Cluster and store.Notifier, templates as in
// sql.go. Every lease time is the server's clock (storeClock); a statement
// that needs one time for several rows reads it once, in the CTE c.

// dueAt is store.Task.DueAt in SQL, written as the expression of
// tasks_due_idx so the claim reads that index.
const dueAt = `coalesce(next_run_at, scheduled_at, created_at)`

const (
	sqlNow = `SELECT ` + storeClock

	// $1 queue, $2 limit, $3 owner, $4 lease µs, $5 audit time. The rows
	// are picked and locked in due order, skipping rows another claimer
	// holds; a row claimed meanwhile fails the status check when the lock
	// re-reads it. The update reaches the picked rows by their address (a
	// TID scan), not by the primary key: a descent of that index per row
	// was 4 of the 7.6 buffers a claimed row cost. An address is only ever
	// that of the row version the claim read or locked, which its snapshot
	// or lock keeps from being pruned. A row another statement changed
	// since is left out, for a later claim: PostgreSQL 15 takes no other
	// version through a TID scan than the one addressed (two psql sessions:
	// with the claim's conditions removed, the claim that waited updated
	// nothing; joined on id it overwrote the other claim). The update's
	// claimable conditions stay as the guard that does not rest on that,
	// so no test fails when they alone are removed. The
	// rows that were not Queued are few (recovered, released), so their
	// ids come as one array for the audits, not as a join of every row.
	// The audits go in claim order, Queued before InProgress for each row.
	// The last SELECT returns one row per claimed task, or a
	// single row with NULL task columns when nothing was due: the clock and
	// the next due time are in every row.
	sqlClaim = `WITH c AS MATERIALIZED (SELECT ` + storeClock + ` AS clock
), d AS (
	SELECT ctid AS claim_ctid, id AS claim_id, status AS was FROM {s}.tasks
	WHERE queue = $1::text AND ` + dueAt + ` <= (SELECT clock FROM c)
		AND {claimable}
	ORDER BY ` + dueAt + `, created_at, id
	LIMIT $2
	{claimLock}
), t AS (
	UPDATE {s}.tasks SET status = 'InProgress', owner = $3::text,
		lease_until = (SELECT clock FROM c) + $4::bigint * interval '1 microsecond'
	WHERE ctid = ANY(ARRAY(SELECT claim_ctid FROM d)) {claimRecheck}
	RETURNING ` + taskColumns + `
), a AS (
	INSERT INTO {s}.status_audits (task_id, at, status, error)
	SELECT t.id, $5::timestamptz, x.status, '' FROM t
		CROSS JOIN (VALUES (1, 'Queued'), (2, 'InProgress')) AS x (n, status)
	WHERE (x.n = 2 OR t.id = ANY(ARRAY(SELECT claim_id FROM d WHERE was <> 'Queued'))) AND {claimAudit}
	ORDER BY coalesce(t.next_run_at, t.scheduled_at, t.created_at), t.created_at, t.id, x.n
), n AS (
	SELECT ` + dueAt + ` AS due FROM {s}.tasks
	WHERE queue = $1::text AND ` + dueAt + ` > (SELECT clock FROM c)
		AND {claimable}
	ORDER BY ` + dueAt + `
	LIMIT 1
)
SELECT c.clock, (SELECT due FROM n), ` + taskColumns + `
FROM c LEFT JOIN t ON true
ORDER BY coalesce(next_run_at, scheduled_at, created_at), created_at, id`

	// A claim's turn on its queue ($2, queueLockKey), waited for at most
	// $1: the lock_timeout, set in FROM so that it precedes the wait, fails
	// a wait that runs out with sqlLockNotAvailable. Both hold until the
	// claim's transaction ends.
	sqlClaimTurn = `SELECT pg_advisory_xact_lock($2::bigint) FROM (SELECT set_config('lock_timeout', $1::text, true)) AS w`

	// $1 ids, $2 owner, $3 lease µs. A lease that expired is not renewed,
	// even if nobody took the row yet.
	sqlRenew = `UPDATE {s}.tasks SET lease_until = ` + storeClock + ` + $3::bigint * interval '1 microsecond'
WHERE id = ANY($1::uuid[]) AND {holds2}
RETURNING id`

	// $1 owners proven gone, $2 limit, $3 poison limit (0: never), $4
	// poison error, $5 audit time. The running rows are found through the
	// phase index: no index names status (migration 002), so a call reads
	// the open rows in creation order until it has its limit.
	sqlRescue = `WITH c AS MATERIALIZED (SELECT ` + storeClock + ` AS clock
), r AS (
	SELECT id AS rescue_id FROM {s}.tasks
	WHERE phase = 'open' AND status = 'InProgress'
		AND (NOT {leaseLiveC} OR owner = ANY($1::text[]))
	ORDER BY created_at, id
	LIMIT $2
	FOR UPDATE SKIP LOCKED
), t AS (
	UPDATE {s}.tasks SET
		recovery_failures = least(recovery_failures, 2147483646) + 1,
		owner = '', lease_until = NULL,
		status = CASE WHEN {poison} THEN 'Failed' ELSE 'Queued' END,
		error = CASE WHEN {poison} THEN $4::text ELSE error END,
		next_run_at = CASE WHEN {poison} THEN NULL ELSE next_run_at END
	FROM r WHERE id = rescue_id
	RETURNING ` + taskColumns + `
), a AS (
	INSERT INTO {s}.status_audits (task_id, at, status, error)
	SELECT id, $5::timestamptz, status, CASE WHEN status = 'Failed' THEN error ELSE '' END FROM t
	WHERE {rescueAudit}
	ORDER BY created_at, id
)
SELECT ` + taskColumns + ` FROM t ORDER BY created_at, id`

	// $1 id, $2 host, $3 pid, $4 started at, $5 queues, $6 lock key, $7
	// the backend pid of the node's liveness session. The result tells
	// whether that session still holds the lock.
	sqlJoinCluster = `WITH u AS (
	INSERT INTO {s}.nodes (id, host, pid, started_at, queues, last_heartbeat, lock_key)
	VALUES ($1::text, $2::text, $3::bigint, $4::timestamptz, $5::jsonb, ` + storeClock + `, $6::bigint)
	ON CONFLICT (id) DO UPDATE SET host = excluded.host, pid = excluded.pid, started_at = excluded.started_at,
		queues = excluded.queues, last_heartbeat = excluded.last_heartbeat, lock_key = excluded.lock_key
	RETURNING lock_key
)
SELECT EXISTS (SELECT 1 FROM pg_locks l
	WHERE l.pid = $7::integer AND l.locktype = 'advisory' AND l.granted
		AND l.classid = ((u.lock_key >> 32) & 4294967295)::oid
		AND l.objid = (u.lock_key & 4294967295)::oid
		AND l.objsubid = 1)
FROM u`

	sqlLeaveCluster = `DELETE FROM {s}.nodes WHERE id = $1::text`

	// A node is gone when nobody holds its advisory lock: pg_locks shows a
	// bigint key as its high half in classid and its low half in objid,
	// with objsubid 1. Only a node that beat under this server's run
	// proves anything by a missing lock: a server restart ends every
	// session, the live nodes' too, until their next heartbeat takes the
	// lock again.
	sqlNodes = `SELECT n.id, n.host, n.pid, n.started_at, n.queues::text, n.last_heartbeat,
	n.last_heartbeat > pg_postmaster_start_time() AND NOT EXISTS (
	SELECT 1 FROM pg_locks l
	WHERE l.locktype = 'advisory' AND l.granted
		AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
		AND l.classid = ((n.lock_key >> 32) & 4294967295)::oid
		AND l.objid = (n.lock_key & 4294967295)::oid
		AND l.objsubid = 1)
FROM {s}.nodes n
ORDER BY n.started_at, n.id`

	// The session settings of a liveness connection, and its lock ($1).
	// The keepalives make the server notice a peer that vanished without
	// closing its socket (a machine that died, a cable pulled) within a
	// minute instead of the system default of hours; a stopped process
	// still answers them from its kernel, so it is not gone.
	sqlHoldLiveness = `SELECT set_config('tcp_keepalives_idle', '30', false),
	set_config('tcp_keepalives_interval', '10', false),
	set_config('tcp_keepalives_count', '3', false),
	pg_try_advisory_lock($1::bigint)`

	// $1 channel, $2 payloads: one transaction, so the notices go out in
	// order, together.
	sqlPublish = `SELECT pg_notify($1::text, p) FROM unnest($2::text[]) AS p`

	// PersistClaimed: the rows of sqlInsertMany ($1..$24, their status
	// $8 as given), stored InProgress under the lease of $25 for $26 µs
	// from the server's clock, with their audits at $27 (Queued unless the
	// row came Queued, then InProgress) in the order given. One statement:
	// all rows and audits or none.
	sqlInsertClaimed = `WITH c AS MATERIALIZED (SELECT ` + storeClock + ` AS clock
), u AS (
	SELECT * FROM unnest($1::uuid[], $2::timestamptz[], $3::text[], $4::bytea[], $5::text[], $6::text[],
		$7::text[], $8::text[], $9::smallint[], $10::timestamptz[], $11::timestamptz[], $12::bigint[],
		$13::text[], $14::boolean[], $15::bytea[], $16::text[], $17::integer[], $18::integer[],
		$19::timestamptz[], $20::timestamptz[], $21::integer[], $22::text[], $23::timestamptz[], $24::jsonb[])
		WITH ORDINALITY AS u (u_id, u_created, u_kind, u_payload, u_handler, u_queue, u_key, u_status, u_level,
			u_sched, u_last, u_exec, u_err, u_recurring, u_schedule, u_info, u_runs, u_max, u_until, u_next,
			u_fails, u_owner, u_lease, u_meta, u_ord)
), t AS (
	INSERT INTO {s}.tasks (` + taskColumns + `)
	SELECT u_id, u_created, u_kind, u_payload, u_handler, u_queue, u_key, 'InProgress', u_level,
		u_sched, u_last, u_exec, u_err, u_recurring, u_schedule, u_info, u_runs, u_max, u_until, u_next,
		u_fails, $25::text, (SELECT clock FROM c) + $26::bigint * interval '1 microsecond', u_meta
	FROM u ORDER BY u_ord
	RETURNING id
), a AS (
	INSERT INTO {s}.status_audits (task_id, at, status, error)
	SELECT u_id, $27::timestamptz, x.status, '' FROM u JOIN t ON t.id = u_id
		CROSS JOIN (VALUES (1, 'Queued'), (2, 'InProgress')) AS x (n, status)
	WHERE (x.n = 2 OR u_status <> 'Queued') AND {claimedAudit}
	ORDER BY u_ord, x.n
)
SELECT count(*) FROM t`

	// PersistClaimed of rows none of which is audited: $1..$26 as above.
	sqlInsertClaimedUnaudited = `INSERT INTO {s}.tasks (` + taskColumns + `)
SELECT u_id, u_created, u_kind, u_payload, u_handler, u_queue, u_key, 'InProgress', u_level,
	u_sched, u_last, u_exec, u_err, u_recurring, u_schedule, u_info, u_runs, u_max, u_until, u_next,
	u_fails, $25::text, ` + storeClock + ` + $26::bigint * interval '1 microsecond', u_meta
FROM unnest($1::uuid[], $2::timestamptz[], $3::text[], $4::bytea[], $5::text[], $6::text[],
	$7::text[], $8::text[], $9::smallint[], $10::timestamptz[], $11::timestamptz[], $12::bigint[],
	$13::text[], $14::boolean[], $15::bytea[], $16::text[], $17::integer[], $18::integer[],
	$19::timestamptz[], $20::timestamptz[], $21::integer[], $22::text[], $23::timestamptz[], $24::jsonb[])
	AS u (u_id, u_created, u_kind, u_payload, u_handler, u_queue, u_key, u_status, u_level,
		u_sched, u_last, u_exec, u_err, u_recurring, u_schedule, u_info, u_runs, u_max, u_until, u_next,
		u_fails, u_owner, u_lease, u_meta)`

	// PersistTx: the insert of sqlInsert that yields to a held key or id
	// instead of failing (which would abort the caller's transaction), and
	// the notice of the new row ($25 channel, $26 payload, empty: none),
	// sent only if the row was written and delivered only if the caller
	// commits. The third column tells a held id (visible before the
	// statement) from a held key.
	sqlInsertTx = `WITH i AS (
	INSERT INTO {s}.tasks (` + taskColumns + `)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24)
	ON CONFLICT DO NOTHING
	RETURNING id
), n AS (
	SELECT pg_notify($25::text, $26::text) FROM i WHERE $26::text <> ''
)
SELECT EXISTS (SELECT 1 FROM i), (SELECT count(*) FROM n), EXISTS (SELECT 1 FROM {s}.tasks WHERE id = $1::uuid)`
)

// clusterStatements holds the cluster statement texts of one Store.
type clusterStatements struct {
	now, claim, claimAlone, renew    string
	claimTurn                        string
	rescue                           string
	joinCluster, leaveCluster, nodes string
	holdLiveness, publish, insertTx  string
	insertClaimed, insertClaimedBare string
}

// newClusterStatements fills the templates with r, the replacer of
// newStatements.
func newClusterStatements(replace func(string) string) clusterStatements {
	clock := `(SELECT clock FROM c)`
	poison := `($3::integer > 0 AND least(recovery_failures, 2147483646) + 1 >= $3::integer)`
	f := func(tmpl string) string {
		return replace(replaceAll(tmpl,
			"{claimable}", `status <> 'InProgress' AND `+recoverable(clock),
			"{claimAudit}", statusAudit("t.audit_level", "x.status", "''"),
			"{claimedAudit}", statusAudit("u_level", "x.status", "''"),
			"{holds2}", holds("$2::text", storeClock),
			"{leaseLiveC}", leaseLive(clock),
			"{poison}", poison,
			"{rescueAudit}", statusAudit("audit_level", "status", "CASE WHEN status = 'Failed' THEN error ELSE '' END"),
		))
	}
	return clusterStatements{
		now: f(sqlNow), renew: f(sqlRenew), rescue: f(sqlRescue), claimTurn: f(sqlClaimTurn),
		// A claim that has to share the queue with others (claim) locks
		// the rows it picks and skips those other claims locked; a lone
		// node's (claimAlone) does not lock them first: no other claim
		// competes for them, and a lock is a WAL record per row (half of
		// what a claim writes). Its update checks the row is still
		// claimable instead, so a claim that was not alone after all waits
		// for the other's commit and leaves the rows it took. The claims
		// of a cluster take turns (claimInTurn) and run claimAlone in
		// their turn; claim is the fallback when a turn is slow to come.
		claim:       f(replaceAll(sqlClaim, "{claimLock}", "FOR UPDATE SKIP LOCKED", "{claimRecheck}", "AND {claimable}")),
		claimAlone:  f(replaceAll(sqlClaim, "{claimLock}", "", "{claimRecheck}", "AND {claimable}")),
		joinCluster: f(sqlJoinCluster), leaveCluster: f(sqlLeaveCluster), nodes: f(sqlNodes),
		holdLiveness: f(sqlHoldLiveness), publish: f(sqlPublish), insertTx: f(sqlInsertTx),
		insertClaimed: f(sqlInsertClaimed), insertClaimedBare: f(sqlInsertClaimedUnaudited),
	}
}

// replaceAll replaces each old with its new, as strings.NewReplacer does.
func replaceAll(s string, oldnew ...string) string { return strings.NewReplacer(oldnew...).Replace(s) }

// Now implements store.Cluster: the server's clock.
func (s *Store) Now(ctx context.Context) (time.Time, error) {
	if err := s.check(); err != nil {
		return time.Time{}, err
	}
	var now pgtype.Timestamptz
	if err := s.pool.QueryRow(ctx, s.sql.cluster.now).Scan(&now); err != nil {
		return time.Time{}, fmt.Errorf("store clock: %w", mapErr(err))
	}
	return fromTS(now), nil
}

// Claim implements store.Cluster in one statement.
func (s *Store) Claim(ctx context.Context, p store.ClaimParams) (store.ClaimResult, error) {
	if err := s.check(); err != nil {
		return store.ClaimResult{}, err
	}
	if err := p.Validate(); err != nil {
		return store.ClaimResult{}, err
	}
	args := []any{p.Queue, int64(p.Limit), p.Owner, max(micros(p.LeaseFor), 1), ts(p.Now)}
	var (
		res store.ClaimResult
		err error
	)
	switch {
	case p.Alone:
		res, err = readClaim(s.pool.Query(ctx, s.sql.cluster.claimAlone, args...))
	case time.Now().UnixNano() < s.noTurnsUntil.Load():
		res, err = readClaim(s.pool.Query(ctx, s.sql.cluster.claim, args...))
	default:
		res, err = s.claimInTurn(ctx, p.Queue, args)
		if isLockTimeout(err) {
			// The claim before is slow to end (its node reads the rows
			// slowly, or is paused), or a row is held by a slow writer:
			// this claim does not wait but locks its rows and skips those
			// others hold (the turn's transaction failed: it claimed
			// nothing), and so do this store's claims for a while, so a
			// stuck turn does not cost each of them the wait.
			s.noTurnsUntil.Store(time.Now().Add(claimTurnPause).UnixNano())
			res, err = readClaim(s.pool.Query(ctx, s.sql.cluster.claim, args...))
		}
	}
	if err != nil {
		return store.ClaimResult{}, fmt.Errorf("claim in queue %q: %w", p.Queue, mapErr(err))
	}
	return res, nil
}

// readClaim reads the rows of a claim statement (as pool.Query returns
// them).
func readClaim(rows pgx.Rows, err error) (store.ClaimResult, error) {
	if err != nil {
		return store.ClaimResult{}, err
	}
	defer rows.Close()
	var (
		res         store.ClaimResult
		clock, next pgtype.Timestamptz
	)
	for rows.Next() {
		// The id is the first task column: NULL in the one row of a claim
		// that took nothing.
		if rows.RawValues()[2] == nil {
			err = rows.Scan(append([]any{&clock, &next}, make([]any, taskColumnCount)...)...)
		} else {
			var t *store.Task
			if t, err = scanTaskAfter(rows, &clock, &next); err == nil {
				res.Tasks = append(res.Tasks, t)
			}
		}
		if err != nil {
			return store.ClaimResult{}, err
		}
	}
	if err := rows.Err(); err != nil {
		return store.ClaimResult{}, err
	}
	res.StoreNow, res.NextDue = fromTS(clock), fromTS(next)
	return res, nil
}

const (
	// claimTurnWait is how long a claim waits for its turn on the queue
	// (claimInTurn), and for any lock in it, before it claims without a
	// turn.
	claimTurnWait = 250 * time.Millisecond
	// claimTurnPause is how long the claims of a store take no turns after
	// one waited claimTurnWait in vain: a turn held by a paused node, or
	// one cut off from the server, can stay held for minutes.
	claimTurnPause = 5 * time.Second
)

// claimTurnTimeout is claimTurnWait as a lock_timeout setting.
var claimTurnTimeout = fmt.Sprintf("%dms", claimTurnWait.Milliseconds())

// claimInTurn runs the claim of args (sqlClaim's parameters) after the
// other claims of the queue that take turns, one at a time: it takes the
// queue's advisory transaction lock, then runs the claim that takes no row
// locks, in one implicit transaction (a pgx batch: one round trip). The
// claim's snapshot is taken after the lock is granted, so after the claim
// before it committed: it sees those rows taken and picks the next ones.
//
// Concurrent claims of the FOR UPDATE SKIP LOCKED kind each lock the rows
// they pick (a WAL record per row) and read past every row the others
// locked: at 4 nodes on a 2-core machine they cost 9.8 buffers and 245 WAL
// bytes per task against 4.8 and 164 in turns, and the PostgreSQL backends
// spent 50-62 ms of CPU per 1,000 tasks against 43-52 (BENCHMARKS.md).
// The update still re-checks each row, so a claim without a turn (a lone
// node's, or one that gave up waiting) never shares a row with one in its
// turn. A turn is held until its rows are sent, which a paused node could
// make long: the others wait for it at most claimTurnWait (lock_timeout),
// then claim without turns for claimTurnPause.
func (s *Store) claimInTurn(ctx context.Context, queue string, args []any) (store.ClaimResult, error) {
	batch := &pgx.Batch{}
	batch.Queue(s.sql.cluster.claimTurn, claimTurnTimeout, queueLockKey(s.schema, queue))
	batch.Queue(s.sql.cluster.claimAlone, args...)
	results := s.pool.SendBatch(ctx, batch)
	_, err := results.Exec()
	var res store.ClaimResult
	if err == nil {
		res, err = readClaim(results.Query())
	}
	// Close reads the end of the batch, where its transaction commits: a
	// claim whose commit failed took nothing.
	if cerr := results.Close(); err == nil && cerr != nil {
		return store.ClaimResult{}, cerr
	}
	return res, err
}

// isLockTimeout reports whether err is a lock wait that ran out of its
// lock_timeout.
func isLockTimeout(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == sqlLockNotAvailable
}

// Renew implements store.Cluster in one statement.
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
	ids := make([]pgtype.UUID, len(p.IDs))
	for i, id := range p.IDs {
		ids[i] = uuidArg(id)
	}
	rows, err := s.pool.Query(ctx, s.sql.cluster.renew, ids, p.Owner, max(micros(p.LeaseFor), 1))
	if err != nil {
		return nil, fmt.Errorf("renew %d leases: %w", len(p.IDs), mapErr(err))
	}
	defer rows.Close()
	held := make(map[uuid.UUID]bool, len(p.IDs))
	for rows.Next() {
		var id uuid.UUID
		if err := rows.Scan(uuidDest(&id)); err != nil {
			return nil, fmt.Errorf("renew %d leases: %w", len(p.IDs), mapErr(err))
		}
		held[id] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("renew %d leases: %w", len(p.IDs), mapErr(err))
	}
	return store.LostLeases(p.IDs, held), nil
}

// Rescue implements store.Cluster in one statement.
func (s *Store) Rescue(ctx context.Context, p store.RescueParams) ([]*store.Task, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	if err := p.Normalize(); err != nil {
		return nil, err
	}
	limit := p.Limit
	owners := p.Owners
	if owners == nil {
		owners = []string{}
	}
	rows, err := s.pool.Query(ctx, s.sql.cluster.rescue, owners, int64(limit),
		int32(min(p.MaxFailures, store.MaxRunCount)), p.PoisonError, ts(p.Now))
	if err != nil {
		return nil, fmt.Errorf("rescue: %w", mapErr(err))
	}
	tasks, err := scanTasks(rows, 0)
	if err != nil {
		return nil, fmt.Errorf("rescue: %w", mapErr(err))
	}
	return tasks, nil
}

// queueLockKey is the advisory lock of the claims of one queue: a 64-bit
// hash of the schema and the queue name, like nodeLockKey's, in another
// name space.
func queueLockKey(schema, queue string) int64 {
	h := fnv.New64a()
	h.Write([]byte("evertask/pgstore claims " + schema + "\x00" + queue))
	return int64(h.Sum64())
}

// nodeLockKey is the advisory lock of a node's liveness session: a 64-bit
// hash of the schema and the node id, so nodes of different schemas never
// share one.
func nodeLockKey(schema, nodeID string) int64 {
	h := fnv.New64a()
	h.Write([]byte("evertask/pgstore node " + schema + "\x00" + nodeID))
	return int64(h.Sum64())
}

// JoinCluster implements store.Cluster. The first call of a node takes a
// connection out of the pool for good and takes the node's advisory lock
// on it: the server releases the lock when that session ends, with the
// process or its machine, which is what Nodes reads. Every call refreshes
// the row and, in the same statement, checks in pg_locks that the session
// still holds the lock; when it died without the process (a server
// restart, a network cut the server noticed) the call opens another. The
// session itself carries no query after its lock, so a heartbeat that
// times out never closes it.
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
	key := nodeLockKey(s.schema, node.ID)
	s.sessionsMu.Lock()
	defer s.sessionsMu.Unlock()
	if s.closed.Load() {
		return store.ErrClosed
	}
	c := s.sessions[node.ID]
	if c == nil {
		if c, err = s.openSession(ctx, key); err != nil {
			return fmt.Errorf("join cluster as %s: %w", node.ID, err)
		}
		s.sessions[node.ID] = c
	}
	var held bool
	err = s.pool.QueryRow(ctx, s.sql.cluster.joinCluster, node.ID, node.Host, int64(node.PID), ts(node.StartedAt),
		string(qs), key, int64(c.PgConn().PID())).Scan(&held)
	if err != nil {
		return fmt.Errorf("join cluster as %s: %w", node.ID, mapErr(err))
	}
	if !held {
		closeConn(c)
		delete(s.sessions, node.ID)
		if c, err = s.openSession(ctx, key); err != nil {
			return fmt.Errorf("join cluster as %s: the liveness session ended: %w", node.ID, err)
		}
		s.sessions[node.ID] = c
	}
	return nil
}

// errNodeHeld is returned by JoinCluster when another session holds the
// node's lock: a live process already runs with that node id, or the
// server has not yet noticed that the previous one died.
var errNodeHeld = errors.New("another session holds the node's liveness lock (is a process with this node id running?)")

// openSession opens a node's liveness session: a connection out of the
// pool that holds the node's lock. Out of the pool, the pool can neither
// hand it to another caller nor wait for it when the application closes
// the pool.
func (s *Store) openSession(ctx context.Context, key int64) (*pgx.Conn, error) {
	pc, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, mapErr(err)
	}
	c := pc.Hijack()
	var a, b, d string
	var locked bool
	if err := c.QueryRow(ctx, s.sql.cluster.holdLiveness, key).Scan(&a, &b, &d, &locked); err != nil {
		closeConn(c)
		return nil, mapErr(err)
	}
	if !locked {
		closeConn(c)
		return nil, errNodeHeld
	}
	return c, nil
}

// LeaveCluster implements store.Cluster: the row goes first, then the
// session, so no other node sees this one gone while it is registered.
func (s *Store) LeaveCluster(ctx context.Context, nodeID string) error {
	if err := s.check(); err != nil {
		return err
	}
	_, err := s.pool.Exec(ctx, s.sql.cluster.leaveCluster, nodeID)
	s.sessionsMu.Lock()
	if c := s.sessions[nodeID]; c != nil {
		closeConn(c)
		delete(s.sessions, nodeID)
	}
	s.sessionsMu.Unlock()
	if err != nil {
		return fmt.Errorf("leave cluster as %s: %w", nodeID, mapErr(err))
	}
	return nil
}

// Nodes implements store.Cluster.
func (s *Store) Nodes(ctx context.Context) ([]store.Node, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, s.sql.cluster.nodes)
	if err != nil {
		return nil, fmt.Errorf("list nodes: %w", mapErr(err))
	}
	defer rows.Close()
	var out []store.Node
	for rows.Next() {
		var (
			n                  store.Node
			pid                int64
			started, heartbeat pgtype.Timestamptz
			queues             string
		)
		if err := rows.Scan(&n.ID, &n.Host, &pid, &started, &queues, &heartbeat, &n.Gone); err != nil {
			return nil, fmt.Errorf("list nodes: %w", mapErr(err))
		}
		if err := json.Unmarshal([]byte(queues), &n.Queues); err != nil {
			return nil, fmt.Errorf("list nodes: queues of %s: %w", n.ID, err)
		}
		n.PID, n.StartedAt, n.LastHeartbeat = int(pid), fromTS(started), fromTS(heartbeat)
		out = append(out, n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list nodes: %w", mapErr(err))
	}
	return out, nil
}

// maxChannelName is the longest channel name the server keeps (NAMEDATALEN
// - 1 bytes).
const maxChannelName = 63

// channelName is the notification channel of a schema's stores. A name
// too long for the server ends in a hash of the whole schema name, so two
// long schema names with a common prefix get different channels.
func channelName(schema string) string {
	name := "evertask." + schema
	if len(name) <= maxChannelName {
		return name
	}
	h := fnv.New64a()
	h.Write([]byte(schema))
	sum := strconv.FormatUint(h.Sum64(), 16)
	return name[:maxChannelName-1-len(sum)] + "." + sum
}

// maxNoticePayload is the longest payload pg_notify accepts: it must be
// shorter than 8000 bytes.
const maxNoticePayload = 7999

// noticePayloads packs notices into JSON arrays of at most
// maxNoticePayload bytes each, in order. A notice too long for a payload of
// its own is ErrInvalid.
func noticePayloads(notices []store.Notice) ([]string, error) {
	var (
		out []string
		buf []byte
	)
	for _, n := range notices {
		b, err := json.Marshal(n)
		if err != nil {
			return nil, fmt.Errorf("%w: notice %+v: %w", store.ErrInvalid, n, err)
		}
		if len(b)+2 > maxNoticePayload {
			return nil, fmt.Errorf("%w: notice of %d bytes, the limit is %d", store.ErrInvalid, len(b), maxNoticePayload-2)
		}
		if len(buf) > 0 && len(buf)+1+len(b)+1 > maxNoticePayload {
			out = append(out, string(append(buf, ']')))
			buf = buf[:0]
		}
		if len(buf) == 0 {
			buf = append(buf, '[')
		} else {
			buf = append(buf, ',')
		}
		buf = append(buf, b...)
	}
	if len(buf) > 0 {
		out = append(out, string(append(buf, ']')))
	}
	return out, nil
}

// Publish implements store.Notifier: the notices go out in as few
// pg_notify payloads as the payload limit allows, in one statement.
func (s *Store) Publish(ctx context.Context, notices []store.Notice) error {
	if err := s.check(); err != nil {
		return err
	}
	payloads, err := noticePayloads(notices)
	if err != nil || len(payloads) == 0 {
		return err
	}
	if _, err := s.pool.Exec(ctx, s.sql.cluster.publish, s.channel, payloads); err != nil {
		return fmt.Errorf("publish %d notices: %w", len(notices), mapErr(err))
	}
	return nil
}

// Subscription tuning: the channel's buffer, and the bounds of the wait
// between two attempts to listen again after the connection dropped.
const (
	noticeBuffer     = 256
	minListenBackoff = 100 * time.Millisecond
	maxListenBackoff = 5 * time.Second
)

// Subscribe implements store.Notifier. It listens on a connection of its
// own, taken out of the pool; when that connection drops it listens again
// on a new one, waiting longer after each failure (notices published
// meanwhile are lost, which the contract allows). The channel closes when
// ctx ends or the store is closed.
func (s *Store) Subscribe(ctx context.Context) (<-chan store.Notice, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	c, err := s.listen(ctx)
	if err != nil {
		return nil, fmt.Errorf("subscribe: %w", err)
	}
	out := make(chan store.Notice, noticeBuffer)
	go s.deliver(ctx, c, out)
	return out, nil
}

// listen opens a connection that listens on the store's channel.
func (s *Store) listen(ctx context.Context) (*pgx.Conn, error) {
	pc, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, mapErr(err)
	}
	c := pc.Hijack()
	if _, err := c.Exec(ctx, "LISTEN "+pgx.Identifier{s.channel}.Sanitize()); err != nil {
		closeConn(c)
		return nil, mapErr(err)
	}
	return c, nil
}

// deliver passes the notices of c to out until ctx ends or the store
// closes, listening again whenever the connection drops.
func (s *Store) deliver(ctx context.Context, c *pgx.Conn, out chan<- store.Notice) {
	defer close(out)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(s.life, cancel)()
	backoff := minListenBackoff
	for {
		n, err := c.WaitForNotification(ctx)
		if err == nil {
			backoff = minListenBackoff
			var notices []store.Notice
			if json.Unmarshal([]byte(n.Payload), &notices) != nil {
				continue // not ours: someone else's notify on the channel
			}
			for _, notice := range notices {
				select {
				case out <- notice:
				default: // a slow reader loses notices rather than stall the store
				}
			}
			continue
		}
		closeConn(c)
		for {
			timer := time.NewTimer(backoff)
			select {
			case <-ctx.Done():
				timer.Stop()
				return
			case <-timer.C:
			}
			if c, err = s.listen(ctx); err == nil {
				break
			}
			backoff = min(2*backoff, maxListenBackoff)
		}
	}
}

// PersistTx writes a new row inside the caller's transaction, as Persist
// does (same validation and errors), and sends a store.NoticeDue for its
// queue in the same transaction: the row and the notice become visible
// together when tx commits, and neither does when it rolls back. A task
// key another row holds gives store.ErrDuplicateKey, and an id that exists
// store.ErrInvalid, without failing tx: the caller may go on with it. Other
// errors from the server abort tx, as any failed statement does. A row
// that no node may claim (InProgress, or past its RunUntil) sends no
// notice.
func (s *Store) PersistTx(ctx context.Context, tx pgx.Tx, task *store.Task) error {
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
	var payload string
	if task.Claimable(task.DueAt()) {
		// A notice is a hint: one too long to send (an absurd queue name)
		// is left out rather than failing the write.
		if ps, err := noticePayloads([]store.Notice{{Kind: store.NoticeDue, Queue: task.Queue, At: store.NormalizeTime(task.DueAt())}}); err == nil {
			payload = ps[0]
		}
	}
	var (
		inserted, idHeld bool
		notified         int64
	)
	err := tx.QueryRow(ctx, s.sql.cluster.insertTx, append(taskArgs(task), s.channel, payload)...).Scan(&inserted, &notified, &idHeld)
	switch {
	case err != nil:
		return fmt.Errorf("persist task %s: %w", task.ID, mapErr(err))
	case inserted:
		return nil
	case idHeld:
		return fmt.Errorf("persist task %s: %w: a task with this id exists", task.ID, store.ErrInvalid)
	}
	return fmt.Errorf("persist task %s: %w", task.ID, store.ErrDuplicateKey)
}

// PersistClaimed implements store.ClaimingPersister in one statement: the
// rows as PersistMany writes them, already InProgress under the lease (the
// server's clock), and their audits.
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
	args := append(taskArrays(p.Tasks), p.Owner, p.LeaseFor.Microseconds())
	q := s.sql.cluster.insertClaimedBare
	for _, t := range p.Tasks {
		if len(store.ClaimedAudits(t.AuditLevel, t.Status)) > 0 {
			q, args = s.sql.cluster.insertClaimed, append(args, ts(p.Now))
			break
		}
	}
	if _, err := s.pool.Exec(ctx, q, args...); err != nil {
		return fmt.Errorf("persist %d claimed tasks: %w", len(p.Tasks), mapErr(err))
	}
	return nil
}
