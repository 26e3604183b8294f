package mysqlstore

import (
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/evertask/evertask/store"
	"github.com/evertask/evertask/store/internal/sqlread"
)

// The statements of the store are templates in which {tasks} and the other
// table placeholders stand for the quoted table names; newStatements fills
// them in once per Store. Values always travel as parameters, never in the
// text; the only text built per call is a list of placeholders (?, ?, ...)
// sized to a batch.

// taskColumns is the column order of every task read and write.
const taskColumns = `id, created_at, kind, payload, handler, queue, task_key, status, audit_level,
	scheduled_at, last_execution_at, execution_time_us, error_text, recurring, schedule_json, schedule_info,
	run_count, max_runs, run_until, next_run_at, recovery_failures, owner, lease_until, metadata`

// taskColumnCount is the number of columns in taskColumns.
const taskColumnCount = 24

// storeClock is the store's clock of the cluster contract: the server's UTC
// time, whatever the session time zone. It is the time the statement
// started, also in a statement that waited for a row lock: see doc.go for
// why that is safe for the lease rules.
const storeClock = `UTC_TIMESTAMP(6)`

// recoverable is store.Recoverable in SQL at the time now (an expression),
// on the live column that holds its status part: MaxRuns strict, a negative
// run count counts as 0, RunUntil equal to now still recoverable.
func recoverable(now string) string {
	return `(live = 1 AND (max_runs <= 0 OR GREATEST(run_count, 0) < max_runs)
	AND (run_until IS NULL OR run_until >= ` + now + `))`
}

const (
	sqlInsert = `INSERT INTO {tasks} (` + taskColumns + `) VALUES `
	sqlGet    = `SELECT ` + taskColumns + ` FROM {tasks} WHERE id = ?`
	sqlGetKey = `SELECT ` + taskColumns + ` FROM {tasks} WHERE task_key = ?`
	sqlExists = `SELECT 1 FROM {tasks} WHERE id = ?`

	sqlUpdateDefinition = `UPDATE {tasks} SET kind = ?, payload = ?, handler = ?, queue = ?, task_key = ?,
	audit_level = ?, scheduled_at = ?, recurring = ?, schedule_json = ?, schedule_info = ?,
	max_runs = ?, run_until = ?, next_run_at = ?, metadata = ?
WHERE id = ?`

	sqlRemove             = `DELETE FROM {tasks} WHERE id = ?`
	sqlRemoveStatusAudits = `DELETE FROM {status_audits} WHERE task_id = ?`
	sqlRemoveRunsAudits   = `DELETE FROM {runs_audits} WHERE task_id = ?`
	sqlRunCount           = `SELECT run_count FROM {tasks} WHERE id = ?`

	// The rows of a compound step, locked, with the store's clock; the ids
	// follow as a placeholder list. Rows are locked in primary key order
	// (the scan's), so two batches over the same rows never deadlock.
	sqlLockRows = `SELECT ` + storeClock + `, ` + taskColumns + ` FROM {tasks} WHERE id IN `

	// The write-back of a compound step: the columns a step may change, for
	// each row, as one multi-row INSERT that meets the existing row (locked
	// by the step) on its primary key and updates it. Both MySQL 8 and
	// MariaDB take it; it parses far cheaper than an UPDATE over a derived
	// table of a SELECT per row. (MySQL 8.0.20+ warns that VALUES() is
	// deprecated there; it still works, and MariaDB knows no other form.)
	sqlWriteBack = `INSERT INTO {tasks} (id, created_at, kind, status, last_execution_at, execution_time_us, error_text,
	run_count, next_run_at, recovery_failures, owner, lease_until) VALUES `
	sqlWriteBackSet = ` ON DUPLICATE KEY UPDATE status = VALUES(status), last_execution_at = VALUES(last_execution_at),
	execution_time_us = VALUES(execution_time_us), error_text = VALUES(error_text), run_count = VALUES(run_count),
	next_run_at = VALUES(next_run_at), recovery_failures = VALUES(recovery_failures), owner = VALUES(owner),
	lease_until = VALUES(lease_until)`
	writeBackWidth = 12

	sqlInsertStatusAudits = `INSERT INTO {status_audits} (task_id, at, status, error_text) VALUES `
	sqlInsertRunsAudits   = `INSERT INTO {runs_audits} (task_id, executed_at, execution_time_us, status, error_text) VALUES `

	sqlIncRecovery = `UPDATE {tasks} SET recovery_failures = LAST_INSERT_ID(LEAST(recovery_failures, 2147483646) + 1) WHERE id = ?`
	sqlRecovery    = `SELECT recovery_failures FROM {tasks} WHERE id = ?`
	sqlClearRecov  = `UPDATE {tasks} SET recovery_failures = 0 WHERE id = ?`

	// ? after created, after created, after id, created before, now, limit.
	sqlPending = `SELECT ` + taskColumns + ` FROM {tasks}
WHERE live = 1 AND (created_at > ? OR (created_at = ? AND id > ?)) AND created_at < ?
	AND {recoverableP}
ORDER BY created_at, id
LIMIT ?`

	sqlSaveLogs = `INSERT INTO {execution_logs} (id, task_id, at, level, message, error_details, seq) VALUES `

	// Retention deletes at most ? rows per statement.
	sqlPurgeStatusAll    = `DELETE FROM {status_audits} WHERE at < ? ORDER BY at LIMIT ?`
	sqlPurgeStatusOK     = `DELETE FROM {status_audits} WHERE at < ? AND COALESCE(error_text, '') = '' ORDER BY at LIMIT ?`
	sqlPurgeStatusErrors = `DELETE FROM {status_audits} WHERE at < ? AND error_text <> '' ORDER BY at LIMIT ?`
	sqlPurgeRunsAll      = `DELETE FROM {runs_audits} WHERE executed_at < ? ORDER BY executed_at LIMIT ?`
	sqlPurgeRunsOK       = `DELETE FROM {runs_audits} WHERE executed_at < ? AND COALESCE(error_text, '') = '' ORDER BY executed_at LIMIT ?`
	sqlPurgeRunsErrors   = `DELETE FROM {runs_audits} WHERE executed_at < ? AND error_text <> '' ORDER BY executed_at LIMIT ?`
	sqlPurgeLogs         = `DELETE FROM {execution_logs} WHERE at < ? ORDER BY at LIMIT ?`
	sqlPurgeStats        = `DELETE FROM {task_stats} WHERE minute < ? ORDER BY minute LIMIT ?`
	// The finished one-shot rows of the statuses (two placeholders, the
	// same status twice when there is one) older than the cutoff, locked.
	sqlPurgeTaskIDs = `SELECT id FROM {tasks} WHERE status IN (?, ?) AND NOT recurring
	AND COALESCE(last_execution_at, created_at) < ? ORDER BY created_at LIMIT ? FOR UPDATE`
)

