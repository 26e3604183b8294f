package pgstore

import (
	"context"

	"github.com/evertask/evertask/store"
	"github.com/evertask/evertask/store/internal/sqlread"
)

// The counters of store.Stats (migration 008). A statement that ends
// executions adds them to task_stats in a CTE of its own, so the counters
// and the rows commit together and a refused write counts nothing.

// countOutcomesHead + rows + countOutcomesTail is the CTE body that adds
// the outcomes of rows to their counters. rows selects s_at (the end),
// s_kind, s_status, s_n and s_us; only Completed and Failed count. The rows
// are grouped (one statement may not touch a counter twice) and upserted in
// key order, so two sessions that share a shard lock counters in one order.
const (
	countOutcomesHead = `
	INSERT INTO {s}.task_stats AS x (minute, kind, status, shard, n, total_us)
	SELECT date_trunc('minute', s_at, 'UTC'), s_kind, s_status, pg_backend_pid() % 8, sum(s_n), sum(s_us)
	FROM (`
	countOutcomesTail = `) AS o
	WHERE s_status IN ('Completed', 'Failed')
	GROUP BY 1, 2, 3
	ORDER BY 1, 2, 3
	ON CONFLICT (minute, kind, status, shard) DO UPDATE
		SET n = x.n + excluded.n, total_us = x.total_us + excluded.total_us`
)

// transitionManyOutcomes are the outcomes of a TransitionMany: the rows its
// update returned.
const transitionManyOutcomes = `SELECT p_now AS s_at, kind AS s_kind, p_to AS s_status, 1 AS s_n, p_exec AS s_us FROM t`

// sqlOverview sums the counters of [$1, $2) into buckets of $3
// microseconds from $1, by status and kind.
const sqlOverview = `SELECT div((extract(epoch FROM minute - $1::timestamptz) * 1000000)::bigint, $3::bigint),
       status, kind, sum(n)::bigint, sum(total_us)::bigint
FROM {s}.task_stats
WHERE minute >= $1::timestamptz AND minute < $2::timestamptz
GROUP BY 1, 2, 3`

// sqlPurgeStats deletes at most $2 counters older than $1.
const sqlPurgeStats = `DELETE FROM {s}.task_stats WHERE ctid = ANY(ARRAY(SELECT ctid FROM {s}.task_stats WHERE minute < $1 LIMIT $2))`

// Overview sums the counters of the window (see store.Stats).
func (s *Store) Overview(ctx context.Context, p store.OverviewParams) (store.Overview, error) {
	return s.read.Overview(ctx, p, func(p *store.OverviewParams) sqlread.Query {
		return sqlread.Query{Text: s.sql.overview, Args: []any{ts(p.From), ts(p.To), p.Bucket.Microseconds()}}
	})
}
