package mysqlstore

import (
	"bytes"
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/evertask/evertask/store"
	"github.com/evertask/evertask/store/internal/sqlread"
)

var _ store.Stats = (*Store)(nil)

// sqlOverview sums the counters of [?, ?) by bucket of ? microseconds from
// the window's start, status and kind: a range of {task_stats}' primary key
// (migration 005).
const sqlOverview = `SELECT TIMESTAMPDIFF(MICROSECOND, CAST(? AS DATETIME(6)), minute) DIV ?,
       status, kind, CAST(SUM(n) AS SIGNED), CAST(SUM(total_us) AS SIGNED)
FROM {task_stats}
WHERE minute >= ? AND minute < ?
GROUP BY 1, 2, 3
ORDER BY NULL`

// sqlUpsertStats adds to counters; a row of five placeholders per counter
// follows, then sqlUpsertStatsSet.
const (
	sqlUpsertStats    = `INSERT INTO {task_stats} (minute, kind, status, n, total_us) VALUES `
	sqlUpsertStatsSet = ` ON DUPLICATE KEY UPDATE n = n + VALUES(n), total_us = total_us + VALUES(total_us)`
)

// Overview sums the counters of the window with one GROUP BY (see
// store.Stats).
func (s *Store) Overview(ctx context.Context, p store.OverviewParams) (store.Overview, error) {
	return s.read.Overview(ctx, p, func(p *store.OverviewParams) sqlread.Query {
		from := ts(p.From)
		return sqlread.Query{Text: s.sql.overview, Args: []any{from, p.Bucket.Microseconds(), from, ts(p.To)}}
	})
}

// statsKey is one counter of {task_stats}.
type statsKey struct {
	minute time.Time // store.StatsMinute
	kind   string
	status store.Status
}

// compare orders keys as the primary key does: minute, then kind and
// status byte by byte (VARBINARY and ascii_bin).
func (k statsKey) compare(o statsKey) int {
	return cmp.Or(k.minute.Compare(o.minute), bytes.Compare([]byte(k.kind), []byte(o.kind)),
		cmp.Compare(k.status, o.status))
}

// statsCounts aggregates the outcomes of one compound step, one entry per
// counter: a batch adds to each of its counters once (typically one: the
// same kind, status and minute), in one statement, not a row per
// execution. A slice, not a map: a step touches a handful.
type statsCounts []statsCount

type statsCount struct {
	key      statsKey
	n, total int64
}

// add counts an execution of kind that ended with status at now, after
// exec; statuses other than Completed and Failed count nothing.
func (c *statsCounts) add(kind string, status store.Status, now time.Time, exec time.Duration) {
	if status != store.StatusCompleted && status != store.StatusFailed {
		return
	}
	k := statsKey{store.StatsMinute(now), kind, status}
	us := micros(exec)
	for i := range *c {
		if e := &(*c)[i]; e.key == k {
			e.n++
			e.total += us
			return
		}
	}
	*c = append(*c, statsCount{k, 1, us})
}

// writeStats adds the counts on tx (a step's transaction), in one
// statement, in primary key order. A counter row is shared by every step that ends an execution of
// its kind in its minute, so its lock is the hot spot of the store: it is
// taken last, just before the commit, and two steps that add to several
// counters take their locks in the same order, so neither waits for the
// other in a cycle (the rows of tasks they locked first are distinct or
// locked in key order too).
func (s *Store) writeStats(ctx context.Context, tx execer, c statsCounts) error {
	if len(c) == 0 {
		return nil
	}
	slices.SortFunc(c, func(a, b statsCount) int { return a.key.compare(b.key) })
	args := make([]any, 0, 5*len(c))
	for _, e := range c {
		args = append(args, ts(e.key.minute), e.key.kind, string(e.key.status), e.n, e.total)
	}
	_, err := tx.ExecContext(ctx, s.sql.upsertStats+placeholders(len(c), 5)+sqlUpsertStatsSet, args...)
	return err
}
