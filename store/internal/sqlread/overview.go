package sqlread

import (
	"context"
	"fmt"
	"time"

	"github.com/evertask/evertask/store"
)

// Overview implements store.Stats.Overview over the store's outcome
// counters. query builds, for validated params, the store's statement: it
// selects, grouped, the bucket index from the window's start, the status,
// the kind, the count and the sum of execution microseconds.
func (r *Reader) Overview(ctx context.Context, p store.OverviewParams, query func(*store.OverviewParams) Query) (store.Overview, error) {
	if err := p.Validate(); err != nil {
		return store.Overview{}, err
	}
	if err := r.Check(); err != nil {
		return store.Overview{}, err
	}
	o := store.NewOverview(p)
	err := r.read(ctx, query(&p), func(rows Rows) error {
		for rows.Next() {
			var (
				bucket, n, total int64
				status, kind     string
			)
			if err := rows.Scan(&bucket, &status, &kind, &n, &total); err != nil {
				return err
			}
			o.Count(int(bucket), kind, store.Status(status), int(n), time.Duration(total)*time.Microsecond)
		}
		return rows.Err()
	})
	if err != nil {
		return store.Overview{}, fmt.Errorf("overview: %w", r.MapErr(err))
	}
	return o, nil
}
