package memstore

import (
	"bytes"
	"cmp"
	"context"
	"slices"
	"strings"

	"github.com/evertask/evertask/store"
	"github.com/google/uuid"
)

// SaveLogs implements store.Store. The logs are kept per task in (ID, Seq)
// order; appending a later execution's logs, the usual case, needs no sort.
func (s *Store) SaveLogs(ctx context.Context, taskID uuid.UUID, logs []store.ExecutionLog) error {
	if err := begin(ctx); err != nil {
		return err
	}
	if len(logs) == 0 {
		return nil
	}
	in := make([]store.ExecutionLog, len(logs))
	for i, l := range logs {
		l.TaskID = taskID
		l.At = store.NormalizeTime(l.At)
		in[i] = l
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.lookup(taskID)
	if err != nil {
		return err
	}
	h := r.history()
	h.logs = append(h.logs, in...)
	if !slices.IsSortedFunc(h.logs, compareLogs) {
		slices.SortStableFunc(h.logs, compareLogs)
	}
	return nil
}

func compareLogs(a, b store.ExecutionLog) int {
	if c := bytes.Compare(a.ID[:], b.ID[:]); c != 0 {
		return c
	}
	return cmp.Compare(a.Seq, b.Seq)
}

// Logs implements store.Store.
func (s *Store) Logs(ctx context.Context, taskID uuid.UUID) ([]store.ExecutionLog, error) {
	if err := begin(ctx); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	r, err := s.lookup(taskID)
	if err != nil {
		return nil, err
	}
	if r.more == nil {
		return []store.ExecutionLog{}, nil
	}
	return copyOf(r.more.logs), nil
}

// LogsPage implements store.Store.
func (s *Store) LogsPage(ctx context.Context, q store.LogQuery) (store.LogPage, error) {
	if err := begin(ctx); err != nil {
		return store.LogPage{}, err
	}
	if err := q.Normalize(); err != nil {
		return store.LogPage{}, err
	}
	limit := q.Limit
	s.mu.RLock()
	defer s.mu.RUnlock()
	r, err := s.lookup(q.TaskID)
	if err != nil {
		return store.LogPage{}, err
	}
	page := store.LogPage{Logs: []store.ExecutionLog{}}
	var logs []store.ExecutionLog
	if r.more != nil {
		logs = r.more.logs
	}
	for i := range logs {
		l := &logs[i]
		if q.Level != "" && !strings.EqualFold(l.Level, q.Level) {
			continue
		}
		if page.Total >= q.Offset && len(page.Logs) < limit {
			page.Logs = append(page.Logs, *l)
		}
		page.Total++
	}
	return page, nil
}

// StatusAudits implements store.Store.
func (s *Store) StatusAudits(ctx context.Context, taskID uuid.UUID) ([]store.StatusAudit, error) {
	if err := begin(ctx); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	r, err := s.lookup(taskID)
	if err != nil {
		return nil, err
	}
	out := copyOf(r.statusAudits)
	// Newest first by time, ties (same microsecond) by the audit id.
	slices.SortFunc(out, func(a, b store.StatusAudit) int {
		if c := b.At.Compare(a.At); c != 0 {
			return c
		}
		return cmp.Compare(b.ID, a.ID)
	})
	return out, nil
}

// RunsAudits implements store.Store.
func (s *Store) RunsAudits(ctx context.Context, taskID uuid.UUID) ([]store.RunsAudit, error) {
	if err := begin(ctx); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	r, err := s.lookup(taskID)
	if err != nil {
		return nil, err
	}
	out := []store.RunsAudit{}
	if r.more != nil {
		out = copyOf(r.more.runsAudits)
	}
	slices.SortFunc(out, func(a, b store.RunsAudit) int {
		if c := b.ExecutedAt.Compare(a.ExecutedAt); c != 0 {
			return c
		}
		return cmp.Compare(b.ID, a.ID)
	})
	return out, nil
}

// copyOf copies a child collection for a caller: never nil, so "none" reads
// the same for every task.
func copyOf[T any](xs []T) []T {
	out := make([]T, len(xs))
	copy(out, xs)
	return out
}

// TrimLogs implements store.LogTrimmer.
func (s *Store) TrimLogs(ctx context.Context, taskID uuid.UUID, keep int) (int, error) {
	if err := begin(ctx); err != nil {
		return 0, err
	}
	if err := store.CheckKeep(keep); err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, store.ErrClosed
	}
	r := s.byID[taskID]
	if r == nil || r.more == nil || len(r.more.logs) <= keep {
		return 0, nil
	}
	h := r.more
	n := len(h.logs) - keep
	h.logs = slices.Clone(h.logs[n:]) // let the dropped records go
	return n, nil
}
