package sqlitestore

import (
	"cmp"
	"context"
	"database/sql"
	"slices"
	"time"

	"github.com/evertask/evertask/store"
	"github.com/evertask/evertask/store/internal/sqlread"
)

// overviewSQL sums the counters of [@from, @to) by bucket, status and kind:
// a range of task_stats' primary key (migration 008).
const overviewSQL = `SELECT (minute - @from) / @bucket, status, kind, sum(n), sum(total_us)
FROM task_stats
WHERE minute >= @from AND minute < @to
GROUP BY 1, 2, 3`

// upsertStatsSQL adds ?4 executions of ?5 µs to the counter (?1 minute, ?2
// kind, ?3 status).
const upsertStatsSQL = `INSERT INTO task_stats (minute, kind, status, n, total_us) VALUES (?1, ?2, ?3, ?4, ?5)
ON CONFLICT (minute, kind, status) DO UPDATE SET n = n + excluded.n, total_us = total_us + excluded.total_us`

// purgeStats deletes the counters of minutes before @cut, @batch at a time.
const purgeStats = `DELETE FROM task_stats WHERE (minute, kind, status) IN
    (SELECT minute, kind, status FROM task_stats WHERE minute < @cut LIMIT @batch)`

// Overview sums the counters of the window with one GROUP BY (see
// store.Stats).
func (s *Store) Overview(ctx context.Context, p store.OverviewParams) (store.Overview, error) {
	return s.read.Overview(ctx, p, func(p *store.OverviewParams) sqlread.Query {
		return sqlread.Query{Text: overviewSQL, Args: []any{
			sql.Named("from", store.NormalizeTime(p.From).UnixMicro()), sql.Named("to", store.NormalizeTime(p.To).UnixMicro()),
			sql.Named("bucket", p.Bucket.Microseconds()),
		}}
	})
}

// counts reports whether a write to status ends an execution the counters
// count.
func counts(status store.Status) bool {
	return status == store.StatusCompleted || status == store.StatusFailed
}

// statsKey is one counter of task_stats.
type statsKey struct {
	minute int64 // unix µs
	kind   string
	status store.Status
}

// statsCounts aggregates the outcomes a batch of transitions writes, one
// entry per counter: the batch pays one upsert per distinct counter
// (typically one), not one per row. A slice, not a map: a batch touches a
// handful. Single-row statements count themselves in the trigger
// tasks_stats instead (migration 008).
type statsCounts []statsCount

type statsCount struct {
	key      statsKey
	n, total int64
}

// add counts an execution of kind that ended with status at now, after
// exec; other statuses count nothing.
func (c *statsCounts) add(kind string, status store.Status, now time.Time, exec time.Duration) {
	if !counts(status) {
		return
	}
	k := statsKey{store.StatsMinute(now).UnixMicro(), kind, status}
	us := exec.Microseconds()
	for i := range *c {
		if e := &(*c)[i]; e.key == k {
			e.n++
			e.total += us
			return
		}
	}
	*c = append(*c, statsCount{k, 1, us})
}

// write adds the counts to task_stats on tx, in key order.
func (c statsCounts) write(ctx context.Context, s *Store, tx *sql.Tx) error {
	if len(c) == 0 {
		return nil
	}
	slices.SortFunc(c, func(a, b statsCount) int {
		return cmp.Or(cmp.Compare(a.key.minute, b.key.minute), cmp.Compare(a.key.kind, b.key.kind),
			cmp.Compare(a.key.status, b.key.status))
	})
	st := tx.StmtContext(ctx, s.stmts.upsertStats)
	for _, e := range c {
		if _, err := st.ExecContext(ctx, e.key.minute, e.key.kind, string(e.key.status), e.n, e.total); err != nil {
			return err
		}
	}
	return nil
}
