package sqlitestore

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/evertask/evertask/store"
)

// overviewSQL groups the executions that finished in [@from, @to) by
// bucket, status and kind, over the covering index tasks_executed.
const overviewSQL = `SELECT (last_execution_at - @from) / @bucket, status, kind, count(*), sum(execution_time_us)
FROM tasks INDEXED BY tasks_executed
WHERE last_execution_at >= @from AND last_execution_at < @to AND (status = 'Completed' OR status = 'Failed')
GROUP BY 1, 2, 3`

// Overview aggregates the executions that finished in the window with one
// GROUP BY (see store.Stats).
func (s *Store) Overview(ctx context.Context, p store.OverviewParams) (store.Overview, error) {
	if err := p.Validate(); err != nil {
		return store.Overview{}, err
	}
	if err := s.check(); err != nil {
		return store.Overview{}, err
	}
	o := store.NewOverview(p)
	args := []any{
		sql.Named("from", store.NormalizeTime(p.From).UnixMicro()), sql.Named("to", store.NormalizeTime(p.To).UnixMicro()),
		sql.Named("bucket", p.Bucket.Microseconds()),
	}
	err := s.queryEach(ctx, overviewSQL, args, func(rows *sql.Rows) error {
		var (
			bucket, n, total int64
			status, kind     string
		)
		if err := rows.Scan(&bucket, &status, &kind, &n, &total); err != nil {
			return err
		}
		o.Count(int(bucket), kind, store.Status(status), int(n), time.Duration(total)*time.Microsecond)
		return nil
	})
	if err != nil {
		return store.Overview{}, fmt.Errorf("overview: %w", err)
	}
	return o, nil
}
