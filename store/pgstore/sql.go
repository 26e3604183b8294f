package pgstore

import (
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/evertask/evertask/store"
	"github.com/evertask/evertask/store/internal/sqlread"
)

// The statements of the store. Each is a template in which {s} stands for
// the quoted schema identifier; newStatements fills it in once per Store.
// Values always travel as parameters, never in the text.

// taskColumns is the column order of every task read and write.
const taskColumns = `id, created_at, kind, payload, handler, queue, key, status, audit_level,
	scheduled_at, last_execution_at, execution_time_us, error, recurring, schedule, schedule_info,
	run_count, max_runs, run_until, next_run_at, recovery_failures, owner, lease_until, metadata`

// recoverableStatus is the status part of store.Recoverable, on the phase
// column (migration 002): written exactly as the predicate of
// tasks_recovery_idx so the planner can use that partial index for
// RetrievePending.
const recoverableStatus = `(phase = 'open'
	OR (recurring AND next_run_at IS NOT NULL AND phase IN ('Completed', 'Failed')))`

// recoverable is store.Recoverable in SQL, evaluated at the time now (a
// parameter reference): MaxRuns strict, a negative run count counts as 0,
// RunUntil equal to now still recoverable.
func recoverable(now string) string {
	return `((max_runs <= 0 OR greatest(run_count, 0) < max_runs)
	AND (run_until IS NULL OR run_until >= ` + now + `)
	AND ` + recoverableStatus + `)`
}

// storeClock is the store's clock of the cluster contract: the server's
// time when the expression is evaluated. Unlike now(), the start of the
// transaction, it stays exact in a statement that waited for a row lock,
// and a fence re-checked after such a wait reads the clock again.
const storeClock = `clock_timestamp()`

// leaseLive is store.Task.LeaseLive at the time now: the row runs under a
// lease nobody may take over. A missing lease_until is no lease.
func leaseLive(now string) string {
	return `(status = 'InProgress' AND owner <> '' AND coalesce(lease_until > ` + now + `, false))`
}

// holds is store.Task.Holds for a non-empty owner at the time now: the
// condition of every fenced write.
func holds(owner, now string) string {
	return `(status = 'InProgress' AND owner = ` + owner + ` AND coalesce(lease_until > ` + now + `, false))`
}

// statusAudit is store.StatusAuditRequired in SQL, for the statements that
// decide per row (a claim or a rescue writes rows of every audit level):
// None never, Minimal and ErrorsOnly for real errors only, Full always.
// TestStatusAuditSQL checks it against the Go policy.
func statusAudit(level, status, errText string) string {
	return `(CASE WHEN ` + level + ` = 3 THEN false
	WHEN ` + level + ` IN (1, 2) THEN ` + status + ` = 'Failed'
		OR (` + errText + ` <> '' AND ` + status + ` NOT IN ('ServiceStopped', 'Cancelled'))
	ELSE true END)`
}

// leaseSet are the lease columns of a transition to $to: a new lease when
// $owner is set (for $micros from the store's clock), kept by any other
// transition to InProgress, cleared by every transition out of it; a
// fenced write ($held set) that applies clears the recovery counter.
func leaseSet(to, owner, micros, held string) string {
	return `owner = CASE WHEN ` + owner + ` <> '' THEN ` + owner + ` WHEN ` + to + ` = 'InProgress' THEN owner ELSE '' END,
		lease_until = CASE WHEN ` + owner + ` <> '' THEN ` + storeClock + ` + ` + micros + ` * interval '1 microsecond'
			WHEN ` + to + ` = 'InProgress' THEN lease_until END,
		recovery_failures = CASE WHEN ` + held + ` <> '' THEN 0 ELSE recovery_failures END`
}

// leaseWhere are the lease conditions of a transition: IfRecoverable
// refuses a row whose lease is live, and $held fences the write.
func leaseWhere(ifrec, held string) string {
	return `(NOT ` + ifrec + ` OR NOT ` + leaseLive(storeClock) + `)
		AND (` + held + ` = '' OR ` + holds(held, storeClock) + `)`
}

