package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/evertask/evertask/store"
	"github.com/google/uuid"
)

// naiveStore is the simplest store that follows the contract: maps under
// one mutex plus a slice sorted in keyset order. It validates the suite;
// its bugs switches break one rule each, for the mutation check.
type naiveStore struct {
	bugs naiveBugs

	mu       sync.Mutex
	rows     map[uuid.UUID]*store.Task
	keys     map[string]uuid.UUID
	order    []*store.Task // keyset order over (CreatedAt, ID)
	statuses map[uuid.UUID][]store.StatusAudit
	runs     map[uuid.UUID][]store.RunsAudit
	logs     map[uuid.UUID][]store.ExecutionLog
	auditID  int64
}

// naiveBugs each break one rule of the contract.
type naiveBugs struct {
	maxRunsInclusive bool // RunCount <= MaxRuns instead of < in the predicate
	blindRequeue     bool // IfRecoverable ignored
	auditAtNone      bool // status audits written at level None
	ignoreFrom       bool // From condition ignored
	duplicateKeys    bool // a held key is accepted
}

var (
	_ store.Store           = (*naiveStore)(nil)
	_ store.RecurringStore  = (*naiveStore)(nil)
	_ store.BatchStore      = (*naiveStore)(nil)
	_ store.RecoveryCounter = (*naiveStore)(nil)
	_ store.Counter         = (*naiveStore)(nil)
	_ store.Retainer        = (*naiveStore)(nil)
)

func newNaive(bugs naiveBugs) *naiveStore {
	return &naiveStore{
		bugs:     bugs,
		rows:     map[uuid.UUID]*store.Task{},
		keys:     map[string]uuid.UUID{},
		statuses: map[uuid.UUID][]store.StatusAudit{},
		runs:     map[uuid.UUID][]store.RunsAudit{},
		logs:     map[uuid.UUID][]store.ExecutionLog{},
	}
}

func cmpCursor(a, b store.Cursor) int {
	switch {
	case a.Less(b):
		return -1
	case b.Less(a):
		return 1
	}
	return 0
}

// pos returns the index of the first row at or after c.
func (s *naiveStore) pos(c store.Cursor) int {
	i, _ := slices.BinarySearchFunc(s.order, c, func(t *store.Task, c store.Cursor) int { return cmpCursor(store.CursorOf(t), c) })
	return i
}

func (s *naiveStore) recoverable(t *store.Task, now time.Time) bool {
	if s.bugs.maxRunsInclusive {
		if t.MaxRuns > 0 && t.RunCount > t.MaxRuns {
			return false
		}
		return store.Recoverable(t.Status, t.Recurring, t.RunCount, 0, t.RunUntil, t.NextRunAt, now)
	}
	return t.Recoverable(now)
}

func (s *naiveStore) allows(p *store.TransitionParams, t *store.Task) bool {
	if len(p.From) > 0 && !s.bugs.ignoreFrom && !slices.Contains(p.From, t.Status) {
		return false
	}
	return !p.IfRecoverable || s.bugs.blindRequeue || s.recoverable(t, p.Now)
}

func (s *naiveStore) statusAudit(id uuid.UUID, level store.AuditLevel, at time.Time, st store.Status, errText string) {
	if !store.StatusAuditRequired(level, st, errText) && !(s.bugs.auditAtNone && level == store.AuditNone) {
		return
	}
	s.auditID++
	s.statuses[id] = append(s.statuses[id], store.StatusAudit{ID: s.auditID, TaskID: id, At: store.NormalizeTime(at), Status: st, Error: errText})
}

func (s *naiveStore) runsAudit(id uuid.UUID, level store.AuditLevel, at time.Time, d time.Duration, st store.Status, errText string) {
	if !store.RunsAuditRequired(level, st, errText) {
		return
	}
	s.auditID++
	s.runs[id] = append(s.runs[id], store.RunsAudit{ID: s.auditID, TaskID: id, ExecutedAt: store.NormalizeTime(at),
		ExecutionTime: d.Truncate(time.Microsecond), Status: st, Error: errText})
}

func (s *naiveStore) insert(t *store.Task) {
	s.rows[t.ID] = t
	if t.Key != "" {
		s.keys[t.Key] = t.ID
	}
	s.order = slices.Insert(s.order, s.pos(store.CursorOf(t)), t)
}

func (s *naiveStore) delete(id uuid.UUID) {
	t := s.rows[id]
	delete(s.rows, id)
	if t.Key != "" && s.keys[t.Key] == id {
		delete(s.keys, t.Key)
	}
	i := s.pos(store.CursorOf(t))
	s.order = slices.Delete(s.order, i, i+1)
	delete(s.statuses, id)
	delete(s.runs, id)
	delete(s.logs, id)
}

