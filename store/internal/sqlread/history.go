package sqlread

import (
	"time"

	"github.com/google/uuid"

	"github.com/evertask/evertask/store"
)

func (d *Dialect) byTask(tmpl string, taskID uuid.UUID) Query {
	b := builder{d: d}
	b.add(tmpl, param{"task", d.ID(taskID)})
	return b.query()
}

const logColumns = `id, task_id, at, level, message, error_details, seq`

// LogsQuery is the statement of Logs; ScanLogs reads it.
func (d *Dialect) LogsQuery(taskID uuid.UUID) Query {
	return d.byTask(`SELECT `+logColumns+` FROM `+d.Tables.Logs+` WHERE task_id = {task} ORDER BY `+d.LogOrder, taskID)
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

// ScanLogs reads the rows of LogsQuery or of a LogsPageQueries page.
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

// statusAuditsQuery is the statement of StatusAudits, newest first.
func (d *Dialect) statusAuditsQuery(taskID uuid.UUID) Query {
	return d.byTask(`SELECT id, task_id, at, status, `+d.Error+` FROM `+d.Tables.StatusAudits+
		` WHERE task_id = {task} ORDER BY id DESC`, taskID)
}

func (d *Dialect) scanStatusAudits(rows Rows) ([]store.StatusAudit, error) {
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

// runsAuditsQuery is the statement of RunsAudits, newest first.
func (d *Dialect) runsAuditsQuery(taskID uuid.UUID) Query {
	return d.byTask(`SELECT id, task_id, executed_at, execution_time_us, status, `+d.Error+` FROM `+d.Tables.RunsAudits+
		` WHERE task_id = {task} ORDER BY id DESC`, taskID)
}

func (d *Dialect) scanRunsAudits(rows Rows) ([]store.RunsAudit, error) {
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

// attemptsQuery is the statement of Attempts, oldest first.
func (d *Dialect) attemptsQuery(taskID uuid.UUID) Query {
	return d.byTask(`SELECT id, task_id, run, number, started_at, duration_us, `+d.Error+` FROM `+d.Tables.Attempts+
		` WHERE task_id = {task} ORDER BY id`, taskID)
}

func (d *Dialect) scanAttempts(rows Rows) ([]store.Attempt, error) {
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
