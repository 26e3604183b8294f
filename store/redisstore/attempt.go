package redisstore

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/evertask/evertask/store"
)

var (
	_ store.AttemptStore = (*Store)(nil)
	_ store.LogTrimmer   = (*Store)(nil)
)

// RecordAttempt appends one failed attempt in one script: the entry in the
// task's "at:" set and in the "ati" retention index, after the check of the
// row (and of its lease, when fenced).
func (s *Store) RecordAttempt(ctx context.Context, p store.AttemptParams) (bool, error) {
	if err := s.check(); err != nil {
		return false, err
	}
	if err := p.Validate(); err != nil {
		return false, err
	}
	a := &p.Attempt
	write := "0"
	if store.AttemptAuditRequired(p.AuditLevel) {
		write = "1"
	}
	n, err := s.run(ctx, scriptRecordAttempt, a.TaskID.String(), p.HeldBy, write, a.Run, a.Number,
		micros(store.NormalizeTime(a.StartedAt)), a.Duration.Microseconds(), a.Error).Int64()
	if err != nil {
		return false, fmt.Errorf("record attempt of %s: %w", a.TaskID, mapErr(err))
	}
	if n < 0 {
		return false, fmt.Errorf("record attempt of %s: %w", a.TaskID, store.ErrNotFound)
	}
	return n == 1, nil
}

// Attempts reads the task's failed attempts, oldest first.
func (s *Store) Attempts(ctx context.Context, taskID uuid.UUID) ([]store.Attempt, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	ms, err := s.rdb.ZRange(ctx, s.p+"at:"+taskID.String(), 0, -1).Result()
	if err != nil {
		return nil, fmt.Errorf("attempts of %s: %w", taskID, mapErr(err))
	}
	out := make([]store.Attempt, 0, len(ms))
	for _, m := range ms {
		a, err := decodeAttempt(taskID, m)
		if err != nil {
			return nil, fmt.Errorf("attempts of %s: %w", taskID, err)
		}
		out = append(out, a)
	}
	return out, nil
}

// Attempt entries are "<id>|<run>|<number>|<started µs>|<duration µs>|<error>":
// the error text is the tail, so it may hold any byte.
func decodeAttempt(taskID uuid.UUID, s string) (store.Attempt, error) {
	f := strings.SplitN(s, "|", 6)
	if len(f) != 6 {
		return store.Attempt{}, fmt.Errorf("bad attempt %q", s)
	}
	var n [3]int64
	for i, j := range []int{0, 1, 2} {
		v, err := strconv.ParseInt(f[j], 10, 64)
		if err != nil {
			return store.Attempt{}, fmt.Errorf("bad attempt %q: %w", s, err)
		}
		n[i] = v
	}
	started, err := parseMicros(f[3])
	if err != nil {
		return store.Attempt{}, err
	}
	d, err := strconv.ParseInt(f[4], 10, 64)
	if err != nil {
		return store.Attempt{}, fmt.Errorf("bad attempt %q: %w", s, err)
	}
	return store.Attempt{
		ID: n[0], TaskID: taskID, Run: int(n[1]), Number: int(n[2]), StartedAt: started,
		Duration: time.Duration(d) * time.Microsecond, Error: f[5],
	}, nil
}