// transitionManyParams zips the arrays of a TransitionMany into rows.
const transitionManyParams = `
	SELECT * FROM unnest($1::integer[], $2::uuid[], $3::text[], $4::boolean[], $5::boolean[],
		$6::timestamptz[], $7::bigint[], $8::text[], $9::text[], $10::boolean[], $11::boolean[],
		$12::text[], $13::bigint[], $14::text[])
		AS p(p_ord, p_id, p_to, p_stamp, p_terminal, p_now, p_exec, p_err, p_from, p_ifrec, p_audit,
			p_lease, p_lease_us, p_held)
	ORDER BY p_id`

// transitionManyUniformParams are the rows of a TransitionMany whose params
// differ only in id, time and execution time, the common batch (every
// outcome of a burst is Completed from InProgress under the same node): the
// rest comes once as scalars, so a row costs four array elements to encode
// and unnest instead of fourteen.
const transitionManyUniformParams = `
	SELECT p_ord, p_id, $5::text AS p_to, $6::boolean AS p_stamp, $7::boolean AS p_terminal, p_now, p_exec,
		$8::text AS p_err, $9::text AS p_from, $10::boolean AS p_ifrec, $11::boolean AS p_audit,
		$12::text AS p_lease, $13::bigint AS p_lease_us, $14::text AS p_held
	FROM unnest($1::integer[], $2::uuid[], $3::timestamptz[], $4::bigint[]) AS u(p_ord, p_id, p_now, p_exec)
	ORDER BY p_id`

// transitionManyUpdate is the conditional update of a TransitionMany.
const transitionManyUpdate = `
	UPDATE {s}.tasks SET status = p_to,
		last_execution_at = CASE WHEN p_stamp THEN p_now ELSE last_execution_at END,
		execution_time_us = CASE WHEN p_stamp THEN p_exec ELSE execution_time_us END,
		error = CASE WHEN p_terminal THEN p_err ELSE error END,
		{leaseSetP}
	FROM p
	WHERE id = p_id
		AND (p_from = '' OR status = ANY(string_to_array(p_from, ',')))
		AND (NOT p_ifrec OR {recoverableP})
		AND {leaseWhereP}`

// transitionManyAudited follows the params CTE p of a TransitionMany that
// writes status audits, transitionManyUnaudited one that writes none. The
// rows applied come back as one array, not a row each: a batch of 1,000
// was 1,000 messages to build, send and decode.
const (
	transitionManyAudited = `
), t AS (` + transitionManyUpdate + `
	RETURNING p_ord, id, p_now, p_to, p_err, p_audit, kind, p_exec
), a AS (
	INSERT INTO {s}.status_audits (task_id, at, status, error)
	SELECT id, p_now, p_to, p_err FROM t WHERE p_audit ORDER BY p_ord
), st AS (` + countOutcomesHead + transitionManyOutcomes + countOutcomesTail + `
)
SELECT array_agg(p_ord) FROM t`
	transitionManyUnaudited = `
), t AS (` + transitionManyUpdate + `
	RETURNING p_ord, kind, p_now, p_to, p_exec
), st AS (` + countOutcomesHead + transitionManyOutcomes + countOutcomesTail + `
)
SELECT array_agg(p_ord) FROM t`
)

// saturatedRunCount is RunCount+1 stopping at store.MaxRunCount.
const saturatedRunCount = `CASE WHEN run_count >= 2147483647 THEN 2147483647 ELSE greatest(run_count, 0) + 1 END`

