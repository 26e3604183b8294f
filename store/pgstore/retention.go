package pgstore

import (
	"context"
	"fmt"
	"strings"

	"github.com/evertask/evertask/store"
)

// Purge implements store.Retainer. Each statement deletes at most
// policy.BatchSize rows (DELETE ... WHERE id IN (SELECT ... LIMIT n)), so
// locks stay short; it loops until a statement deletes fewer rows than
// the batch or ctx ends, returning what was deleted so far.
func (s *Store) Purge(ctx context.Context, policy store.RetentionPolicy) (store.PurgeResult, error) {
	return s.purge(ctx, policy, false)
}

// CountPurge implements store.PurgeCounter: each of Purge's deletes as a
// count of the rows its subselect picks.
func (s *Store) CountPurge(ctx context.Context, policy store.RetentionPolicy) (store.PurgeResult, error) {
	return s.purge(ctx, policy, true)
}

// countOf turns a purge statement, a DELETE of ANY(ARRAY(SELECT k FROM t
// WHERE ... LIMIT $n)), into the count of the rows its subselect picks.
func countOf(del string) string {
	sub := del[strings.Index(del, "ARRAY(SELECT ")+len("ARRAY(") : strings.LastIndex(del, " LIMIT $")]
	return "SELECT count(*)" + sub[strings.Index(sub, " FROM "):]
}

func (s *Store) purge(ctx context.Context, policy store.RetentionPolicy, count bool) (store.PurgeResult, error) {
	var res store.PurgeResult
	if err := s.check(); err != nil {
		return res, err
	}
	if err := policy.Normalize(); err != nil {
		return res, err
	}
	batch := policy.BatchSize
	type rule struct {
		sql    string
		cutoff any
		count  *int
	}
	var rules []rule
	for _, hr := range policy.HistoryRules() {
		var q string
		var count *int
		switch hr.Table {
		case store.StatusAuditHistory:
			q, count = pick(hr.Rows, s.sql.purgeStatusAll, s.sql.purgeStatusOK, s.sql.purgeStatusErrors), &res.StatusAudits
		case store.RunsAuditHistory:
			q, count = pick(hr.Rows, s.sql.purgeRunsAll, s.sql.purgeRunsOK, s.sql.purgeRunsErrors), &res.RunsAudits
		case store.LogHistory:
			q, count = s.sql.purgeLogs, &res.Logs
		case store.AttemptHistory:
			q, count = s.sql.attempts.purge, &res.Attempts
		}
		rules = append(rules, rule{q, ts(hr.Cutoff), count})
	}
	run := func(n *int, q string, args ...any) error {
		if !count {
			return s.purgeLoop(ctx, n, func() {
				if policy.Progress != nil {
					policy.Progress(res)
				}
			}, q, args...)
		}
		var c int64
		if err := s.pool.QueryRow(ctx, countOf(q), args[:len(args)-1]...).Scan(&c); err != nil {
			return fmt.Errorf("count purge: %w", mapErr(err))
		}
		*n += int(c)
		return nil
	}
	for _, r := range rules {
		if err := run(r.count, r.sql, r.cutoff, batch); err != nil {
			return res, err
		}
	}
	if cut, on := policy.Cutoff(policy.CompletedTaskAge); on {
		if err := run(&res.Tasks, s.sql.purgeTasks, []string{string(store.StatusCompleted)}, ts(cut), batch); err != nil {
			return res, err
		}
	}
	if cut, on := policy.Cutoff(policy.FailedTaskAge); on {
		statuses := []string{string(store.StatusFailed), string(store.StatusCancelled)}
		if err := run(&res.Tasks, s.sql.purgeTasks, statuses, ts(cut), batch); err != nil {
			return res, err
		}
	}
	if cut, on := policy.Cutoff(policy.StatsAge); on {
		if err := run(&res.Stats, s.sql.purgeStats, ts(cut), batch); err != nil {
			return res, err
		}
	}
	return res, nil
}

// purgeLoop runs one batched delete until it runs dry, calling tick after
// each batch. The batch size is the last argument of every purge statement.
func (s *Store) purgeLoop(ctx context.Context, count *int, tick func(), q string, args ...any) error {
	batch := args[len(args)-1].(int)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		n, err := s.purgeOnce(ctx, q, args)
		if err != nil {
			return fmt.Errorf("purge: %w", mapErr(err))
		}
		*count += n
		tick()
		if n < batch {
			return nil
		}
	}
}

// purgeOnce runs one batch and returns how many rows it deleted: the
// statement's row count, or for the task purge (a CTE that also deletes the
// audits) the count it selects.
func (s *Store) purgeOnce(ctx context.Context, q string, args []any) (int, error) {
	if q == s.sql.purgeTasks {
		var n int64
		err := s.pool.QueryRow(ctx, q, args...).Scan(&n)
		return int(n), err
	}
	tag, err := s.pool.Exec(ctx, q, args...)
	return int(tag.RowsAffected()), err
}

// pick returns the statement of an audit delete for its row filter.
func pick(rows store.Rows, all, withoutError, withError string) string {
	switch rows {
	case store.RowsWithoutError:
		return withoutError
	case store.RowsWithError:
		return withError
	}
	return all
}
