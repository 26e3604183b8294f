package mysqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/evertask/evertask/store"
)

// Purge implements store.Retainer. Each statement deletes at most
// policy.BatchSize rows (DELETE ... ORDER BY ... LIMIT n), so locks stay
// short; it loops until a statement deletes fewer rows than the batch or
// ctx ends, returning what was deleted so far.
func (s *Store) Purge(ctx context.Context, policy store.RetentionPolicy) (store.PurgeResult, error) {
	return s.purge(ctx, policy, false)
}

// CountPurge implements store.PurgeCounter: each of Purge's statements as
// a count of the rows it picks.
func (s *Store) CountPurge(ctx context.Context, policy store.RetentionPolicy) (store.PurgeResult, error) {
	return s.purge(ctx, policy, true)
}

// countOf turns a purge statement (DELETE FROM t WHERE ... ORDER BY c
// LIMIT ?, or the SELECT of the task ids) into the count of the rows it
// picks.
func countOf(q string) string {
	return "SELECT COUNT(*)" + q[strings.Index(q, " FROM "):strings.LastIndex(q, " ORDER BY ")]
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
			q, count = s.n.fill(sqlPurgeAttempts), &res.Attempts
		}
		rules = append(rules, rule{q, ts(hr.Cutoff), count})
	}
	if cut, on := policy.Cutoff(policy.StatsAge); on {
		// Counters of minutes strictly before the cutoff: a counter's
		// minute is whole, so rounding a cutoff inside a microsecond up
		// keeps that.
		c := store.NormalizeTime(cut)
		if c.Before(cut) {
			c = c.Add(time.Microsecond)
		}
		rules = append(rules, rule{s.sql.purgeStats, ts(c), &res.Stats})
	}
	progress := func() {
		if policy.Progress != nil {
			policy.Progress(res)
		}
	}
	if count {
		for _, r := range rules {
			if err := s.countPurge(ctx, r.count, r.sql, r.cutoff); err != nil {
				return res, err
			}
		}
		if cut, on := policy.Cutoff(policy.CompletedTaskAge); on {
			if err := s.countPurge(ctx, &res.Tasks, s.sql.purgeTaskIDs, string(store.StatusCompleted), string(store.StatusCompleted), ts(cut)); err != nil {
				return res, err
			}
		}
		if cut, on := policy.Cutoff(policy.FailedTaskAge); on {
			if err := s.countPurge(ctx, &res.Tasks, s.sql.purgeTaskIDs, string(store.StatusFailed), string(store.StatusCancelled), ts(cut)); err != nil {
				return res, err
			}
		}
		return res, nil
	}
	for _, r := range rules {
		for {
			if err := ctx.Err(); err != nil {
				return res, err
			}
			var n int64
			err := retry(ctx, func() error {
				r, err := s.db.ExecContext(ctx, r.sql, r.cutoff, batch)
				if err == nil {
					n, err = r.RowsAffected()
				}
				return err
			})
			if err != nil {
				return res, fmt.Errorf("purge: %w", mapErr(err))
			}
			*r.count += int(n)
			progress()
			if int(n) < batch {
				break
			}
		}
	}
	if cut, on := policy.Cutoff(policy.CompletedTaskAge); on {
		if err := s.purgeTasks(ctx, &res.Tasks, progress, store.StatusCompleted, store.StatusCompleted, ts(cut), batch); err != nil {
			return res, err
		}
	}
	if cut, on := policy.Cutoff(policy.FailedTaskAge); on {
		if err := s.purgeTasks(ctx, &res.Tasks, progress, store.StatusFailed, store.StatusCancelled, ts(cut), batch); err != nil {
			return res, err
		}
	}
	return res, nil
}

// purgeTasks deletes finished one-shot rows of two statuses older than
// cutoff, batch rows per transaction, with their audits (their logs go
// through the foreign key). A finished one-shot gets no new audit, so none
// can slip in behind the delete.
// countPurge adds to n the count of the rows a purge statement picks (its
// arguments but the batch size).
func (s *Store) countPurge(ctx context.Context, n *int, q string, args ...any) error {
	var c int
	if err := s.db.QueryRowContext(ctx, countOf(q), args...).Scan(&c); err != nil {
		return fmt.Errorf("count purge: %w", mapErr(err))
	}
	*n += c
	return nil
}

func (s *Store) purgeTasks(ctx context.Context, count *int, tick func(), a, b store.Status, cutoff any, batch int) error {
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		var n int
		err := s.inTx(ctx, nil, func(tx *sql.Tx) error {
			rows, err := tx.QueryContext(ctx, s.sql.purgeTaskIDs, string(a), string(b), cutoff, batch)
			if err != nil {
				return err
			}
			var args []any
			for rows.Next() {
				var id uuid.UUID
				if err := rows.Scan(idDest{&id}); err != nil {
					rows.Close()
					return err
				}
				args = append(args, idArg(id))
			}
			if err := rows.Close(); err != nil {
				return err
			}
			if n = len(args); n == 0 {
				return nil
			}
			in := inList(n)
			for _, q := range []string{
				"DELETE FROM " + s.n.tasks + " WHERE id IN " + in,
				"DELETE FROM " + s.n.statusAudits + " WHERE task_id IN " + in,
				"DELETE FROM " + s.n.runsAudits + " WHERE task_id IN " + in,
			} {
				if _, err := tx.ExecContext(ctx, q, args...); err != nil {
					return err
				}
			}
			return nil
		})
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