const (
	sqlInsert = `INSERT INTO {s}.tasks (` + taskColumns + `)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24)`

	sqlInsertMany = `INSERT INTO {s}.tasks (` + taskColumns + `)
SELECT * FROM unnest($1::uuid[], $2::timestamptz[], $3::text[], $4::bytea[], $5::text[], $6::text[],
	$7::text[], $8::text[], $9::smallint[], $10::timestamptz[], $11::timestamptz[], $12::bigint[],
	$13::text[], $14::boolean[], $15::bytea[], $16::text[], $17::integer[], $18::integer[],
	$19::timestamptz[], $20::timestamptz[], $21::integer[], $22::text[], $23::timestamptz[], $24::jsonb[])`

	sqlUpdateDefinition = `UPDATE {s}.tasks SET kind = $2, payload = $3, handler = $4, queue = $5, key = $6,
	audit_level = $7, scheduled_at = $8, recurring = $9, schedule = $10, schedule_info = $11,
	max_runs = $12, run_until = $13, next_run_at = $14, metadata = $15
WHERE id = $1`

	sqlRemove             = `DELETE FROM {s}.tasks WHERE id = $1`
	sqlRemoveStatusAudits = `DELETE FROM {s}.status_audits WHERE task_id = $1`
	sqlRemoveRunsAudits   = `DELETE FROM {s}.runs_audits WHERE task_id = $1`
	sqlGet                = `SELECT ` + taskColumns + ` FROM {s}.tasks WHERE id = $1`
	sqlGetByKey           = `SELECT ` + taskColumns + ` FROM {s}.tasks WHERE key = $1`
	sqlRunCount           = `SELECT run_count FROM {s}.tasks WHERE id = $1`

	// $1 id, $2 target status, $3 whether to stamp LastExecutionAt and
	// ExecutionTime, $4 whether to write Error, $5 now, $6 execution µs,
	// $7 error, $8 the From set (empty: any), $9 IfRecoverable, $10 the audit
	// decision made in Go, $11 the owner of a new lease (empty: none), $12
	// its length in µs, $13 the fence (empty: none). The second column tells
	// "not applied" from "not found"; its existence probe runs only when the
	// update did not apply.
	sqlTransition = `WITH t AS (
	UPDATE {s}.tasks SET status = $2::text,
		last_execution_at = CASE WHEN $3::boolean THEN $5::timestamptz ELSE last_execution_at END,
		execution_time_us = CASE WHEN $3::boolean THEN $6::bigint ELSE execution_time_us END,
		error = CASE WHEN $4::boolean THEN $7::text ELSE error END,
		` + "{leaseSet}" + `
	WHERE id = $1::uuid
		AND (cardinality($8::text[]) = 0 OR status = ANY($8::text[]))
		AND (NOT $9::boolean OR ` + "{recoverable5}" + `)
		AND ` + "{leaseWhere}" + `
	RETURNING id, kind
), a AS (
	INSERT INTO {s}.status_audits (task_id, at, status, error)
	SELECT id, $5::timestamptz, $2::text, $7::text FROM t WHERE $10::boolean
), st AS (` + countOutcomesHead + `SELECT $5::timestamptz AS s_at, kind AS s_kind, $2::text AS s_status, 1 AS s_n, $6::bigint AS s_us FROM t` + countOutcomesTail + `
)
SELECT EXISTS (SELECT 1 FROM t), CASE WHEN EXISTS (SELECT 1 FROM t) THEN true
	ELSE EXISTS (SELECT 1 FROM {s}.tasks WHERE id = $1::uuid) END`

	// One statement for a whole batch: the arrays are zipped into rows,
	// sorted by id so concurrent batches lock rows in the same order, and
	// the audits are inserted in the order of the params.
	sqlTransitionMany = `WITH p AS (` + transitionManyParams + transitionManyAudited

	// The same for a batch that audits nothing (the audit level None, and
	// the steps Minimal and ErrorsOnly leave out): no audit CTE to feed.
	sqlTransitionManyUnaudited = `WITH p AS (` + transitionManyParams + transitionManyUnaudited

	// Both again for a uniform batch (transitionManyUniformParams).
	sqlTransitionManyUniform          = `WITH p AS (` + transitionManyUniformParams + transitionManyAudited
	sqlTransitionManyUniformUnaudited = `WITH p AS (` + transitionManyUniformParams + transitionManyUnaudited

	// $1 id, $2 status, $3 now, $4 execution µs, $5 error, $6 next run,
	// $7 status audit, $8 runs audit, $9 the fence (empty: none). The run
	// ends InProgress, so the lease goes.
	sqlCompleteRun = `WITH t AS (
	UPDATE {s}.tasks SET status = $2::text, last_execution_at = $3::timestamptz,
		execution_time_us = $4::bigint, error = $5::text,
		run_count = ` + saturatedRunCount + `, next_run_at = $6::timestamptz,
		owner = '', lease_until = NULL,
		recovery_failures = CASE WHEN $9::text <> '' THEN 0 ELSE recovery_failures END
	WHERE id = $1::uuid AND status = 'InProgress'
		AND ($9::text = '' OR ` + "{holds9}" + `)
	RETURNING id, kind
), a AS (
	INSERT INTO {s}.status_audits (task_id, at, status, error)
	SELECT id, $3::timestamptz, $2::text, $5::text FROM t WHERE $7::boolean
), st AS (` + countOutcomesHead + `SELECT $3::timestamptz AS s_at, kind AS s_kind, $2::text AS s_status, 1 AS s_n, $4::bigint AS s_us FROM t` + countOutcomesTail + `
), r AS (
	INSERT INTO {s}.runs_audits (task_id, executed_at, execution_time_us, status, error)
	SELECT id, $3::timestamptz, $4::bigint, $2::text, $5::text FROM t WHERE $8::boolean
)
SELECT EXISTS (SELECT 1 FROM t), CASE WHEN EXISTS (SELECT 1 FROM t) THEN true
	ELSE EXISTS (SELECT 1 FROM {s}.tasks WHERE id = $1::uuid) END`

	// The runs audit depends on the row's status and error, so the policy
	// is split: $5 audits every run (Full, Minimal), $6 only failed or
	// erroneous ones (ErrorsOnly).
	sqlUpdateRun = `WITH t AS (
	UPDATE {s}.tasks SET run_count = ` + saturatedRunCount + `, next_run_at = $2::timestamptz
	WHERE id = $1::uuid
	RETURNING id, status, error
), r AS (
	INSERT INTO {s}.runs_audits (task_id, executed_at, execution_time_us, status, error)
	SELECT id, $3::timestamptz, $4::bigint, status, error FROM t
	WHERE $5::boolean OR ($6::boolean AND (status = 'Failed' OR error <> ''))
)
SELECT count(*) FROM t`

	sqlEndSeries = `WITH t AS (
	UPDATE {s}.tasks SET status = $2::text, error = $3::text, next_run_at = NULL,
		owner = '', lease_until = NULL
	WHERE id = $1::uuid AND status <> 'Cancelled'
	RETURNING id
), a AS (
	INSERT INTO {s}.status_audits (task_id, at, status, error)
	SELECT id, $4::timestamptz, $2::text, $3::text FROM t WHERE $5::boolean
)
SELECT EXISTS (SELECT 1 FROM t), CASE WHEN EXISTS (SELECT 1 FROM t) THEN true
	ELSE EXISTS (SELECT 1 FROM {s}.tasks WHERE id = $1::uuid) END`

	sqlIncRecovery = `UPDATE {s}.tasks SET recovery_failures = least(recovery_failures, 2147483646) + 1
WHERE id = $1 RETURNING recovery_failures`
	sqlClearRecovery = `UPDATE {s}.tasks SET recovery_failures = 0 WHERE id = $1`

	// $1 after created, $2 after id, $3 created before (infinity: none),
	// $4 now, $5 limit.
	sqlPending = `SELECT ` + taskColumns + ` FROM {s}.tasks
WHERE (created_at, id) > ($1::timestamptz, $2::uuid) AND created_at < $3::timestamptz
	AND ` + "{recoverable4}" + `
ORDER BY created_at, id
LIMIT $5`

	sqlSaveLogs = `INSERT INTO {s}.execution_logs (id, task_id, at, level, message, error_details, seq)
SELECT l.id, $1::uuid, l.at, l.level, l.message, l.details, l.seq
FROM unnest($2::uuid[], $3::timestamptz[], $4::text[], $5::text[], $6::text[], $7::integer[])
	WITH ORDINALITY AS l(id, at, level, message, details, seq, ord)
ORDER BY l.ord`

	// Retention deletes at most $2 rows per statement ($3 for tasks). The
	// ids are collected with = ANY(ARRAY(...)) rather than IN (SELECT ...):
	// with a LIMIT parameter the generic plan of IN is a hash semi join over
	// the whole table; ANY over an array stays a primary key lookup.
	sqlPurgeStatusAll    = `DELETE FROM {s}.status_audits WHERE id = ANY(ARRAY(SELECT id FROM {s}.status_audits WHERE at < $1 LIMIT $2))`
	sqlPurgeStatusOK     = `DELETE FROM {s}.status_audits WHERE id = ANY(ARRAY(SELECT id FROM {s}.status_audits WHERE at < $1 AND error = '' LIMIT $2))`
	sqlPurgeStatusErrors = `DELETE FROM {s}.status_audits WHERE id = ANY(ARRAY(SELECT id FROM {s}.status_audits WHERE at < $1 AND error <> '' LIMIT $2))`
	sqlPurgeRunsAll      = `DELETE FROM {s}.runs_audits WHERE id = ANY(ARRAY(SELECT id FROM {s}.runs_audits WHERE executed_at < $1 LIMIT $2))`
	sqlPurgeRunsOK       = `DELETE FROM {s}.runs_audits WHERE id = ANY(ARRAY(SELECT id FROM {s}.runs_audits WHERE executed_at < $1 AND error = '' LIMIT $2))`
	sqlPurgeRunsErrors   = `DELETE FROM {s}.runs_audits WHERE id = ANY(ARRAY(SELECT id FROM {s}.runs_audits WHERE executed_at < $1 AND error <> '' LIMIT $2))`
	sqlPurgeLogs         = `DELETE FROM {s}.execution_logs WHERE pk = ANY(ARRAY(SELECT pk FROM {s}.execution_logs WHERE at < $1 LIMIT $2))`
	// The audits go with their tasks (they have no foreign key: migration
	// 002); the logs through theirs. A finished one-shot gets no new audit,
	// so none can slip in behind the delete.
	sqlPurgeTasks = `WITH d AS (
	DELETE FROM {s}.tasks WHERE id = ANY(ARRAY(SELECT id FROM {s}.tasks
		WHERE phase = ANY($1::text[]) AND status = ANY($1::text[]) AND NOT recurring
			AND coalesce(last_execution_at, created_at) < $2 LIMIT $3))
	RETURNING id
), sa AS (
	DELETE FROM {s}.status_audits WHERE task_id IN (SELECT id FROM d)
), ra AS (
	DELETE FROM {s}.runs_audits WHERE task_id IN (SELECT id FROM d)
)
SELECT count(*) FROM d`
)

