package sqlitestore

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/evertask/evertask/store"
)

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
	return s.purge(ctx, policy, false)
}

// CountPurge implements store.PurgeCounter: each of Purge's deletes as a
// count of the rows it selects.
func (s *Store) CountPurge(ctx context.Context, policy store.RetentionPolicy) (store.PurgeResult, error) {
	return s.purge(ctx, policy, true)
}

// countOf turns a purge statement, DELETE FROM t WHERE k IN (SELECT k FROM t
// WHERE ... LIMIT @batch), into the count of the rows its subselect picks.
func countOf(del string) string {
	sub := del[strings.Index(del, "(SELECT ")+1 : strings.LastIndex(del, " LIMIT @batch)")]
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
		rule{purgeFailed, at(policy.FailedTaskAge), &res.Tasks},
		rule{purgeStats, at(policy.StatsAge), &res.Stats})

	for _, r := range rules {
		if r.age == nil {
			continue
		}
		if count {
			var n int
			if err := s.readers.QueryRowContext(ctx, countOf(r.query), sql.Named("cut", *r.age)).Scan(&n); err != nil {
				return res, fmt.Errorf("count purge: %w", mapErr(err))
			}
			*r.count += n
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
			if policy.Progress != nil {
				policy.Progress(res)
			}
			if n < int64(batch) {
				break
			}
		}
	}
	return res, nil
}