func (s *naiveStore) Persist(ctx context.Context, task *store.Task) error {
	return s.PersistMany(ctx, []*store.Task{task})
}

func (s *naiveStore) PersistMany(ctx context.Context, tasks []*store.Task) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	seen := map[string]bool{}
	for _, t := range tasks {
		if err := t.Validate(); err != nil {
			return err
		}
		if _, ok := s.rows[t.ID]; ok {
			return fmt.Errorf("%w: id %s exists", store.ErrInvalid, t.ID)
		}
		if t.Key != "" && !s.bugs.duplicateKeys {
			if _, held := s.keys[t.Key]; held || seen[t.Key] {
				return fmt.Errorf("persist %s: %w", t.ID, store.ErrDuplicateKey)
			}
			seen[t.Key] = true
		}
	}
	for _, t := range tasks {
		s.insert(t.Normalize())
	}
	return nil
}

func validateDefinition(t *store.Task) error {
	if t == nil {
		return fmt.Errorf("%w: nil task", store.ErrInvalid)
	}
	if t.Kind == "" || !t.AuditLevel.Valid() || t.MaxRuns < 0 {
		return fmt.Errorf("%w: bad definition", store.ErrInvalid)
	}
	return store.ValidateKey(t.Key)
}

func (s *naiveStore) UpdateDefinition(ctx context.Context, task *store.Task) error {
	if err := validateDefinition(task); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	row, ok := s.rows[task.ID]
	if !ok {
		return store.ErrNotFound
	}
	if task.Key != "" && !s.bugs.duplicateKeys {
		if holder, held := s.keys[task.Key]; held && holder != task.ID {
			return store.ErrDuplicateKey
		}
	}
	if row.Key != "" && s.keys[row.Key] == row.ID {
		delete(s.keys, row.Key)
	}
	store.ApplyDefinition(row, task)
	if row.Key != "" {
		s.keys[row.Key] = row.ID
	}
	return nil
}

func (s *naiveStore) Remove(ctx context.Context, id uuid.UUID) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.rows[id]; !ok {
		return store.ErrNotFound
	}
	s.delete(id)
	return nil
}

func (s *naiveStore) Get(ctx context.Context, id uuid.UUID) (*store.Task, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t, ok := s.rows[id]; ok {
		return t.Clone(), nil
	}
	return nil, store.ErrNotFound
}

func (s *naiveStore) GetByKey(ctx context.Context, key string) (*store.Task, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if id, ok := s.keys[key]; ok && key != "" {
		return s.rows[id].Clone(), nil
	}
	return nil, store.ErrNotFound
}

// fold maps every rune to the smallest rune of its simple case folding
// orbit, so two strings equal under simple folding fold to the same.
func fold(s string) string {
	return strings.Map(func(r rune) rune {
		m := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			m = min(m, f)
		}
		return m
	}, s)
}

func matches(f *store.Filter, t *store.Task) bool {
	switch {
	case len(f.Statuses) > 0 && !slices.Contains(f.Statuses, t.Status),
		f.Queue != "" && t.Queue != f.Queue,
		f.Kind != "" && t.Kind != f.Kind,
		f.Key != "" && t.Key != f.Key,
		f.Recurring != nil && t.Recurring != *f.Recurring,
		!f.CreatedFrom.IsZero() && t.CreatedAt.Before(f.CreatedFrom),
		!f.CreatedBefore.IsZero() && !t.CreatedAt.Before(f.CreatedBefore):
		return false
	}
	if f.Search == "" {
		return true
	}
	q := fold(f.Search)
	return strings.Contains(fold(t.Kind), q) || strings.Contains(fold(t.Handler), q) || strings.Contains(fold(t.Key), q)
}