// statements holds the statement texts of one Store, schema filled in.
type statements struct {
	insert, insertMany, updateDefinition, remove, get, getByKey, runCount                  string
	removeStatusAudits, removeRunsAudits                                                   string
	transition, transitionMany, transitionManyUnaudited, completeRun, updateRun, endSeries string
	transitionManyUniform, transitionManyUniformUnaudited                                  string
	incRecovery, clearRecovery                                                             string
	pending, saveLogs                                                                      string
	purgeStatusAll, purgeStatusOK, purgeStatusErrors                                       string
	purgeRunsAll, purgeRunsOK, purgeRunsErrors, purgeLogs, purgeTasks                      string
	overview, purgeStats                                                                   string
	cluster                                                                                clusterStatements
	attempts                                                                               attemptStatements
}

// newStatements fills the templates with the quoted schema identifier q
// (from quoteSchema, never raw input).
func newStatements(q string) statements {
	r := strings.NewReplacer(
		"{s}", q,
		"{recoverable4}", recoverable("$4::timestamptz"),
		"{recoverable5}", recoverable("$5::timestamptz"),
		"{recoverableP}", recoverable("p_now"),
		"{leaseSet}", leaseSet("$2::text", "$11::text", "$12::bigint", "$13::text"),
		"{leaseWhere}", leaseWhere("$9::boolean", "$13::text"),
		"{holds9}", holds("$9::text", storeClock),
		"{leaseSetP}", leaseSet("p_to", "p_lease", "p_lease_us", "p_held"),
		"{leaseWhereP}", leaseWhere("p_ifrec", "p_held"),
	)
	f := r.Replace
	return statements{
		insert: f(sqlInsert), insertMany: f(sqlInsertMany), updateDefinition: f(sqlUpdateDefinition),
		remove: f(sqlRemove), removeStatusAudits: f(sqlRemoveStatusAudits), removeRunsAudits: f(sqlRemoveRunsAudits), get: f(sqlGet), getByKey: f(sqlGetByKey), runCount: f(sqlRunCount),
		transition: f(sqlTransition), transitionMany: f(sqlTransitionMany), transitionManyUnaudited: f(sqlTransitionManyUnaudited), completeRun: f(sqlCompleteRun),
		transitionManyUniform: f(sqlTransitionManyUniform), transitionManyUniformUnaudited: f(sqlTransitionManyUniformUnaudited),
		updateRun: f(sqlUpdateRun), endSeries: f(sqlEndSeries),
		incRecovery: f(sqlIncRecovery), clearRecovery: f(sqlClearRecovery),
		pending: f(sqlPending), saveLogs: f(sqlSaveLogs),
		purgeStatusAll: f(sqlPurgeStatusAll), purgeStatusOK: f(sqlPurgeStatusOK), purgeStatusErrors: f(sqlPurgeStatusErrors),
		purgeRunsAll: f(sqlPurgeRunsAll), purgeRunsOK: f(sqlPurgeRunsOK), purgeRunsErrors: f(sqlPurgeRunsErrors),
		purgeLogs: f(sqlPurgeLogs), purgeTasks: f(sqlPurgeTasks),
		overview: f(sqlOverview), purgeStats: f(sqlPurgeStats),
		cluster:  newClusterStatements(f),
		attempts: newAttemptStatements(q),
	}
}