// statements holds the statement texts of one Store, table names filled in.
type statements struct {
	insert, get, getByKey, exists, updateDefinition, remove, removeStatusAudits, removeRunsAudits string
	runCount, lockRows, writeBack, insertStatusAudits, insertRunsAudits                           string
	incRecovery, recovery, clearRecovery, pending, saveLogs                                       string
	purgeStatusAll, purgeStatusOK, purgeStatusErrors, purgeRunsAll, purgeRunsOK                   string
	purgeRunsErrors, purgeLogs, purgeTaskIDs, purgeStats, upsertStats, overview                   string
	cluster                                                                                       clusterStatements
}

func newStatements(n *names) statements {
	f := func(tmpl string) string {
		return n.fill(strings.ReplaceAll(tmpl, "{recoverableP}", recoverable("?")))
	}
	return statements{
		insert: f(sqlInsert), get: f(sqlGet), getByKey: f(sqlGetKey), exists: f(sqlExists),
		updateDefinition: f(sqlUpdateDefinition), remove: f(sqlRemove),
		removeStatusAudits: f(sqlRemoveStatusAudits), removeRunsAudits: f(sqlRemoveRunsAudits),
		runCount: f(sqlRunCount), lockRows: f(sqlLockRows), writeBack: f(sqlWriteBack),
		insertStatusAudits: f(sqlInsertStatusAudits), insertRunsAudits: f(sqlInsertRunsAudits),
		incRecovery: f(sqlIncRecovery), recovery: f(sqlRecovery), clearRecovery: f(sqlClearRecov),
		pending: f(sqlPending), saveLogs: f(sqlSaveLogs),
		purgeStatusAll: f(sqlPurgeStatusAll), purgeStatusOK: f(sqlPurgeStatusOK), purgeStatusErrors: f(sqlPurgeStatusErrors),
		purgeRunsAll: f(sqlPurgeRunsAll), purgeRunsOK: f(sqlPurgeRunsOK), purgeRunsErrors: f(sqlPurgeRunsErrors),
		purgeLogs: f(sqlPurgeLogs), purgeTaskIDs: f(sqlPurgeTaskIDs), purgeStats: f(sqlPurgeStats),
		upsertStats: f(sqlUpsertStats), overview: f(sqlOverview), cluster: newClusterStatements(f),
	}
}

