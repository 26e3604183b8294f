package sqlread

import (
	"context"
	"database/sql"
	"time"

	"github.com/google/uuid"

	"github.com/evertask/evertask/store"
)

// Rows is what the drivers' result sets have in common: pgx.Rows, and
// *sql.Rows but for Close's result (a store wraps it).
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close()
}

// A Runner runs a read statement on a store's driver.
type Runner func(ctx context.Context, q Query) (Rows, error)

// read runs q and scans its rows, closing them.
func read(ctx context.Context, run Runner, q Query, scan func(Rows) error) error {
	rows, err := run(ctx, q)
	if err != nil {
		return err
	}
	defer rows.Close()
	return scan(rows)
}

func (d *Dialect) byTask(tmpl string, taskID uuid.UUID) Query {
	b := builder{d: d}
	b.add(tmpl, param{"task", d.ID(taskID)})
	return b.query()
}

const logColumns = `id, task_id, at, level, message, error_details, seq`

// Logs reads the logs of a task for store.Store.Logs.
func (d *Dialect) Logs(ctx context.Context, run Runner, taskID uuid.UUID) (logs []store.ExecutionLog, err error) {
	q := d.byTask(`SELECT `+logColumns+` FROM `+d.Tables.Logs+` WHERE task_id = {task} ORDER BY `+d.LogOrder, taskID)
	err = read(ctx, run, q, func(rows Rows) error { logs, err = d.ScanLogs(rows); return err })
	return logs, err
}

// LogsPage reads a page of logs and the total for store.Store.LogsPage, in
// two statements; q has been normalized.
func (d *Dialect) LogsPage(ctx context.Context, run Runner, q store.LogQuery) (page store.LogPage, err error) {
	pageQ, totalQ := d.LogsPageQueries(q)
	err = read(ctx, run, pageQ, func(rows Rows) error { page.Logs, err = d.ScanLogs(rows); return err })
	if err != nil {
		return store.LogPage{}, err
	}
	err = read(ctx, run, totalQ, func(rows Rows) error {
		for rows.Next() {
			if err := rows.Scan(&page.Total); err != nil {
				return err
			}
		}
		return rows.Err()
	})
	return page, err
}

// LogsPageQueries are the statements of store.Store.LogsPage for q, which
// Normalize has checked: the page (ScanLogs reads it) and the total that
// matches the level (one row, one count).
func (d *Dialect) LogsPageQueries(q store.LogQuery) (page, total Query) {
	task, level := param{"task", d.ID(q.TaskID)}, param{"level", d.fold(q.Level)}
	where := ` WHERE task_id = {task} AND ` + d.Level
	b := builder{d: d}
	b.add(`SELECT `+logColumns+` FROM `+d.Tables.Logs+where+` ORDER BY `+d.LogOrder+` LIMIT {limit} OFFSET {offset}`,
		task, level, param{"limit", q.Limit}, param{"offset", q.Offset})
	page = b.query()
	b = builder{d: d}
	b.add(`SELECT count(*) FROM `+d.Tables.Logs+where, task, level)
	return page, b.query()
}

// ScanLogs reads the rows of Logs or of a LogsPage page.
func (d *Dialect) ScanLogs(rows Rows) ([]store.ExecutionLog, error) {
	var out []store.ExecutionLog
	for rows.Next() {
		var l store.ExecutionLog
		if err := rows.Scan(d.IDDest(&l.ID), d.IDDest(&l.TaskID), d.TimeDest(&l.At), &l.Level,
			d.textDest(&l.Message), d.textDest(&l.ErrorDetails), &l.Seq); err != nil {
			return nil, err
		}
		out = append(out, l)
	}
	return out, rows.Err()
}

// StatusAudits reads the status audits of a task, newest first.
func (d *Dialect) StatusAudits(ctx context.Context, run Runner, taskID uuid.UUID) (out []store.StatusAudit, err error) {
	q := d.byTask(`SELECT id, task_id, at, status, `+d.Error+` FROM `+d.Tables.StatusAudits+
		` WHERE task_id = {task} ORDER BY id DESC`, taskID)
	err = read(ctx, run, q, func(rows Rows) error { out, err = d.ScanStatusAudits(rows); return err })
	return out, err
}