func (s *naiveStore) List(ctx context.Context, f store.Filter) (store.Page, error) {
	limit, err := store.NormalizeLimit(f.Limit, store.DefaultListLimit, store.MaxListLimit)
	if err != nil {
		return store.Page{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*store.Task
	take := func(t *store.Task) bool {
		if matches(&f, t) {
			out = append(out, t.Clone())
		}
		return len(out) > limit
	}
	if f.Oldest {
		i := 0
		if !f.After.IsZero() {
			i = s.pos(f.After)
			if i < len(s.order) && store.CursorOf(s.order[i]) == f.After {
				i++
			}
		}
		for ; i < len(s.order) && !take(s.order[i]); i++ {
		}
	} else {
		i := len(s.order) - 1
		if !f.After.IsZero() {
			i = s.pos(f.After) - 1
		}
		for ; i >= 0 && !take(s.order[i]); i-- {
		}
	}
	page := store.Page{Tasks: out}
	if len(out) > limit {
		page.Tasks = out[:limit]
		next := store.CursorOf(out[limit-1])
		page.Next = &next
	}
	return page, nil
}

func (s *naiveStore) RetrievePending(ctx context.Context, p store.PendingParams) ([]*store.Task, error) {
	limit, err := store.NormalizeLimit(p.Limit, store.DefaultPendingLimit, 0)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	i := 0
	if !p.After.IsZero() {
		i = s.pos(p.After)
		if i < len(s.order) && store.CursorOf(s.order[i]) == p.After {
			i++
		}
	}
	var out []*store.Task
	for ; i < len(s.order) && len(out) < limit; i++ {
		t := s.order[i]
		if !p.CreatedBefore.IsZero() && !t.CreatedAt.Before(p.CreatedBefore) {
			break
		}
		if s.recoverable(t, p.Now) {
			out = append(out, t.Clone())
		}
	}
	return out, nil
}

func (s *naiveStore) Transition(ctx context.Context, p store.TransitionParams) (bool, error) {
	if err := p.Validate(); err != nil {
		return false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.transition(p)
}

func (s *naiveStore) transition(p store.TransitionParams) (bool, error) {
	t, ok := s.rows[p.ID]
	if !ok {
		return false, store.ErrNotFound
	}
	if !s.allows(&p, t) {
		return false, nil
	}
	p.Apply(t)
	s.statusAudit(t.ID, p.AuditLevel, p.Now, p.To, p.Error)
	return true, nil
}

func (s *naiveStore) TransitionMany(ctx context.Context, params []store.TransitionParams) ([]bool, error) {
	for i := range params {
		if err := params[i].Validate(); err != nil {
			return nil, err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	applied := make([]bool, len(params))
	for i, p := range params {
		ok, err := s.transition(p)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return applied, err
		}
		applied[i] = ok
	}
	return applied, nil
}

func (s *naiveStore) RunCount(ctx context.Context, id uuid.UUID) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t, ok := s.rows[id]; ok {
		return t.RunCount, nil
	}
	return 0, store.ErrNotFound
}

func (s *naiveStore) UpdateCurrentRun(ctx context.Context, p store.RunParams) error {
	if err := p.Validate(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.rows[p.ID]
	if !ok {
		return store.ErrNotFound
	}
	t.RunCount = store.IncRunCount(t.RunCount)
	t.NextRunAt = store.NormalizeTime(p.NextRunAt)
	s.runsAudit(t.ID, p.AuditLevel, p.Now, p.ExecutionTime, t.Status, t.Error)
	return nil
}

func (s *naiveStore) CompleteRecurringRun(ctx context.Context, p store.RunParams) (bool, error) {
	if err := p.Validate(); err != nil {
		return false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.rows[p.ID]
	if !ok {
		return false, store.ErrNotFound
	}
	if t.Status != store.StatusInProgress {
		return false, nil
	}
	tp := store.TransitionParams{ID: p.ID, To: p.Status, Now: p.Now, Error: p.Error, ExecutionTime: p.ExecutionTime}
	tp.Apply(t)
	t.RunCount = store.IncRunCount(t.RunCount)
	t.NextRunAt = store.NormalizeTime(p.NextRunAt)
	s.statusAudit(t.ID, p.AuditLevel, p.Now, p.Status, p.Error)
	s.runsAudit(t.ID, p.AuditLevel, p.Now, p.ExecutionTime, p.Status, p.Error)
	return true, nil
}

func (s *naiveStore) EndSeries(ctx context.Context, p store.EndSeriesParams) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.rows[p.ID]
	if !ok {
		return false, store.ErrNotFound
	}
	if t.Status == store.StatusCancelled {
		return false, nil
	}
	t.Status, t.Error, t.NextRunAt = p.Status, p.Error, time.Time{}
	s.statusAudit(t.ID, p.AuditLevel, p.Now, p.Status, p.Error)
	return true, nil
}

func (s *naiveStore) SaveLogs(ctx context.Context, id uuid.UUID, logs []store.ExecutionLog) error {
	if len(logs) == 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.rows[id]; !ok {
		return store.ErrNotFound
	}
	for _, l := range logs {
		l.TaskID = id
		l.At = store.NormalizeTime(l.At)
		s.logs[id] = append(s.logs[id], l)
	}
	return nil
}

func (s *naiveStore) Logs(ctx context.Context, id uuid.UUID) ([]store.ExecutionLog, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := slices.Clone(s.logs[id])
	slices.SortStableFunc(out, func(a, b store.ExecutionLog) int {
		if c := bytes.Compare(a.ID[:], b.ID[:]); c != 0 {
			return c
		}
		return a.Seq - b.Seq
	})
	return out, nil
}

func (s *naiveStore) LogsPage(ctx context.Context, q store.LogQuery) (store.LogPage, error) {
	limit, err := store.NormalizeLimit(q.Limit, store.DefaultLogLimit, 0)
	if err != nil {
		return store.LogPage{}, err
	}
	if q.Offset < 0 {
		return store.LogPage{}, fmt.Errorf("%w: negative offset", store.ErrInvalid)
	}
	all, _ := s.Logs(ctx, q.TaskID)
	var match []store.ExecutionLog
	for _, l := range all {
		if q.Level == "" || strings.EqualFold(l.Level, q.Level) {
			match = append(match, l)
		}
	}
	from := min(q.Offset, len(match))
	return store.LogPage{Logs: match[from:min(from+limit, len(match))], Total: len(match)}, nil
}

func (s *naiveStore) StatusAudits(ctx context.Context, id uuid.UUID) ([]store.StatusAudit, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := slices.Clone(s.statuses[id])
	slices.Reverse(out)
	return out, nil
}

func (s *naiveStore) RunsAudits(ctx context.Context, id uuid.UUID) ([]store.RunsAudit, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := slices.Clone(s.runs[id])
	slices.Reverse(out)
	return out, nil
}

func (s *naiveStore) IncrementRecoveryFailures(ctx context.Context, id uuid.UUID) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.rows[id]
	if !ok {
		return 0, store.ErrNotFound
	}
	t.RecoveryFailures++
	return t.RecoveryFailures, nil
}

func (s *naiveStore) ClearRecoveryFailures(ctx context.Context, id uuid.UUID) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.rows[id]
	if !ok {
		return store.ErrNotFound
	}
	t.RecoveryFailures = 0
	return nil
}

func (s *naiveStore) CountByStatus(ctx context.Context, p store.CountParams) (map[store.Status]int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[store.Status]int{}
	for _, t := range s.rows {
		if p.CreatedFrom.IsZero() || !t.CreatedAt.Before(p.CreatedFrom) {
			out[t.Status]++
		}
	}
	return out, nil
}

func (s *naiveStore) CountByQueue(ctx context.Context, p store.CountParams) (map[string]map[store.Status]int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]map[store.Status]int{}
	for _, t := range s.rows {
		if p.CreatedFrom.IsZero() || !t.CreatedAt.Before(p.CreatedFrom) {
			if out[t.Queue] == nil {
				out[t.Queue] = map[store.Status]int{}
			}
			out[t.Queue][t.Status]++
		}
	}
	return out, nil
}

func (s *naiveStore) Purge(ctx context.Context, p store.RetentionPolicy) (store.PurgeResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var res store.PurgeResult
	old := func(at time.Time, errText string, age time.Duration) bool {
		if errText != "" && p.ErrorAuditAge > 0 {
			age = p.ErrorAuditAge
		}
		cut, ok := p.Cutoff(age)
		return ok && at.Before(cut)
	}
	for id, list := range s.statuses {
		kept := slices.DeleteFunc(list, func(a store.StatusAudit) bool { return old(a.At, a.Error, p.StatusAuditAge) })
		res.StatusAudits += len(list) - len(kept)
		s.statuses[id] = kept
	}
	for id, list := range s.runs {
		kept := slices.DeleteFunc(list, func(a store.RunsAudit) bool { return old(a.ExecutedAt, a.Error, p.RunsAuditAge) })
		res.RunsAudits += len(list) - len(kept)
		s.runs[id] = kept
	}
	for id, list := range s.logs {
		kept := slices.DeleteFunc(list, func(l store.ExecutionLog) bool { return old(l.At, "", p.LogAge) })
		res.Logs += len(list) - len(kept)
		s.logs[id] = kept
	}
	for id, t := range s.rows {
		age := p.FailedTaskAge
		switch {
		case t.Recurring:
			continue
		case t.Status == store.StatusCompleted:
			age = p.CompletedTaskAge
		case t.Status != store.StatusFailed && t.Status != store.StatusCancelled:
			continue
		}
		ref := t.LastExecutionAt
		if ref.IsZero() {
			ref = t.CreatedAt
		}
		if cut, ok := p.Cutoff(age); ok && ref.Before(cut) {
			s.delete(id)
			res.Tasks++
		}
	}
	return res, nil
}
