package redisstore

import (
	"context"
	"fmt"
	"time"

	"github.com/evertask/evertask/store"
)

// Purge deletes old history in batches of policy.BatchSize index entries per
// script call, oldest first, until a batch comes back short or ctx ends.
// Audits and logs are read with ZRANGEBYSCORE ... LIMIT from retention
// indexes scored by time, so no call scans keys; they go first. Finished
// one-shot rows go last, each with what is left of its audits and logs:
// their retention entries are lists per second (see purgeRows). The
// counters of store.Stats go between, a batch of minutes per call (see
// purgeStats); PurgeResult.Stats counts (minute, kind, status) counters.
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
		{"ati", attemptAge(&pol), &res.Attempts},
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
			if pol.Progress != nil {
				pol.Progress(res)
			}
			if int(v[0]) < batch {
				break
			}
		}
	}
	if cut, ok := pol.Cutoff(pol.StatsAge); ok {
		n, err := s.purgeStats(ctx, cut, batch)
		res.Stats += n
		if err != nil {
			return res, err
		}
	}
	for _, r := range []struct {
		status store.Status
		age    time.Duration
	}{
		{store.StatusCompleted, pol.CompletedTaskAge},
		{store.StatusFailed, pol.FailedTaskAge},
		{store.StatusCancelled, pol.FailedTaskAge},
	} {
		cut, ok := pol.Cutoff(r.age)
		if !ok {
			continue
		}
		before := res.Tasks
		n, err := s.purgeRows(ctx, r.status, cut, batch, func(n int) {
			if pol.Progress != nil {
				res.Tasks = before + n
				pol.Progress(res)
			}
		})
		res.Tasks = before + n
		if err != nil {
			return res, err
		}
	}
	return res, nil
}

// attemptAge is the age of the attempts rule (see
// store.RetentionPolicy.AttemptCutoff); 0 disables it.
func attemptAge(p *store.RetentionPolicy) time.Duration {
	if p.ErrorAuditAge > 0 {
		return p.ErrorAuditAge
	}
	return p.StatusAuditAge
}

// purgeRows deletes the finished one-shot rows of a status whose retention
// score (last execution, else creation) is before cut. Their entries are
// in one list per second of that score (lua/purge_fin.lua): the lists of
// the seconds before cut's are taken whole, a batch at a time from the
// oldest; the list of cut's own second is read through, and only its rows
// older than cut go. Entries of rows that moved on or went are dropped on
// the way.
func (s *Store) purgeRows(ctx context.Context, st store.Status, cut time.Time, batch int, tick func(deleted int)) (int, error) {
	// Entries a version 2 process wrote after this prefix was upgraded
	// are in the old sorted set: move them first, so none is missed.
	if err := s.upgradeFin(ctx, st); err != nil {
		return 0, fmt.Errorf("purge %s tasks: %w", st, err)
	}
	deleted := 0
	for offset := -1; ; {
		if err := ctx.Err(); err != nil {
			return deleted, err
		}
		v, err := s.run(ctx, scriptPurgeFin, string(st), micros(cut), batch, offset).Int64Slice()
		if err != nil {
			return deleted, fmt.Errorf("purge %s tasks: %w", st, mapErr(err))
		}
		deleted += int(v[1])
		tick(deleted)
		switch {
		case offset < 0 && v[2] == 0:
			offset = 0 // the older seconds are done: now cut's own
		case offset >= 0 && v[2] == 0:
			return deleted, nil
		case offset >= 0:
			offset += int(v[0])
		}
	}
}