// ScanStatusAudits reads the rows of StatusAudits.
func (d *Dialect) ScanStatusAudits(rows Rows) ([]store.StatusAudit, error) {
	var out []store.StatusAudit
	for rows.Next() {
		var (
			a      store.StatusAudit
			status string
		)
		if err := rows.Scan(&a.ID, d.IDDest(&a.TaskID), d.TimeDest(&a.At), &status, d.textDest(&a.Error)); err != nil {
			return nil, err
		}
		a.Status = store.Status(status)
		out = append(out, a)
	}
	return out, rows.Err()
}

// RunsAudits reads the runs audits of a task, newest first.
func (d *Dialect) RunsAudits(ctx context.Context, run Runner, taskID uuid.UUID) (out []store.RunsAudit, err error) {
	q := d.byTask(`SELECT id, task_id, executed_at, execution_time_us, status, `+d.Error+` FROM `+d.Tables.RunsAudits+
		` WHERE task_id = {task} ORDER BY id DESC`, taskID)
	err = read(ctx, run, q, func(rows Rows) error { out, err = d.ScanRunsAudits(rows); return err })
	return out, err
}

// ScanRunsAudits reads the rows of RunsAudits.
func (d *Dialect) ScanRunsAudits(rows Rows) ([]store.RunsAudit, error) {
	var out []store.RunsAudit
	for rows.Next() {
		var (
			a      store.RunsAudit
			execUS int64
			status string
		)
		if err := rows.Scan(&a.ID, d.IDDest(&a.TaskID), d.TimeDest(&a.ExecutedAt), &execUS, &status, d.textDest(&a.Error)); err != nil {
			return nil, err
		}
		a.ExecutionTime, a.Status = time.Duration(execUS)*time.Microsecond, store.Status(status)
		out = append(out, a)
	}
	return out, rows.Err()
}

// Attempts reads the attempts of a task, oldest first; none is an empty
// slice, not nil.
func (d *Dialect) Attempts(ctx context.Context, run Runner, taskID uuid.UUID) (out []store.Attempt, err error) {
	q := d.byTask(`SELECT id, task_id, run, number, started_at, duration_us, `+d.Error+` FROM `+d.Tables.Attempts+
		` WHERE task_id = {task} ORDER BY id`, taskID)
	err = read(ctx, run, q, func(rows Rows) error { out, err = d.ScanAttempts(rows); return err })
	return out, err
}

// ScanAttempts reads the rows of Attempts.
func (d *Dialect) ScanAttempts(rows Rows) ([]store.Attempt, error) {
	out := []store.Attempt{}
	for rows.Next() {
		var (
			a          store.Attempt
			durationUS int64
		)
		if err := rows.Scan(&a.ID, d.IDDest(&a.TaskID), &a.Run, &a.Number, d.TimeDest(&a.StartedAt), &durationUS,
			d.textDest(&a.Error)); err != nil {
			return nil, err
		}
		a.Duration = time.Duration(durationUS) * time.Microsecond
		out = append(out, a)
	}
	return out, rows.Err()
}

func (d *Dialect) textDest(s *string) any {
	if d.TextDest != nil {
		return d.TextDest(s)
	}
	return s
}

// Queryer is a database/sql pool, connection or transaction.
type Queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// DB is the Runner of a database/sql Queryer.
func DB(db Queryer) Runner {
	return func(ctx context.Context, q Query) (Rows, error) {
		rows, err := db.QueryContext(ctx, q.Text, q.Args...)
		if err != nil {
			return nil, err
		}
		return sqlRows{rows}, nil
	}
}

// sqlRows is a *sql.Rows as Rows. Its Close has no result: a scan ends on
// Err, which reports what went wrong while reading.
type sqlRows struct{ *sql.Rows }

func (r sqlRows) Close() { r.Rows.Close() }
