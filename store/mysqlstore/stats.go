package mysqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/evertask/evertask/store"
)

var _ store.Stats = (*Store)(nil)

// sqlOverview groups the executions that finished in [?, ?) by bucket of ?
// microseconds from the window's start, outcome (the status of a Completed
// or Failed row) and kind, reading the covering index overview_idx
// (migration 004) over the window's range only.
const sqlOverview = `SELECT TIMESTAMPDIFF(MICROSECOND, CAST(? AS DATETIME(6)), last_execution_at) DIV ?,
       outcome, kind, COUNT(*), CAST(SUM(execution_time_us) AS SIGNED)
FROM {tasks} FORCE INDEX (overview_idx)
WHERE last_execution_at >= ? AND last_execution_at < ? AND outcome IS NOT NULL
GROUP BY 1, 2, 3
ORDER BY NULL`

// Overview aggregates the executions that finished in the window with one
// GROUP BY over an index (see store.Stats).
func (s *Store) Overview(ctx context.Context, p store.OverviewParams) (store.Overview, error) {
	if err := p.Validate(); err != nil {
		return store.Overview{}, err
	}
	if err := s.check(); err != nil {
		return store.Overview{}, err
	}
	from := ts(p.From)
	rows, err := s.db.QueryContext(ctx, s.n.fill(sqlOverview), from, p.Bucket.Microseconds(), from, ts(p.To))
	if err != nil {
		return store.Overview{}, fmt.Errorf("overview: %w", mapErr(err))
	}
	defer rows.Close()
	o := store.NewOverview(p)
	for rows.Next() {
		var (
			bucket, n, total int64
			status, kind     string
		)
		if err := rows.Scan(&bucket, &status, &kind, &n, &total); err != nil {
			return store.Overview{}, fmt.Errorf("overview: %w", mapErr(err))
		}
		o.Count(int(bucket), kind, store.Status(status), int(n), time.Duration(total)*time.Microsecond)
	}
	if err := rows.Err(); err != nil {
		return store.Overview{}, fmt.Errorf("overview: %w", mapErr(err))
	}
	return o, nil
}