// newDialect is the SQL of the reads sqlread builds (List, the counts, the
// history), on the tables of n.
func newDialect(n *names) sqlread.Dialect {
	return sqlread.Dialect{
		Tables: sqlread.Tables{Tasks: n.tasks, StatusAudits: n.statusAudits, RunsAudits: n.runsAudits,
			Logs: n.executionLogs, Attempts: n.attempts},
		TaskColumns: taskColumns,
		Key:         "task_key", Error: "error_text", LogOrder: "id, seq, pk",
		// LOCATE matches plain text, so % _ and \ in the search are
		// literal; LOWER folds case by the Unicode rules of utf8mb4, once
		// the byte columns are read as utf8mb4.
		Search: "(LOCATE(LOWER({needle}), LOWER(CONVERT(kind USING utf8mb4))) > 0 OR LOCATE(LOWER({needle}), LOWER(handler)) > 0" +
			" OR LOCATE(LOWER({needle}), LOWER(CONVERT(COALESCE(task_key, '') USING utf8mb4))) > 0)",
		Level: "({level} = '' OR LOWER(level) = LOWER({level}))",
		After: "(created_at {cmp} {at} OR (created_at = {at} AND id {cmp} {id}))",
		Until: "(created_at {cmp} {at} OR (created_at = {at} AND id {cmp}= {id}))",
		Time:  ts, Cursor: ts, ID: idArg, MinTime: minTime,
		TimeDest: func(t *time.Time) any { return timeDest{t} },
		IDDest:   func(id *uuid.UUID) any { return idDest{id} },
		TextDest: func(s *string) any { return textDest{s} },
	}
}

// placeholders returns "(?, ?, ...), (...)": rows groups of width
// placeholders, the VALUES list of a multi-row insert.
func placeholders(rows, width int) string {
	one := "(" + strings.Repeat("?, ", width-1) + "?)"
	var b strings.Builder
	b.Grow(rows * (len(one) + 2))
	for i := range rows {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(one)
	}
	return b.String()
}

// inList returns "(?, ?, ...)" with n placeholders.
func inList(n int) string { return "(" + strings.Repeat("?, ", n-1) + "?)" }

// timeLayout is how a time travels to the server: a DATETIME(6) literal in
// UTC. Sending text rather than a time.Time keeps the driver's loc setting
// out of it: the driver would convert a time.Time to that location.
const timeLayout = "2006-01-02 15:04:05.000000"

// ts is a time as a parameter: NULL for the zero time, else the UTC wall
// clock at microseconds.
func ts(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return store.NormalizeTime(t).Format(timeLayout)
}

// Bounds for keyset comparisons where a side is open: the range of
// DATETIME.
const (
	minTime = "1000-01-01 00:00:00.000000"
	maxTime = "9999-12-31 23:59:59.999999"
)

func upperBound(t time.Time) any {
	if t.IsZero() {
		return maxTime
	}
	return ts(t)
}

// timeDest scans a DATETIME holding UTC: NULL is the zero time. It takes
// what the driver gives, a time.Time (parseTime=true, in the DSN's loc) or
// text, and reads its wall clock as UTC, so neither the DSN nor the session
// time zone changes what comes back.
type timeDest struct{ t *time.Time }

func (d timeDest) Scan(v any) error {
	switch x := v.(type) {
	case nil:
		*d.t = time.Time{}
	case time.Time:
		if x.IsZero() {
			*d.t = time.Time{}
			return nil
		}
		*d.t = time.Date(x.Year(), x.Month(), x.Day(), x.Hour(), x.Minute(), x.Second(), x.Nanosecond(), time.UTC).Truncate(time.Microsecond)
	case []byte:
		return d.parse(string(x))
	case string:
		return d.parse(x)
	default:
		return fmt.Errorf("mysqlstore: cannot read a time from %T", v)
	}
	return nil
}

