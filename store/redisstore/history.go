package redisstore

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/evertask/evertask/store"
)

// SaveLogs appends logs in one script: the per-task sorted set ordered by
// (ID, Seq) and the retention index by time.
func (s *Store) SaveLogs(ctx context.Context, taskID uuid.UUID, logs []store.ExecutionLog) error {
	if err := s.check(); err != nil {
		return err
	}
	if len(logs) == 0 {
		return nil
	}
	args := make([]any, 0, 1+3*len(logs))
	args = append(args, taskID.String())
	for i := range logs {
		l := logs[i]
		l.At = store.NormalizeTime(l.At)
		at := micros(l.At)
		if at == "" {
			at = "0"
		}
		args = append(args, encodeLog(&l), at, logSortKey(&l))
	}
	n, err := s.run(ctx, scriptSaveLogs, args...).Int64()
	if err != nil {
		return fmt.Errorf("save logs of %s: %w", taskID, mapErr(err))
	}
	if n < 0 {
		return fmt.Errorf("save logs of %s: %w", taskID, store.ErrNotFound)
	}
	return nil
}

// logChunk bounds each read of a task's logs.
const logChunk = 1000

// Logs reads every log of the task in chunks of logChunk entries.
func (s *Store) Logs(ctx context.Context, taskID uuid.UUID) ([]store.ExecutionLog, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	var out []store.ExecutionLog
	err := s.eachLog(ctx, taskID, func(l store.ExecutionLog) { out = append(out, l) })
	return out, err
}

func (s *Store) eachLog(ctx context.Context, taskID uuid.UUID, fn func(store.ExecutionLog)) error {
	key := s.p + "lg:" + taskID.String()
	lo := "-"
	for {
		ms, err := s.rdb.ZRangeByLex(ctx, key, &redis.ZRangeBy{Min: lo, Max: "+", Count: logChunk}).Result()
		if err != nil {
			return fmt.Errorf("logs of %s: %w", taskID, mapErr(err))
		}
		for _, m := range ms {
			l, err := decodeLog(taskID, m)
			if err != nil {
				return err
			}
			fn(l)
		}
		if len(ms) < logChunk {
			return nil
		}
		// Continue after the last entry read, not at a rank: logs purged
		// meanwhile do not make the walk skip any.
		lo = "(" + ms[len(ms)-1]
	}
}

// LogsPage reads one page by rank when no level is asked; with a level it
// walks the task's logs in chunks and counts the matches.
func (s *Store) LogsPage(ctx context.Context, q store.LogQuery) (store.LogPage, error) {
	if err := s.check(); err != nil {
		return store.LogPage{}, err
	}
	err := q.Normalize()
	if err != nil {
		return store.LogPage{}, err
	}
	limit := q.Limit
	page := store.LogPage{Logs: []store.ExecutionLog{}}
	if q.Level == "" {
		key := s.p + "lg:" + q.TaskID.String()
		pipe := s.rdb.Pipeline()
		total := pipe.ZCard(ctx, key)
		rng := pipe.ZRange(ctx, key, int64(q.Offset), int64(q.Offset+limit-1))
		if _, err := pipe.Exec(ctx); err != nil {
			return store.LogPage{}, fmt.Errorf("logs of %s: %w", q.TaskID, mapErr(err))
		}
		page.Total = int(total.Val())
		for _, m := range rng.Val() {
			l, err := decodeLog(q.TaskID, m)
			if err != nil {
				return store.LogPage{}, err
			}
			page.Logs = append(page.Logs, l)
		}
		return page, nil
	}
	err = s.eachLog(ctx, q.TaskID, func(l store.ExecutionLog) {
		if !strings.EqualFold(l.Level, q.Level) {
			return
		}
		if page.Total >= q.Offset && len(page.Logs) < limit {
			page.Logs = append(page.Logs, l)
		}
		page.Total++
	})
	return page, err
}

// StatusAudits reads the task's status audits, newest first, in chunks of
// logChunk entries.
func (s *Store) StatusAudits(ctx context.Context, taskID uuid.UUID) ([]store.StatusAudit, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	var out []store.StatusAudit
	err := s.eachNewest(ctx, s.p+"sa:"+taskID.String(), func(m string) error {
		a, err := decodeStatusAudit(taskID, m)
		out = append(out, a)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("status audits of %s: %w", taskID, err)
	}
	return out, nil
}

// RunsAudits reads the task's runs audits, newest first, in chunks.
func (s *Store) RunsAudits(ctx context.Context, taskID uuid.UUID) ([]store.RunsAudit, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	var out []store.RunsAudit
	err := s.eachNewest(ctx, s.p+"ra:"+taskID.String(), func(m string) error {
		a, err := decodeRunsAudit(taskID, m)
		out = append(out, a)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("runs audits of %s: %w", taskID, err)
	}
	return out, nil
}

// eachNewest walks an audit set from the highest audit id down. Each chunk
// continues strictly below the last id read, so audits purged meanwhile do
// not shift it.
func (s *Store) eachNewest(ctx context.Context, key string, fn func(string) error) error {
	max := "+inf"
	for {
		zs, err := s.rdb.ZRevRangeByScoreWithScores(ctx, key, &redis.ZRangeBy{Max: max, Min: "-inf", Count: logChunk}).Result()
		if err != nil {
			return mapErr(err)
		}
		for _, z := range zs {
			if err := fn(z.Member.(string)); err != nil {
				return err
			}
		}
		if len(zs) < logChunk {
			return nil
		}
		max = "(" + strconv.FormatFloat(zs[len(zs)-1].Score, 'f', -1, 64)
	}
}

// TrimLogs implements store.LogTrimmer in one script.
func (s *Store) TrimLogs(ctx context.Context, taskID uuid.UUID, keep int) (int, error) {
	if err := s.check(); err != nil {
		return 0, err
	}
	if err := store.CheckKeep(keep); err != nil {
		return 0, err
	}
	n, err := s.run(ctx, scriptTrimLogs, taskID.String(), keep).Int64()
	if err != nil {
		return 0, fmt.Errorf("trim logs of %s: %w", taskID, mapErr(err))
	}
	return int(n), nil
}
