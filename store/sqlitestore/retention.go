package sqlitestore

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"time"

	"github.com/evertask/evertask/store"
)

// Without CreatedFrom the counts are read from task_counts, which triggers
// keep (migration 006). With it they are covering scans of tasks_status,
// which holds status, created_at and queue; INDEXED BY because the planner,
// without statistics, takes tasks_queue for the GROUP BY queue and then
// reads every row.
const (
	countAllByStatusSQL = `SELECT status, sum(n) FROM task_counts WHERE n > 0 GROUP BY status`
	countAllByQueueSQL  = `SELECT queue, status, n FROM task_counts WHERE n > 0`

	countByStatusSQL = `SELECT status, count(*) FROM tasks INDEXED BY tasks_status WHERE created_at >= ? GROUP BY status`
	countByQueueSQL  = `SELECT queue, status, count(*) FROM tasks INDEXED BY tasks_status WHERE created_at >= ? GROUP BY queue, status`
)

func countFrom(p store.CountParams) int64 {
	if p.CreatedFrom.IsZero() {
		return math.MinInt64
	}
	return ceilMicros(p.CreatedFrom)
}

// CountByStatus counts rows per status.
func (s *Store) CountByStatus(ctx context.Context, p store.CountParams) (map[store.Status]int, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	out := map[store.Status]int{}
	query, args := countByStatusSQL, []any{countFrom(p)}
	if p.CreatedFrom.IsZero() {
		query, args = countAllByStatusSQL, nil
	}
	err := s.queryEach(ctx, query, args, func(rows *sql.Rows) error {
		var st string
		var n int
		if err := rows.Scan(&st, &n); err != nil {
			return err
		}
		out[store.Status(st)] = n
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("count by status: %w", err)
	}
	return out, nil
}

// CountByQueue counts rows per queue and status.
func (s *Store) CountByQueue(ctx context.Context, p store.CountParams) (map[string]map[store.Status]int, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	out := map[string]map[store.Status]int{}
	query, args := countByQueueSQL, []any{countFrom(p)}
	if p.CreatedFrom.IsZero() {
		query, args = countAllByQueueSQL, nil
	}
	err := s.queryEach(ctx, query, args, func(rows *sql.Rows) error {
		var queue, st string
		var n int
		if err := rows.Scan(&queue, &st, &n); err != nil {
			return err
		}
		if out[queue] == nil {
			out[queue] = map[store.Status]int{}
		}
		out[queue][store.Status(st)] = n
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("count by queue: %w", err)
	}
	return out, nil
}

func (s *Store) queryEach(ctx context.Context, query string, args []any, fn func(*sql.Rows) error) error {
	rows, err := s.readers.QueryContext(ctx, query, args...)
	if err != nil {
		return mapErr(err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows); err != nil {
			return mapErr(err)
		}
	}
	return mapErr(rows.Err())
}

// Purge statements delete at most @batch rows each, chosen by a rowid
// subselect (SQLite has no DELETE ... LIMIT by default). Each runs as its own
// short transaction, so the hot path's writes interleave with a long purge.
// The audit tables have no time index, to keep the hot path's inserts cheap:
// their ids grow with time, so each batch finds its victims at the start of
// the table and only the last, empty batch reads the rest.
const (
	purgeStatusAll = `DELETE FROM status_audits WHERE id IN
    (SELECT id FROM status_audits WHERE at < @cut LIMIT @batch)`
	purgeStatusOK = `DELETE FROM status_audits WHERE id IN
    (SELECT id FROM status_audits WHERE at < @cut AND error = '' LIMIT @batch)`
	purgeStatusErr = `DELETE FROM status_audits WHERE id IN
    (SELECT id FROM status_audits WHERE at < @cut AND error <> '' LIMIT @batch)`
	purgeRunsAll = `DELETE FROM runs_audits WHERE id IN
    (SELECT id FROM runs_audits WHERE executed_at < @cut LIMIT @batch)`
	purgeRunsOK = `DELETE FROM runs_audits WHERE id IN
    (SELECT id FROM runs_audits WHERE executed_at < @cut AND error = '' LIMIT @batch)`
	purgeRunsErr = `DELETE FROM runs_audits WHERE id IN
    (SELECT id FROM runs_audits WHERE executed_at < @cut AND error <> '' LIMIT @batch)`
	purgeLogs = `DELETE FROM execution_logs WHERE rowid IN
    (SELECT rowid FROM execution_logs WHERE at < @cut LIMIT @batch)`
	// Finished one-shot rows, by their last execution or else creation;
	// audits and logs go with them by cascade.
	purgeCompleted = `DELETE FROM tasks WHERE rowid IN
    (SELECT rowid FROM tasks WHERE status = 'Completed' AND recurring = 0
       AND coalesce(last_execution_at, created_at) < @cut LIMIT @batch)`
	purgeFailed = `DELETE FROM tasks WHERE rowid IN
    (SELECT rowid FROM tasks WHERE (status = 'Failed' OR status = 'Cancelled') AND recurring = 0
       AND coalesce(last_execution_at, created_at) < @cut LIMIT @batch)`
)

// attemptCut is the attempts rule's cutoff in micros, nil when disabled.
func attemptCut(p *store.RetentionPolicy) *int64 {
	t, ok := p.AttemptCutoff()
	if !ok {
		return nil
	}
	v := ceilMicros(t)
	return &v
}

// Purge deletes old history in batches of policy.BatchSize rows per
// statement. Ages of zero or less disable their rule.
func (s *Store) Purge(ctx context.Context, policy store.RetentionPolicy) (store.PurgeResult, error) {
	var res store.PurgeResult
	if err := s.check(); err != nil {
		return res, err
	}
	if err := policy.Normalize(); err != nil {
		return res, err
	}
	batch := policy.BatchSize
	type rule struct {
		query string
		age   *int64 // nil: disabled
		count *int
	}
	at := func(age time.Duration) *int64 {
		t, ok := policy.Cutoff(age)
		if !ok {
			return nil
		}
		v := ceilMicros(t) // rows strictly older than the cutoff
		return &v
	}
	okStatus, okRuns := at(policy.StatusAuditAge), at(policy.RunsAuditAge)
	errCut := at(policy.ErrorAuditAge)
	var rules []rule
	if errCut != nil {
		// Audits with an error follow their own age; the others theirs.
		rules = append(rules,
			rule{purgeStatusOK, okStatus, &res.StatusAudits}, rule{purgeStatusErr, errCut, &res.StatusAudits},
			rule{purgeRunsOK, okRuns, &res.RunsAudits}, rule{purgeRunsErr, errCut, &res.RunsAudits})
	} else {
		rules = append(rules, rule{purgeStatusAll, okStatus, &res.StatusAudits}, rule{purgeRunsAll, okRuns, &res.RunsAudits})
	}
	rules = append(rules,
		rule{purgeLogs, at(policy.LogAge), &res.Logs},
		rule{purgeAttempts, attemptCut(&policy), &res.Attempts},
		rule{purgeCompleted, at(policy.CompletedTaskAge), &res.Tasks},
		rule{purgeFailed, at(policy.FailedTaskAge), &res.Tasks})

	for _, r := range rules {
		if r.age == nil {
			continue
		}
		for {
			if err := ctx.Err(); err != nil {
				return res, err
			}
			out, err := s.writer.ExecContext(ctx, r.query, sql.Named("cut", *r.age), sql.Named("batch", batch))
			if err != nil {
				return res, fmt.Errorf("purge: %w", mapErr(err))
			}
			n, err := out.RowsAffected()
			if err != nil {
				return res, fmt.Errorf("purge: %w", mapErr(err))
			}
			*r.count += int(n)
			if n < int64(batch) {
				break
			}
		}
	}
	return res, nil
}
