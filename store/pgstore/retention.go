package pgstore

import (
	"context"
	"fmt"

	"github.com/evertask/evertask/store"
)

// Purge implements store.Retainer. Each statement deletes at most
// policy.BatchSize rows (DELETE ... WHERE id IN (SELECT ... LIMIT n)), so
// locks stay short; it loops until a statement deletes fewer rows than
// the batch or ctx ends, returning what was deleted so far.
func (s *Store) Purge(ctx context.Context, policy store.RetentionPolicy) (store.PurgeResult, error) {
	var res store.PurgeResult
	if err := s.check(); err != nil {
		return res, err
	}
	if err := policy.Normalize(); err != nil {
		return res, err
	}
	batch := policy.BatchSize
	errCut, errRule := policy.Cutoff(policy.ErrorAuditAge)

	// Audits: with an error rule, rows with an error follow it and the
	// age rule covers only rows without one.
	type rule struct {
		sql    string
		cutoff any
		count  *int
	}
	var rules []rule
	if cut, on := policy.Cutoff(policy.StatusAuditAge); on {
		q := s.sql.purgeStatusAll
		if errRule {
			q = s.sql.purgeStatusOK
		}
		rules = append(rules, rule{q, ts(cut), &res.StatusAudits})
	}
	if cut, on := policy.Cutoff(policy.RunsAuditAge); on {
		q := s.sql.purgeRunsAll
		if errRule {
			q = s.sql.purgeRunsOK
		}
		rules = append(rules, rule{q, ts(cut), &res.RunsAudits})
	}
	if errRule {
		rules = append(rules, rule{s.sql.purgeStatusErrors, ts(errCut), &res.StatusAudits},
			rule{s.sql.purgeRunsErrors, ts(errCut), &res.RunsAudits})
	}
	if cut, on := policy.Cutoff(policy.LogAge); on {
		rules = append(rules, rule{s.sql.purgeLogs, ts(cut), &res.Logs})
	}
	if cut, on := policy.AttemptCutoff(); on {
		rules = append(rules, rule{s.sql.attempts.purge, ts(cut), &res.Attempts})
	}
	for _, r := range rules {
		if err := s.purgeLoop(ctx, r.count, r.sql, r.cutoff, batch); err != nil {
			return res, err
		}
	}
	if cut, on := policy.Cutoff(policy.CompletedTaskAge); on {
		if err := s.purgeLoop(ctx, &res.Tasks, s.sql.purgeTasks, []string{string(store.StatusCompleted)}, ts(cut), batch); err != nil {
			return res, err
		}
	}
	if cut, on := policy.Cutoff(policy.FailedTaskAge); on {
		statuses := []string{string(store.StatusFailed), string(store.StatusCancelled)}
		if err := s.purgeLoop(ctx, &res.Tasks, s.sql.purgeTasks, statuses, ts(cut), batch); err != nil {
			return res, err
		}
	}
	return res, nil
}

// purgeLoop runs one batched delete until it runs dry. The batch size is
// the last argument of every purge statement.
func (s *Store) purgeLoop(ctx context.Context, count *int, q string, args ...any) error {
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