// newDialect is the SQL of the reads sqlread builds (List, the counts, the
// history), on the tables of the schema q.
func newDialect(q string) sqlread.Dialect {
	return sqlread.Dialect{
		Numbered: true,
		Tables: sqlread.Tables{Tasks: q + ".tasks", StatusAudits: q + ".status_audits", RunsAudits: q + ".runs_audits",
			Logs: q + ".execution_logs", Attempts: q + ".attempts"},
		TaskColumns: taskColumns,
		Key:         "key", Error: "error", LogOrder: "id, seq, pk",
		StatusArray: "status = ANY({statuses}::text[])",
		// strpos matches plain text, so % _ and \ in the search are
		// literal; lower() folds case by the database's ctype.
		Search: "(strpos(lower(kind), lower({needle}::text)) > 0 OR strpos(lower(handler), lower({needle}::text)) > 0" +
			" OR strpos(lower(coalesce(key, '')), lower({needle}::text)) > 0)",
		Level: "({level}::text = '' OR lower(level) = lower({level}::text))",
		After: "(created_at, id) {cmp} ({at}::timestamptz, {id}::uuid)",
		Until: "(created_at, id) {cmp}= ({at}::timestamptz, {id}::uuid)",
		Plan:  listPlan,
		Time:  tsArg, Cursor: tsArg,
		ID:       func(id uuid.UUID) any { return uuidArg(id) },
		TimeDest: func(t *time.Time) any { return tsDest{t} },
		IDDest:   func(id *uuid.UUID) any { return uuidDest(id) },
	}
}

