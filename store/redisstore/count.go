package redisstore

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/evertask/evertask/store"
)

// The counts come from the per (status, queue) index sorted sets, which
// every script keeps in step with the rows: ZCARD, or ZLEXCOUNT from the
// created-from bound, O(log n) each. No row is read.

// CountByStatus sums CountByQueue over the queues.
func (s *Store) CountByStatus(ctx context.Context, p store.CountParams) (map[store.Status]int, error) {
	byQueue, err := s.CountByQueue(ctx, p)
	if err != nil {
		return nil, err
	}
	out := map[store.Status]int{}
	for _, m := range byQueue {
		for st, n := range m {
			out[st] += n
		}
	}
	return out, nil
}

// CountByQueue counts rows per queue and status: one read of the queue set
// (it grows with the distinct queue names, never with rows), then one
// pipelined count per queue and status.
func (s *Store) CountByQueue(ctx context.Context, p store.CountParams) (map[string]map[store.Status]int, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	queues, err := s.queues(ctx)
	if err != nil {
		return nil, fmt.Errorf("count by queue: %w", err)
	}
	out := map[string]map[store.Status]int{}
	if len(queues) == 0 {
		return out, nil
	}
	pipe := s.rdb.Pipeline()
	cmds := make([][]*redis.IntCmd, len(queues))
	for i, q := range queues {
		cmds[i] = make([]*redis.IntCmd, len(store.Statuses))
		for j, st := range store.Statuses {
			cmds[i][j] = s.countCmd(ctx, pipe, s.p+"qs:"+string(st)+":"+q, &p)
		}
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("count by queue: %w", mapErr(err))
	}
	for i, q := range queues {
		for j, st := range store.Statuses {
			if n := cmds[i][j].Val(); n > 0 {
				if out[q] == nil {
					out[q] = map[store.Status]int{}
				}
				out[q][st] = int(n)
			}
		}
	}
	return out, nil
}

func (s *Store) countCmd(ctx context.Context, pipe redis.Pipeliner, key string, p *store.CountParams) *redis.IntCmd {
	if p.CreatedFrom.IsZero() {
		return pipe.ZCard(ctx, key)
	}
	return pipe.ZLexCount(ctx, key, "["+orderKey(p.CreatedFrom), "+")
}
