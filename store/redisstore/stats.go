package redisstore

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/evertask/evertask/store"
)

var _ store.Stats = (*Store)(nil)

// overviewChunk bounds the minutes one pipeline of Overview reads.
const overviewChunk = 1000

// Overview implements store.Stats from the counters the ending scripts
// keep (st_add in lua/lib.lua): one ZRANGEBYSCORE of stm gives the window's
// minutes that have counters, then one pipelined HGETALL per minute. It
// reads no row. The minutes are read one pipeline after another, not in one
// script, so Redis is never blocked by a long window; an end written
// meanwhile may be counted or not.
func (s *Store) Overview(ctx context.Context, p store.OverviewParams) (store.Overview, error) {
	if err := p.Validate(); err != nil {
		return store.Overview{}, err
	}
	if err := s.check(); err != nil {
		return store.Overview{}, err
	}
	from, to := unixMinute(p.From), unixMinute(p.To)
	minutes, err := s.rdb.ZRangeByScore(ctx, s.p+"stm", &redis.ZRangeBy{
		Min: strconv.FormatInt(from, 10), Max: "(" + strconv.FormatInt(to, 10),
	}).Result()
	if err != nil {
		return store.Overview{}, fmt.Errorf("overview: %w", mapErr(err))
	}
	o := store.NewOverview(p)
	perBucket := int64(p.Bucket / store.StatsResolution)
	for len(minutes) > 0 {
		chunk := minutes[:min(len(minutes), overviewChunk)]
		minutes = minutes[len(chunk):]
		pipe := s.rdb.Pipeline()
		cmds := make([]*redis.MapStringStringCmd, len(chunk))
		for i, m := range chunk {
			cmds[i] = pipe.HGetAll(ctx, s.p+"st:"+m)
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return store.Overview{}, fmt.Errorf("overview: %w", mapErr(err))
		}
		for i, m := range chunk {
			n, err := strconv.ParseInt(m, 10, 64)
			if err != nil {
				return store.Overview{}, fmt.Errorf("overview: minute %q: %w", m, err)
			}
			if err := countMinute(&o, int((n-from)/perBucket), cmds[i].Val()); err != nil {
				return store.Overview{}, fmt.Errorf("overview: minute %s: %w", m, err)
			}
		}
	}
	return o, nil
}

// countMinute adds the counters of one minute's hash to bucket i: fields
// "cn<kind>" and "cu<kind>" for Completed (count, µs), "fn<kind>" and
// "fu<kind>" for Failed.
func countMinute(o *store.Overview, i int, h map[string]string) error {
	for f, v := range h {
		if len(f) < 2 || f[1] != 'n' {
			continue
		}
		var status store.Status
		switch f[0] {
		case 'c':
			status = store.StatusCompleted
		case 'f':
			status = store.StatusFailed
		default:
			continue
		}
		n, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("field %q: %w", f, err)
		}
		var us int64
		if u, ok := h[f[:1]+"u"+f[2:]]; ok {
			if us, err = strconv.ParseInt(u, 10, 64); err != nil {
				return fmt.Errorf("field %q: %w", f[:1]+"u"+f[2:], err)
			}
		}
		o.Count(i, f[2:], status, n, time.Duration(us)*time.Microsecond)
	}
	return nil
}

// unixMinute returns the number of t's minute since the Unix epoch, as the
// scripts compute it from unix µs.
func unixMinute(t time.Time) int64 { return store.StatsMinute(t).Unix() / 60 }

// purgeStats deletes the counters of the minutes that start before cut, a
// batch of minutes per script call, and returns how many counters went.
func (s *Store) purgeStats(ctx context.Context, cut time.Time, batch int) (int, error) {
	before := unixMinute(cut)
	if !store.StatsMinute(cut).Equal(store.NormalizeTime(cut)) {
		before++ // the cut's own minute started before it
	}
	deleted := 0
	for {
		if err := ctx.Err(); err != nil {
			return deleted, err
		}
		v, err := s.run(ctx, scriptPurgeStats, before, batch).Int64Slice()
		if err != nil {
			return deleted, fmt.Errorf("purge stats: %w", mapErr(err))
		}
		deleted += int(v[1])
		if int(v[0]) < batch {
			return deleted, nil
		}
	}
}
