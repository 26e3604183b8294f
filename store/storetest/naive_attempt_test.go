package storetest

import (
	"bytes"
	"context"
	"slices"
	"time"

	"github.com/evertask/evertask/store"
	"github.com/google/uuid"
)

// The naive store's AttemptStore, and the bugs a real one could have.
const (
	bugAttemptAtNone         naiveBug = "AttemptWrittenAtLevelNone"
	bugAttemptFenceIgnored   naiveBug = "AttemptHeldByIgnored"
	bugRemoveKeepsAttempts   naiveBug = "RemoveKeepsAttempts"
	bugAttemptPurgeInclusive naiveBug = "AttemptPurgeCutoffInclusive"
	bugAttemptPurgeNoErrAge  naiveBug = "AttemptPurgeIgnoresErrorAuditAge"
	bugAttemptsNewestFirst   naiveBug = "AttemptsNewestFirst"
	bugTrimKeepsOldest       naiveBug = "TrimLogsKeepsTheOldest"
	bugTrimBySaveOrder       naiveBug = "TrimLogsBySaveOrder"
)

var _ store.LogTrimmer = (*naiveStore)(nil)

func (s *naiveStore) TrimLogs(ctx context.Context, id uuid.UUID, keep int) (int, error) {
	if err := s.check(ctx); err != nil {
		return 0, err
	}
	if err := store.CheckKeep(keep); err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	logs := s.logs[id]
	if len(logs) <= keep {
		return 0, nil
	}
	n := len(logs) - keep
	switch s.bug {
	case bugTrimKeepsOldest:
		sorted := slices.Clone(logs)
		slices.SortStableFunc(sorted, compareNaiveLogs)
		s.logs[id] = sorted[:keep]
	case bugTrimBySaveOrder:
		// Drops the first saved, not the oldest in log order.
		s.logs[id] = slices.Clone(logs[n:])
	default:
		sorted := slices.Clone(logs)
		slices.SortStableFunc(sorted, compareNaiveLogs)
		s.logs[id] = sorted[n:]
	}
	return n, nil
}

var _ store.AttemptStore = (*naiveStore)(nil)

func (s *naiveStore) RecordAttempt(ctx context.Context, p store.AttemptParams) (bool, error) {
	if err := s.check(ctx); err != nil {
		return false, err
	}
	if err := p.Validate(); err != nil {
		return false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.rows[p.Attempt.TaskID]
	if !ok {
		return false, store.ErrNotFound
	}
	if p.HeldBy != "" && s.bug != bugAttemptFenceIgnored && !t.Holds(p.HeldBy, s.clock()) {
		return false, nil
	}
	if !store.AttemptAuditRequired(p.AuditLevel) && s.bug != bugAttemptAtNone {
		return true, nil
	}
	a := p.Attempt
	s.auditID++
	a.ID = s.auditID
	a.StartedAt = store.NormalizeTime(a.StartedAt)
	a.Duration = a.Duration.Truncate(time.Microsecond)
	if s.attempts == nil {
		s.attempts = map[uuid.UUID][]store.Attempt{}
	}
	s.attempts[a.TaskID] = append(s.attempts[a.TaskID], a)
	return true, nil
}

func (s *naiveStore) Attempts(ctx context.Context, id uuid.UUID) ([]store.Attempt, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := slices.Clone(s.attempts[id])
	if out == nil {
		out = []store.Attempt{}
	}
	if s.bug == bugAttemptsNewestFirst {
		slices.Reverse(out)
	}
	return out, nil
}

// purgeAttempts is the attempts rule of Purge. Callers hold the lock.
func (s *naiveStore) purgeAttempts(p store.RetentionPolicy, res *store.PurgeResult) {
	cut, ok := p.AttemptCutoff()
	if s.bug == bugAttemptPurgeNoErrAge {
		cut, ok = p.Cutoff(p.StatusAuditAge)
	}
	if !ok {
		return
	}
	for id, list := range s.attempts {
		kept := slices.DeleteFunc(list, func(a store.Attempt) bool {
			return a.StartedAt.Before(cut) || s.bug == bugAttemptPurgeInclusive && a.StartedAt.Equal(cut)
		})
		res.Attempts += len(list) - len(kept)
		s.attempts[id] = kept
	}
}

func compareNaiveLogs(a, b store.ExecutionLog) int {
	if c := bytes.Compare(a.ID[:], b.ID[:]); c != 0 {
		return c
	}
	return a.Seq - b.Seq
}
