package sqlitestore

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/evertask/evertask/store"
)

// Batches run as multi-row statements: one statement per chunk instead of
// one per row removes most of the per-statement cost (database/sql, binding,
// VDBE start and halt), which is about half of a small write. Chunk sizes
// are fixed so each statement text is prepared once and reused: a batch of
// 100 runs as 64+16+16+4.
var chunkSizes = [...]int{256, 64, 16, 4, 1}

// chunks splits n into the fixed chunk sizes, largest first.
func chunks(n int) []int {
	var out []int
	for _, size := range chunkSizes {
		for ; n >= size; n -= size {
			out = append(out, size)
		}
	}
	return out
}

// batchStmts are the multi-row statements by kind and chunk size. They are
// prepared at Open: preparing on the writer pool inside a transaction would
// wait forever for the one connection the transaction holds.
type batchStmts struct {
	stmts map[batchKey]*sql.Stmt
}

type batchKey struct {
	kind string
	size int
}

const (
	batchInsertTasks  = "insertTasks"
	batchTransitions  = "transitions"
	batchStatusAudits = "statusAudits"
)

func prepareBatch(ctx context.Context, db *sql.DB) (*batchStmts, error) {
	b := &batchStmts{stmts: map[batchKey]*sql.Stmt{}}
	for kind, build := range map[string]func(int) string{
		batchInsertTasks:  insertTasksSQL,
		batchTransitions:  transitionsSQL,
		batchStatusAudits: insertStatusAuditsSQL,
	} {
		for _, size := range chunkSizes {
			st, err := db.PrepareContext(ctx, build(size))
			if err != nil {
				b.close()
				return nil, fmt.Errorf("prepare %s x%d: %w", kind, size, err)
			}
			b.stmts[batchKey{kind, size}] = st
		}
	}
	return b, nil
}

// stmt returns the prepared statement, bound to tx.
func (b *batchStmts) stmt(ctx context.Context, tx *sql.Tx, kind string, size int) *sql.Stmt {
	return tx.StmtContext(ctx, b.stmts[batchKey{kind, size}])
}

// single returns the one-row statement of kind, for use outside a
// transaction.
func (b *batchStmts) single(kind string) *sql.Stmt { return b.stmts[batchKey{kind, 1}] }

func (b *batchStmts) close() {
	if b == nil {
		return
	}
	for _, st := range b.stmts {
		st.Close()
	}
}

// repeatRows returns n copies of row joined by commas: the VALUES list of a
// multi-row statement. Only placeholders, never values, go in it.
func repeatRows(row string, n int) string {
	return strings.TrimSuffix(strings.Repeat(row+",", n), ",")
}