// listPlan puts the phase of the statuses first when they share one:
// equality on the phase lets the (phase, created_at, id) index return rows
// in keyset order (ANY over several phases cannot), and as a literal it lets
// the planner use the indexes partial on phase = 'open', whatever plan it
// caches.
func listPlan(f *store.Filter) (hint, cond string) {
	if len(f.Statuses) == 0 {
		return "", ""
	}
	p := phaseOf(f.Statuses[0])
	for _, st := range f.Statuses[1:] {
		if phaseOf(st) != p {
			return "", ""
		}
	}
	if p == "" {
		return "", ""
	}
	return "", "phase = '" + p + "'"
}

// phaseOf is the phase column of a status, as migration 002 computes it:
// "open" for the statuses a row passes through before it finishes, else
// the status; "" for a status the store does not know (never written into
// SQL text then).
func phaseOf(st store.Status) string {
	switch {
	case st.Open():
		return "open"
	case st.Valid():
		return string(st)
	}
	return ""
}

func tsArg(t time.Time) any { return ts(t) }

// tsDest is where a scan writes a time column: NULL is the zero time.
type tsDest struct{ t *time.Time }

// ScanTimestamptz implements pgtype.TimestamptzScanner.
func (d tsDest) ScanTimestamptz(v pgtype.Timestamptz) error {
	*d.t = fromTS(v)
	return nil
}
