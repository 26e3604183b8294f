package redisstore

import (
	"context"
	"fmt"
	"time"

	"github.com/evertask/evertask/store"
)

// Purge deletes old history in batches of policy.BatchSize index entries per
// script call, oldest first, until a batch comes back short or ctx ends.
// Each batch reads its entries with ZRANGEBYSCORE ... LIMIT from a retention
// index scored by time, so no call scans keys. Audits go first, then logs,
// then finished one-shot rows (each with what is left of its audits and
// logs).
func (s *Store) Purge(ctx context.Context, pol store.RetentionPolicy) (store.PurgeResult, error) {
	var res store.PurgeResult
	if err := s.check(); err != nil {
		return res, err
	}
	if pol.BatchSize < 0 {
		return res, fmt.Errorf("%w: negative batch size %d", store.ErrInvalid, pol.BatchSize)
	}
	batch := pol.BatchSize
	if batch == 0 {
		batch = store.DefaultPurgeBatch
	}
	type rule struct {
		what string
		age  time.Duration
		n    *int
	}
	errAge := func(age time.Duration) time.Duration {
		if pol.ErrorAuditAge > 0 {
			return pol.ErrorAuditAge
		}
		return age
	}
	rules := []rule{
		{"sai", pol.StatusAuditAge, &res.StatusAudits},
		{"saie", errAge(pol.StatusAuditAge), &res.StatusAudits},
		{"rai", pol.RunsAuditAge, &res.RunsAudits},
		{"raie", errAge(pol.RunsAuditAge), &res.RunsAudits},
		{"li", pol.LogAge, &res.Logs},
		{"fin:" + string(store.StatusCompleted), pol.CompletedTaskAge, &res.Tasks},
		{"fin:" + string(store.StatusFailed), pol.FailedTaskAge, &res.Tasks},
		{"fin:" + string(store.StatusCancelled), pol.FailedTaskAge, &res.Tasks},
	}
	for _, r := range rules {
		cut, ok := pol.Cutoff(r.age)
		if !ok {
			continue
		}
		for {
			if err := ctx.Err(); err != nil {
				return res, err
			}
			v, err := s.run(ctx, scriptPurge, r.what, micros(cut), batch).Int64Slice()
			if err != nil {
				return res, fmt.Errorf("purge %s: %w", r.what, mapErr(err))
			}
			*r.n += int(v[1])
			if int(v[0]) < batch {
				break
			}
		}
	}
	return res, nil
}
