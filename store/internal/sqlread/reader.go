package sqlread

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/google/uuid"

	"github.com/evertask/evertask/store"
)

// A Reader implements the reads every SQL store answers the same way (List,
// the counts, the history of a task) for one store: the statements of its
// Dialect, run on its driver, with its closed check and its error mapping.
// A store's methods hand their calls to it.
type Reader struct {
	Dialect
	// Run runs a statement on the store's pool.
	Run Runner
	// Check is the store's closed check, the first step of every read.
	Check func() error
	// MapErr maps a driver's error to the store package's sentinels.
	MapErr func(error) error
	// ScanTask reads a row of Dialect.TaskColumns.
	ScanTask func(Row) (*store.Task, error)
}

// Row is a row to scan.
type Row interface {
	Scan(dest ...any) error
}

// Rows is what the drivers' result sets have in common: pgx.Rows, and
// *sql.Rows but for Close's result (DB wraps it).
type Rows interface {
	Row
	Next() bool
	Err() error
	Close()
}

// A Runner runs a read statement on a store's driver.
type Runner func(ctx context.Context, q Query) (Rows, error)

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

// read runs q and scans its rows, closing them.
func (r *Reader) read(ctx context.Context, q Query, scan func(Rows) error) error {
	rows, err := r.Run(ctx, q)
	if err != nil {
		return err
	}
	defer rows.Close()
	return scan(rows)
}

// List implements store.Store.List. A search that Filter.ScanLimit bounds
// is two statements: the position of the last row it may test
// (ScanBoundQuery), then the page up to there; when that page is not full,
// its Next is that position and it is ScanLimited.
func (r *Reader) List(ctx context.Context, f store.Filter) (store.Page, error) {
	if err := r.Check(); err != nil {
		return store.Page{}, err
	}
	if err := f.Normalize(); err != nil {
		return store.Page{}, err
	}
	q := r.ListQuery(&f)
	var bound *store.Cursor // the last row a bounded search tests
	if f.Search != "" && f.ScanLimit > 0 {
		err := r.read(ctx, r.ScanBoundQuery(&f), func(rows Rows) error {
			for rows.Next() {
				var c store.Cursor
				if err := rows.Scan(r.TimeDest(&c.CreatedAt), r.IDDest(&c.ID)); err != nil {
					return err
				}
				bound = &c
			}
			return rows.Err()
		})
		if err != nil {
			return store.Page{}, fmt.Errorf("list tasks: %w", r.MapErr(err))
		}
		if bound != nil {
			q = r.ScanLimitedListQuery(&f, *bound)
		}
	}
	tasks := make([]*store.Task, 0, f.Limit+1)
	err := r.read(ctx, q, func(rows Rows) error {
		for rows.Next() {
			t, err := r.ScanTask(rows)
			if err != nil {
				return err
			}
			tasks = append(tasks, t)
		}
		return rows.Err()
	})
	if err != nil {
		return store.Page{}, fmt.Errorf("list tasks: %w", r.MapErr(err))
	}
	page := f.Page(tasks)
	if page.Next == nil && bound != nil {
		page.Next, page.ScanLimited = bound, true
	}
	return page, nil
}

// CountByStatus implements store.Counter.CountByStatus.
func (r *Reader) CountByStatus(ctx context.Context, p store.CountParams) (out map[store.Status]int, err error) {
	if err := r.Check(); err != nil {
		return nil, err
	}
	err = r.read(ctx, r.CountByStatusQuery(p), func(rows Rows) error { out, err = scanCountByStatus(rows); return err })
	if err != nil {
		return nil, fmt.Errorf("count by status: %w", r.MapErr(err))
	}
	return out, nil
}

// CountByQueue implements store.Counter.CountByQueue.
func (r *Reader) CountByQueue(ctx context.Context, p store.CountParams) (out map[string]map[store.Status]int, err error) {
	if err := r.Check(); err != nil {
		return nil, err
	}
	err = r.read(ctx, r.CountByQueueQuery(p), func(rows Rows) error { out, err = scanCountByQueue(rows); return err })
	if err != nil {
		return nil, fmt.Errorf("count by queue: %w", r.MapErr(err))
	}
	return out, nil
}

// Logs implements store.Store.Logs.
func (r *Reader) Logs(ctx context.Context, taskID uuid.UUID) (out []store.ExecutionLog, err error) {
	if err := r.Check(); err != nil {
		return nil, err
	}
	err = r.read(ctx, r.LogsQuery(taskID), func(rows Rows) error { out, err = r.ScanLogs(rows); return err })
	if err != nil {
		return nil, fmt.Errorf("logs of %s: %w", taskID, r.MapErr(err))
	}
	return out, nil
}

// LogsPage implements store.Store.LogsPage with two statements, the page
// and the total, each consistent with itself. (A store that can read both
// in one snapshot runs this on a Reader whose Run is in a transaction.)
func (r *Reader) LogsPage(ctx context.Context, q store.LogQuery) (page store.LogPage, err error) {
	if err := r.Check(); err != nil {
		return store.LogPage{}, err
	}
	if err := q.Normalize(); err != nil {
		return store.LogPage{}, err
	}
	pageQ, totalQ := r.LogsPageQueries(q)
	err = r.read(ctx, pageQ, func(rows Rows) error { page.Logs, err = r.ScanLogs(rows); return err })
	if err == nil {
		err = r.read(ctx, totalQ, func(rows Rows) error {
			for rows.Next() {
				if err := rows.Scan(&page.Total); err != nil {
					return err
				}
			}
			return rows.Err()
		})
	}
	if err != nil {
		return store.LogPage{}, fmt.Errorf("logs page of %s: %w", q.TaskID, r.MapErr(err))
	}
	return page, nil
}

// StatusAudits implements store.Store.StatusAudits.
func (r *Reader) StatusAudits(ctx context.Context, taskID uuid.UUID) (out []store.StatusAudit, err error) {
	if err := r.Check(); err != nil {
		return nil, err
	}
	err = r.read(ctx, r.statusAuditsQuery(taskID), func(rows Rows) error { out, err = r.scanStatusAudits(rows); return err })
	if err != nil {
		return nil, fmt.Errorf("status audits of %s: %w", taskID, r.MapErr(err))
	}
	return out, nil
}

// RunsAudits implements store.Store.RunsAudits.
func (r *Reader) RunsAudits(ctx context.Context, taskID uuid.UUID) (out []store.RunsAudit, err error) {
	if err := r.Check(); err != nil {
		return nil, err
	}
	err = r.read(ctx, r.runsAuditsQuery(taskID), func(rows Rows) error { out, err = r.scanRunsAudits(rows); return err })
	if err != nil {
		return nil, fmt.Errorf("runs audits of %s: %w", taskID, r.MapErr(err))
	}
	return out, nil
}

// Attempts implements store.AttemptStore.Attempts: none is an empty slice,
// not nil.
func (r *Reader) Attempts(ctx context.Context, taskID uuid.UUID) (out []store.Attempt, err error) {
	if err := r.Check(); err != nil {
		return nil, err
	}
	err = r.read(ctx, r.attemptsQuery(taskID), func(rows Rows) error { out, err = r.scanAttempts(rows); return err })
	if err != nil {
		return nil, fmt.Errorf("attempts of %s: %w", taskID, r.MapErr(err))
	}
	return out, nil
}