func insertTasksSQL(n int) string {
	return `INSERT INTO tasks (` + taskColumns + `) VALUES ` +
		repeatRows(`(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, n)
}

// The transition statement in two parts around the FROM of the batch form.
// It applies one store.TransitionParams per parameter row p: p_from is a
// comma-framed status list (",Queued,InProgress,"; empty for no condition),
// p_recoverable switches the predicate on, p_stamp and p_terminal say which
// fields the target status writes. The lease fields follow
// TransitionParams.ApplyAt: p_keep_lease (a move to InProgress without a
// Lease) keeps owner and lease_until, any other row writes p_owner and
// p_lease (the claim of a Lease, or no owner and NULL: leaving InProgress
// clears them); p_held is the fence, evaluated at the store's clock
// p_clock. The conditions live in the UPDATE itself, so no writer slips
// between check and write.
const (
	transitionSet = `UPDATE tasks SET
    status = p_to,
    last_execution_at = CASE WHEN p_stamp THEN p_at ELSE last_execution_at END,
    execution_time_us = CASE WHEN p_stamp THEN p_exec_us ELSE execution_time_us END,
    error = CASE WHEN p_terminal THEN p_error ELSE error END,
    owner = CASE WHEN p_keep_lease THEN owner ELSE p_owner END,
    lease_until = CASE WHEN p_keep_lease THEN lease_until ELSE p_lease END,
    recovery_failures = CASE WHEN p_held = '' THEN recovery_failures ELSE 0 END`
	transitionWhere = `WHERE tasks.id = p_id
  AND (p_from = '' OR instr(p_from, ',' || status || ',') > 0)
  AND (p_recoverable = 0 OR ((` + recoverableSQL + `) AND NOT ` + leaseLiveSQL + `))
  AND (p_held = '' OR (owner = p_held AND ` + leaseLiveSQL + `))`
	transitionParams = `p_id, p_to, p_stamp, p_at, p_exec_us, p_terminal, p_error, p_from, p_recoverable, p_now,
    p_keep_lease, p_owner, p_lease, p_held, p_clock`

	// leaseLiveSQL is Task.LeaseLive at the store's clock p_clock. A NULL
	// lease_until is no lease: the IS NOT NULL keeps the term false rather
	// than NULL, which NOT would leave NULL.
	leaseLiveSQL = `(status = 'InProgress' AND owner <> '' AND lease_until IS NOT NULL AND lease_until > p_clock)`
)

// transitionSQL is the single-row form, the p_ names bound as numbered
// parameters in transitionRow's order: a plain UPDATE by primary key. It
// names stats_hook, so the trigger tasks_stats counts a transition to
// Completed or Failed it applies (migration 008).
var transitionSQL = strings.NewReplacer(
	"p_id", "?1", "p_to", "?2", "p_stamp", "?3", "p_at", "?4", "p_exec_us", "?5",
	"p_terminal", "?6", "p_error", "?7", "p_from", "?8", "p_recoverable", "?9", "@now", "?10",
	"p_keep_lease", "?11", "p_owner", "?12", "p_lease", "?13", "p_held", "?14", "p_clock", "?15",
).Replace(transitionSet + ",\n    stats_hook = NULL\n" + transitionWhere)

// transitionArgs is the number of parameters of one transition row.
const transitionArgs = 15

// transitionsSQL applies n rows of parameters at once, joined by id. The
// caller guarantees distinct ids, so each row is updated at most once, as a
// loop of single transitions would. RETURNING reports the rows that changed
// (it may only name the updated table, hence the id), with their kind for
// the counters of task_stats: it does not name stats_hook, the caller
// counts the batch (see statsCounts).
func transitionsSQL(n int) string {
	return `WITH p (` + transitionParams + `) AS (VALUES ` +
		repeatRows(`(`+strings.TrimSuffix(strings.Repeat("?, ", transitionArgs), ", ")+`)`, n) + `)
` + transitionSet + `
FROM p
` + strings.ReplaceAll(transitionWhere, "@now", "p_now") + `
RETURNING tasks.id, tasks.kind`
}

func insertStatusAuditsSQL(n int) string {
	return `INSERT INTO status_audits (task_id, at, status, error) VALUES ` + repeatRows(`(?, ?, ?, ?)`, n)
}

// persistMany inserts the tasks in chunked multi-row statements on tx.
func (s *Store) persistMany(ctx context.Context, tx *sql.Tx, tasks []*store.Task) error {
	args := make([]any, 0, 24*min(len(tasks), chunkSizes[0]))
	for _, size := range chunks(len(tasks)) {
		args = args[:0]
		for _, t := range tasks[:size] {
			args = append(args, insertArgs(t)...)
		}
		if _, err := s.batch.stmt(ctx, tx, batchInsertTasks, size).ExecContext(ctx, args...); err != nil {
			if size == 1 {
				return fmt.Errorf("persist task %s: %w", tasks[0].ID, mapErr(err))
			}
			return fmt.Errorf("persist %d tasks from %s: %w", size, tasks[0].ID, mapErr(err))
		}
		tasks = tasks[size:]
	}
	return nil
}

// transitionMany applies params with distinct ids on tx, a chunk per
// statement, then writes the audits of the applied ones and counts their
// outcomes in stats. clock is the store's clock of the lease fields.
func (s *Store) transitionMany(ctx context.Context, tx *sql.Tx, params []store.TransitionParams, applied []bool, clock time.Time, stats *statsCounts) error {
	index := make(map[uuid.UUID]int, len(params))
	for i := range params {
		index[params[i].ID] = i
	}
	args := make([]any, 0, transitionArgs*min(len(params), chunkSizes[0]))
	off := 0
	for _, size := range chunks(len(params)) {
		args = args[:0]
		for i := off; i < off+size; i++ {
			args = append(args, transitionRow(&params[i], clock)...)
		}
		rows, err := s.batch.stmt(ctx, tx, batchTransitions, size).QueryContext(ctx, args...)
		if err != nil {
			return err
		}
		for rows.Next() {
			var id []byte
			var kind string
			if err := rows.Scan(&id, &kind); err != nil {
				rows.Close()
				return err
			}
			i := index[uuid.UUID(id)]
			applied[i] = true
			stats.add(kind, params[i].To, params[i].Now, params[i].ExecutionTime)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		off += size
	}

	var audits []statusAudit
	for i := range params {
		if p := &params[i]; applied[i] && store.StatusAuditRequired(p.AuditLevel, p.To, p.Error) {
			audits = append(audits, statusAudit{p.ID, p.Now, p.To, p.Error})
		}
	}
	return s.insertStatusAudits(ctx, tx, audits)
}

// statusAudit is one status audit row to write.
type statusAudit struct {
	taskID uuid.UUID
	at     time.Time
	status store.Status
	err    string
}

// insertStatusAudits writes the audits on tx in chunked multi-row
// statements, in order, so their ids increase as they are listed.
func (s *Store) insertStatusAudits(ctx context.Context, tx *sql.Tx, audits []statusAudit) error {
	args := make([]any, 0, 4*min(len(audits), chunkSizes[0]))
	for _, size := range chunks(len(audits)) {
		args = args[:0]
		for i := range size {
			a := &audits[i] // by pointer: a copy's id would escape to the heap
			args = append(args, a.taskID[:], a.at.UnixMicro(), string(a.status), a.err)
		}
		if _, err := s.batch.stmt(ctx, tx, batchStatusAudits, size).ExecContext(ctx, args...); err != nil {
			return err
		}
		audits = audits[size:]
	}
	return nil
}

// transitionRow is one parameter row of transitionsSQL, in its column
// order, with clock the store's clock for the lease fields.
func transitionRow(p *store.TransitionParams, clock time.Time) []any {
	keep := p.To == store.StatusInProgress && p.Lease == nil
	owner, lease := "", any(nil)
	if p.Lease != nil {
		owner, lease = p.Lease.Owner, clock.Add(p.Lease.For).UnixMicro()
	}
	return []any{
		p.ID[:], string(p.To), boolInt(store.StampsLastExecution(p.To)), p.Now.UnixMicro(),
		p.ExecutionTime.Microseconds(), boolInt(p.To.Terminal()), p.Error, fromList(p.From),
		boolInt(p.IfRecoverable), p.Now.UnixMicro(),
		boolInt(keep), owner, lease, p.HeldBy, clock.UnixMicro(),
	}
}

// fromList frames the statuses as ",A,B," for the instr test of the
// transition statements; empty means no condition.
func fromList(from []store.Status) string {
	if len(from) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteByte(',')
	for _, st := range from {
		b.WriteString(string(st))
		b.WriteByte(',')
	}
	return b.String()
}

// distinctIDs reports whether no id repeats in params.
func distinctIDs(params []store.TransitionParams) bool {
	seen := make(map[uuid.UUID]struct{}, len(params))
	for i := range params {
		if _, dup := seen[params[i].ID]; dup {
			return false
		}
		seen[params[i].ID] = struct{}{}
	}
	return true
}