func (d timeDest) parse(s string) error {
	if s == "" || strings.HasPrefix(s, "0000-00-00") {
		*d.t = time.Time{}
		return nil
	}
	t, err := time.ParseInLocation("2006-01-02 15:04:05.999999", s, time.UTC)
	if err != nil {
		return fmt.Errorf("mysqlstore: read time %q: %w", s, err)
	}
	*d.t = t
	return nil
}

// idDest scans a BINARY(16) id.
type idDest struct{ id *uuid.UUID }

func (d idDest) Scan(v any) error {
	b, ok := v.([]byte)
	if !ok || len(b) != 16 {
		return fmt.Errorf("mysqlstore: an id of %T (%d bytes), want 16 bytes", v, len(b))
	}
	copy(d.id[:], b)
	return nil
}

// idArg is an id as a parameter: its 16 bytes.
func idArg(id uuid.UUID) any { return id[:] }

// textDest scans a nullable text column: NULL is "".
type textDest struct{ s *string }

func (d textDest) Scan(v any) error {
	switch x := v.(type) {
	case nil:
		*d.s = ""
	case []byte:
		*d.s = string(x)
	case string:
		*d.s = x
	default:
		return fmt.Errorf("mysqlstore: cannot read text from %T", v)
	}
	return nil
}

// bytesDest scans a nullable blob: NULL and empty are nil, as
// store.Task.Clone gives an empty slice back.
type bytesDest struct{ b *[]byte }

func (d bytesDest) Scan(v any) error {
	switch x := v.(type) {
	case nil:
		*d.b = nil
	case []byte:
		if len(x) == 0 {
			*d.b = nil
		} else {
			*d.b = append([]byte(nil), x...)
		}
	case string:
		if x == "" {
			*d.b = nil
		} else {
			*d.b = []byte(x)
		}
	default:
		return fmt.Errorf("mysqlstore: cannot read bytes from %T", v)
	}
	return nil
}

func micros(d time.Duration) int64 { return int64(d / time.Microsecond) }

// keyArg is the key column: no key is NULL, so the unique index ignores it.
func keyArg(key string) any {
	if key == "" {
		return nil
	}
	return key
}

// blobArg is a blob parameter; nil stays NULL.
func blobArg(b []byte) any {
	if b == nil {
		return nil
	}
	return b
}

// scanner is a *sql.Row or *sql.Rows.
type scanner interface{ Scan(dest ...any) error }

// scanTask reads one row in taskColumns order, after the columns prefix
// scans into.
func scanTask(row scanner, prefix ...any) (*store.Task, error) {
	var (
		t        store.Task
		status   string
		level    int8
		execUS   int64
		metadata []byte
	)
	err := row.Scan(append(prefix, idDest{&t.ID}, timeDest{&t.CreatedAt}, &t.Kind, bytesDest{&t.Payload}, &t.Handler,
		&t.Queue, textDest{&t.Key}, &status, &level, timeDest{&t.ScheduledAt}, timeDest{&t.LastExecutionAt}, &execUS,
		textDest{&t.Error}, &t.Recurring, bytesDest{&t.Schedule}, textDest{&t.ScheduleInfo}, &t.RunCount, &t.MaxRuns,
		timeDest{&t.RunUntil}, timeDest{&t.NextRunAt}, &t.RecoveryFailures, &t.Owner, timeDest{&t.LeaseUntil},
		bytesDest{&metadata})...)
	if err != nil {
		return nil, err
	}
	if t.Metadata, err = store.DecodeMetadata(metadata); err != nil {
		return nil, err
	}
	t.Status = store.Status(status)
	t.AuditLevel = store.AuditLevel(level)
	t.ExecutionTime = time.Duration(execUS) * time.Microsecond
	return &t, nil
}

// taskArgs appends the insert parameters of t in taskColumns order.
func taskArgs(args []any, t *store.Task) []any {
	return append(args,
		idArg(t.ID), ts(t.CreatedAt), t.Kind, blobArg(t.Payload), t.Handler, t.Queue, keyArg(t.Key),
		string(t.Status), int8(t.AuditLevel), ts(t.ScheduledAt), ts(t.LastExecutionAt),
		micros(t.ExecutionTime), t.Error, t.Recurring, blobArg(t.Schedule), t.ScheduleInfo,
		t.RunCount, t.MaxRuns, ts(t.RunUntil), ts(t.NextRunAt),
		t.RecoveryFailures, t.Owner, ts(t.LeaseUntil), blobArg(store.EncodeMetadata(t.Metadata)))
}
