package pgstore

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/evertask/evertask/store"
)

// sqlOverview groups the executions that finished in [$1, $2) by bucket of
// $3 microseconds, phase (the status, for Completed and Failed rows) and
// kind, over the index tasks_executed_idx.
const sqlOverview = `SELECT div((extract(epoch FROM last_execution_at - $1::timestamptz) * 1000000)::bigint, $3::bigint),
       phase, kind, count(*), sum(execution_time_us)::bigint
FROM {s}.tasks
WHERE last_execution_at >= $1::timestamptz AND last_execution_at < $2::timestamptz AND phase IN ('Completed', 'Failed')
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
	q, err := quoteSchema(s.schema)
	if err != nil {
		return store.Overview{}, err
	}
	rows, err := s.pool.Query(ctx, strings.ReplaceAll(sqlOverview, "{s}", q), ts(p.From), ts(p.To), p.Bucket.Microseconds())
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
