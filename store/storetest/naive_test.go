package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"

	"github.com/evertask/evertask/store"
	"github.com/google/uuid"
)

// naiveStore is the simplest store that follows the contract: maps under
// one mutex plus a slice sorted in keyset order. It validates the suite;
// its bug field breaks one rule at a time, for the mutation check.
type naiveStore struct {
	bug naiveBug

	mu       sync.Mutex
	rows     map[uuid.UUID]*store.Task
	keys     map[string]uuid.UUID
	order    []*store.Task // keyset order over (CreatedAt, ID)
	statuses map[uuid.UUID][]store.StatusAudit
	runs     map[uuid.UUID][]store.RunsAudit
	logs     map[uuid.UUID][]store.ExecutionLog
	attempts map[uuid.UUID][]store.Attempt
	auditID  int64
	inBatch  bool
	closed   atomic.Bool
	nodes    map[string]store.Node

	subMu sync.Mutex
	subs  map[chan store.Notice]struct{}
}

// naiveBug names one rule the naive store breaks, for the mutation check;
// the empty bug is the correct store.
type naiveBug string

// The bugs the issue requires the suite to catch.
const (
	bugMaxRunsInclusive naiveBug = "MaxRunsOffByOne"        // RunCount <= MaxRuns instead of < in the predicate
	bugBlindRequeue     naiveBug = "BlindSetQueued"         // IfRecoverable ignored
	bugAuditAtNone      naiveBug = "StatusAuditAtLevelNone" // status audits written at level None
	bugIgnoreFrom       naiveBug = "FromConditionIgnored"   // From condition ignored
	bugDuplicateKeys    naiveBug = "DuplicateKeyAccepted"   // a held key is accepted
)

// More bugs a real store could have, to prove the suite's reach.
const (
	bugNoCopy             naiveBug = "ReturnsInternalRow"
	bugNoNormalize        naiveBug = "KeepsTimesAsGiven"
	bugPendingSkipsTies   naiveBug = "PendingCursorSkipsTies"
	bugStampEveryStatus   naiveBug = "StampsLastExecutionAlways"
	bugErrorOnEveryStatus naiveBug = "WritesErrorOnAnyStatus"
	bugPurgeZeroAge       naiveBug = "ZeroAgeDeletesEverything"
	bugRemoveKeepsHistory naiveBug = "RemoveKeepsHistory"
	bugUpdateWholeRow     naiveBug = "UpdateDefinitionOverwritesRow"
	bugNoSaturation       naiveBug = "RunCountWraps"
	bugRunsAuditMinimal   naiveBug = "RunsAuditMinimalAsErrorsOnly"
	bugSearchWildcard     naiveBug = "SearchUnderscoreIsWildcard"
	bugNextOnFullLastPage naiveBug = "NextOnFullLastPage"
	bugCompleteAnyStatus  naiveBug = "CompleteRunFromAnyStatus"
	bugEndSeriesCancelled naiveBug = "EndSeriesOverwritesCancelled"
	bugLogsInSaveOrder    naiveBug = "LogsInSaveOrder"
	bugLevelCaseSensitive naiveBug = "LogLevelCaseSensitive"
	bugCreatedBeforeIncl  naiveBug = "CreatedBeforeInclusive"
	bugAuditsOldestFirst  naiveBug = "AuditsOldestFirst"
	bugPurgeRecurring     naiveBug = "PurgeDeletesRecurring"
	bugErrorAgeIgnored    naiveBug = "ErrorAuditAgeIgnored"
	bugPersistManyPartial naiveBug = "PersistManyPartial"
	bugCountIgnoresFrom   naiveBug = "CountIgnoresCreatedFrom"
	bugRunsAuditParamsErr naiveBug = "UpdateCurrentRunAuditsParamsError"
	bugTransitionNoAudit  naiveBug = "TransitionManySkipsAudit"
	bugGetByEmptyKey      naiveBug = "GetByEmptyKeyFindsARow"
	bugUpdateKeepsOldKey  naiveBug = "UpdateDefinitionKeepsOldKeyHeld"
	bugNoValidation       naiveBug = "AcceptsEmptyKind"
	bugPendingIgnoresNow  naiveBug = "PendingIgnoresRunUntil"
)

// Each retention rule's cutoff taken as inclusive (<= instead of <), one
// rule at a time.
const (
	bugStatusCutInclusive    naiveBug = "StatusAuditCutoffInclusive"
	bugRunsCutInclusive      naiveBug = "RunsAuditCutoffInclusive"
	bugErrorCutInclusive     naiveBug = "ErrorAuditCutoffInclusive"
	bugLogCutInclusive       naiveBug = "LogCutoffInclusive"
	bugCompletedCutInclusive naiveBug = "CompletedTaskCutoffInclusive"
	bugFailedCutInclusive    naiveBug = "FailedTaskCutoffInclusive"
)

var (
	_ store.Store           = (*naiveStore)(nil)
	_ store.RecurringStore  = (*naiveStore)(nil)
	_ store.BatchStore      = (*naiveStore)(nil)
	_ store.RecoveryCounter = (*naiveStore)(nil)
	_ store.Counter         = (*naiveStore)(nil)
	_ store.Retainer        = (*naiveStore)(nil)
)

func newNaive(bug naiveBug) *naiveStore {
	return &naiveStore{
		bug:      bug,
		rows:     map[uuid.UUID]*store.Task{},
		keys:     map[string]uuid.UUID{},
		statuses: map[uuid.UUID][]store.StatusAudit{},
		runs:     map[uuid.UUID][]store.RunsAudit{},
		logs:     map[uuid.UUID][]store.ExecutionLog{},
		nodes:    map[string]store.Node{},
		subs:     map[chan store.Notice]struct{}{},
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
	if s.bug == bugMaxRunsInclusive {
		if t.MaxRuns > 0 && t.RunCount > t.MaxRuns {
			return false
		}
		return store.Recoverable(t.Status, t.Recurring, t.RunCount, 0, t.RunUntil, t.NextRunAt, now)
	}
	return t.Recoverable(now)
}

func (s *naiveStore) allows(p *store.TransitionParams, t *store.Task) bool {
	if len(p.From) > 0 && s.bug != bugIgnoreFrom && !slices.Contains(p.From, t.Status) {
		return false
	}
	return !p.IfRecoverable || s.bug == bugBlindRequeue || s.recoverable(t, p.Now)
}

func (s *naiveStore) statusAudit(id uuid.UUID, level store.AuditLevel, at time.Time, st store.Status, errText string) {
	if !store.StatusAuditRequired(level, st, errText) && !(s.bug == bugAuditAtNone && level == store.AuditNone) {
		return
	}
	s.auditID++
	s.statuses[id] = append(s.statuses[id], store.StatusAudit{ID: s.auditID, TaskID: id, At: store.NormalizeTime(at), Status: st, Error: errText})
}

func (s *naiveStore) runsAudit(id uuid.UUID, level store.AuditLevel, at time.Time, d time.Duration, st store.Status, errText string) {
	if s.bug == bugRunsAuditMinimal && level == store.AuditMinimal {
		level = store.AuditErrorsOnly
	}
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
	if s.bug != bugRemoveKeepsAttempts {
		delete(s.attempts, id)
	}
}

func (s *naiveStore) Persist(ctx context.Context, task *store.Task) error {
	return s.PersistMany(ctx, []*store.Task{task})
}

func (s *naiveStore) PersistMany(ctx context.Context, tasks []*store.Task) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	seen := map[string]bool{}
	for i, t := range tasks {
		if err := t.Validate(); err != nil && !(s.bug == bugNoValidation && t != nil && t.Kind == "") {
			if s.bug == bugPersistManyPartial {
				for _, ok := range tasks[:i] {
					s.insert(ok.Normalize())
				}
			}
			return err
		}
		if _, ok := s.rows[t.ID]; ok {
			return fmt.Errorf("%w: id %s exists", store.ErrInvalid, t.ID)
		}
		if t.Key != "" && s.bug != bugDuplicateKeys {
			if _, held := s.keys[t.Key]; held || seen[t.Key] {
				return fmt.Errorf("persist %s: %w", t.ID, store.ErrDuplicateKey)
			}
			seen[t.Key] = true
		}
	}
	for _, t := range tasks {
		if s.bug == bugNoNormalize {
			s.insert(t.Clone())
			continue
		}
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
	if err := store.ValidateMetadata(t.Metadata); err != nil {
		return err
	}
	return store.ValidateKey(t.Key)
}

func (s *naiveStore) UpdateDefinition(ctx context.Context, task *store.Task) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	if err := validateDefinition(task); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	row, ok := s.rows[task.ID]
	if !ok {
		return store.ErrNotFound
	}
	if task.Key != "" && s.bug != bugDuplicateKeys {
		if holder, held := s.keys[task.Key]; held && holder != task.ID {
			return store.ErrDuplicateKey
		}
	}
	if row.Key != "" && s.keys[row.Key] == row.ID && s.bug != bugUpdateKeepsOldKey {
		delete(s.keys, row.Key)
	}
	if s.bug == bugUpdateWholeRow {
		created := row.CreatedAt
		*row = *task.Normalize()
		row.CreatedAt = created
	}
	store.ApplyDefinition(row, task)
	if row.Key != "" {
		s.keys[row.Key] = row.ID
	}
	return nil
}

func (s *naiveStore) Remove(ctx context.Context, id uuid.UUID) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.rows[id]; !ok {
		return store.ErrNotFound
	}
	if s.bug == bugRemoveKeepsHistory {
		t := s.rows[id]
		delete(s.rows, id)
		if t.Key != "" {
			delete(s.keys, t.Key)
		}
		i := s.pos(store.CursorOf(t))
		s.order = slices.Delete(s.order, i, i+1)
		return nil
	}
	s.delete(id)
	return nil
}

func (s *naiveStore) Get(ctx context.Context, id uuid.UUID) (*store.Task, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if t, ok := s.rows[id]; ok {
		if s.bug == bugNoCopy {
			return t, nil
		}
		return t.Clone(), nil
	}
	return nil, store.ErrNotFound
}

func (s *naiveStore) GetByKey(ctx context.Context, key string) (*store.Task, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if key == "" && s.bug == bugGetByEmptyKey && len(s.order) > 0 {
		return s.order[0].Clone(), nil
	}
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

func (s *naiveStore) matches(f *store.Filter, t *store.Task) bool {
	if s.bug == bugSearchWildcard && f.Search != "" {
		g := *f
		g.Search = ""
		if !matches(&g, t) {
			return false
		}
		q := fold(f.Search)
		return wildContains(fold(t.Kind), q) || wildContains(fold(t.Handler), q) || wildContains(fold(t.Key), q)
	}
	return matches(f, t)
}

// wildContains is strings.Contains with '_' matching any one rune, as a
// LIKE pattern without escaping would.
func wildContains(hay, q string) bool {
	h, n := []rune(hay), []rune(q)
	for i := 0; i+len(n) <= len(h); i++ {
		ok := true
		for j := range n {
			if n[j] != '_' && n[j] != h[i+j] {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
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
	if err := s.check(ctx); err != nil {
		return store.Page{}, err
	}
	if err := f.Normalize(); err != nil {
		return store.Page{}, err
	}
	limit := f.Limit
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*store.Task
	var tested int
	var stop *store.Task // where a bounded search ran out of budget
	take := func(t *store.Task) bool {
		if s.matches(&f, t) {
			out = append(out, t.Clone())
		}
		if f.Search != "" && f.ScanLimit > 0 {
			g := f
			g.Search = ""
			if matches(&g, t) {
				if tested++; tested >= f.ScanLimit && len(out) <= limit {
					stop = t
					return true
				}
			}
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
	if s.bug == bugNextOnFullLastPage && len(out) == limit {
		next := store.CursorOf(out[limit-1])
		page.Next = &next
	}
	if len(out) > limit {
		page.Tasks = out[:limit]
		next := store.CursorOf(out[limit-1])
		page.Next = &next
	} else if stop != nil {
		next := store.CursorOf(stop)
		page.Next, page.ScanLimited = &next, true
	}
	return page, nil
}

func (s *naiveStore) RetrievePending(ctx context.Context, p store.PendingParams) ([]*store.Task, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	if err := p.Normalize(); err != nil {
		return nil, err
	}
	limit := p.Limit
	s.mu.Lock()
	defer s.mu.Unlock()
	i := 0
	if !p.After.IsZero() {
		i = s.pos(p.After)
		if i < len(s.order) && store.CursorOf(s.order[i]) == p.After {
			i++
		}
	}
	if s.bug == bugPendingSkipsTies && !p.After.IsZero() {
		for i < len(s.order) && s.order[i].CreatedAt.Equal(p.After.CreatedAt) {
			i++
		}
	}
	var out []*store.Task
	for ; i < len(s.order) && len(out) < limit; i++ {
		t := s.order[i]
		if !p.CreatedBefore.IsZero() && !t.CreatedAt.Before(p.CreatedBefore) {
			if !(s.bug == bugCreatedBeforeIncl && t.CreatedAt.Equal(p.CreatedBefore)) {
				break
			}
		}
		if s.bug == bugPendingIgnoresNow {
			if store.Recoverable(t.Status, t.Recurring, t.RunCount, t.MaxRuns, time.Time{}, t.NextRunAt, p.Now) {
				out = append(out, t.Clone())
			}
			continue
		}
		if s.recoverable(t, p.Now) {
			out = append(out, t.Clone())
		}
	}
	return out, nil
}

func (s *naiveStore) Transition(ctx context.Context, p store.TransitionParams) (bool, error) {
	if err := s.check(ctx); err != nil {
		return false, err
	}
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
	now := s.clock()
	if !s.allows(&p, t) || !s.leaseRulesAllow(&p, t, now) {
		return false, nil
	}
	p.Apply(t)
	s.applyLease(&p, t, now)
	if s.bug == bugStampEveryStatus {
		t.LastExecutionAt = store.NormalizeTime(p.Now)
	}
	if s.bug == bugErrorOnEveryStatus {
		t.Error = p.Error
	}
	if !(s.bug == bugTransitionNoAudit && s.inBatch) {
		s.statusAudit(t.ID, p.AuditLevel, p.Now, p.To, p.Error)
	}
	return true, nil
}

func (s *naiveStore) TransitionMany(ctx context.Context, params []store.TransitionParams) ([]bool, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	for i := range params {
		if err := params[i].Validate(); err != nil {
			return nil, err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.inBatch = true
	defer func() { s.inBatch = false }()
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

func (s *naiveStore) check(ctx context.Context) error {
	if s.closed.Load() {
		return store.ErrClosed
	}
	return ctx.Err()
}

// Close makes every later call return ErrClosed.
func (s *naiveStore) Close() error {
	s.closed.Store(true)
	return nil
}

func (s *naiveStore) inc(n int) int {
	if s.bug == bugNoSaturation {
		return n + 1
	}
	return store.IncRunCount(n)
}

func (s *naiveStore) RunCount(ctx context.Context, id uuid.UUID) (int, error) {
	if err := s.check(ctx); err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if t, ok := s.rows[id]; ok {
		return t.RunCount, nil
	}
	return 0, store.ErrNotFound
}

func (s *naiveStore) UpdateCurrentRun(ctx context.Context, p store.RunParams) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	if err := p.Validate(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.rows[p.ID]
	if !ok {
		return store.ErrNotFound
	}
	t.RunCount = s.inc(t.RunCount)
	t.NextRunAt = store.NormalizeTime(p.NextRunAt)
	errText := t.Error
	if s.bug == bugRunsAuditParamsErr {
		errText = p.Error
	}
	s.runsAudit(t.ID, p.AuditLevel, p.Now, p.ExecutionTime, t.Status, errText)
	return nil
}

func (s *naiveStore) CompleteRecurringRun(ctx context.Context, p store.RunParams) (bool, error) {
	if err := s.check(ctx); err != nil {
		return false, err
	}
	if err := p.Validate(); err != nil {
		return false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.rows[p.ID]
	if !ok {
		return false, store.ErrNotFound
	}
	if t.Status != store.StatusInProgress && s.bug != bugCompleteAnyStatus {
		return false, nil
	}
	tp := store.TransitionParams{ID: p.ID, To: p.Status, Now: p.Now, Error: p.Error, ExecutionTime: p.ExecutionTime, HeldBy: p.HeldBy}
	now := s.clock()
	if !s.leaseRulesAllow(&tp, t, now) {
		return false, nil
	}
	tp.Apply(t)
	s.applyLease(&tp, t, now)
	t.RunCount = s.inc(t.RunCount)
	t.NextRunAt = store.NormalizeTime(p.NextRunAt)
	s.statusAudit(t.ID, p.AuditLevel, p.Now, p.Status, p.Error)
	s.runsAudit(t.ID, p.AuditLevel, p.Now, p.ExecutionTime, p.Status, p.Error)
	return true, nil
}

func (s *naiveStore) EndSeries(ctx context.Context, p store.EndSeriesParams) (bool, error) {
	if err := s.check(ctx); err != nil {
		return false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.rows[p.ID]
	if !ok {
		return false, store.ErrNotFound
	}
	if t.Status == store.StatusCancelled && s.bug != bugEndSeriesCancelled {
		return false, nil
	}
	t.Status, t.Error, t.NextRunAt = p.Status, p.Error, time.Time{}
	if s.bug != bugKeepsLease {
		t.Owner, t.LeaseUntil = "", time.Time{}
	}
	s.statusAudit(t.ID, p.AuditLevel, p.Now, p.Status, p.Error)
	return true, nil
}

func (s *naiveStore) SaveLogs(ctx context.Context, id uuid.UUID, logs []store.ExecutionLog) error {
	if err := s.check(ctx); err != nil {
		return err
	}
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
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := slices.Clone(s.logs[id])
	if s.bug == bugLogsInSaveOrder {
		return out, nil
	}
	slices.SortStableFunc(out, func(a, b store.ExecutionLog) int {
		if c := bytes.Compare(a.ID[:], b.ID[:]); c != 0 {
			return c
		}
		return a.Seq - b.Seq
	})
	return out, nil
}

func (s *naiveStore) LogsPage(ctx context.Context, q store.LogQuery) (store.LogPage, error) {
	if err := s.check(ctx); err != nil {
		return store.LogPage{}, err
	}
	if err := q.Normalize(); err != nil {
		return store.LogPage{}, err
	}
	limit := q.Limit
	if q.Offset < 0 {
		return store.LogPage{}, fmt.Errorf("%w: negative offset", store.ErrInvalid)
	}
	all, _ := s.Logs(ctx, q.TaskID)
	var match []store.ExecutionLog
	for _, l := range all {
		if q.Level == "" || strings.EqualFold(l.Level, q.Level) && (s.bug != bugLevelCaseSensitive || l.Level == q.Level) {
			match = append(match, l)
		}
	}
	from := min(q.Offset, len(match))
	return store.LogPage{Logs: match[from:min(from+limit, len(match))], Total: len(match)}, nil
}

func (s *naiveStore) StatusAudits(ctx context.Context, id uuid.UUID) ([]store.StatusAudit, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := slices.Clone(s.statuses[id])
	if s.bug != bugAuditsOldestFirst {
		slices.Reverse(out)
	}
	return out, nil
}

func (s *naiveStore) RunsAudits(ctx context.Context, id uuid.UUID) ([]store.RunsAudit, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := slices.Clone(s.runs[id])
	slices.Reverse(out)
	return out, nil
}

func (s *naiveStore) IncrementRecoveryFailures(ctx context.Context, id uuid.UUID) (int, error) {
	if err := s.check(ctx); err != nil {
		return 0, err
	}
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
	if err := s.check(ctx); err != nil {
		return err
	}
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
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[store.Status]int{}
	for _, t := range s.rows {
		if p.CreatedFrom.IsZero() || !t.CreatedAt.Before(p.CreatedFrom) || s.bug == bugCountIgnoresFrom {
			out[t.Status]++
		}
	}
	return out, nil
}

func (s *naiveStore) CountByQueue(ctx context.Context, p store.CountParams) (map[string]map[store.Status]int, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]map[store.Status]int{}
	for _, t := range s.rows {
		if p.CreatedFrom.IsZero() || !t.CreatedAt.Before(p.CreatedFrom) || s.bug == bugCountIgnoresFrom {
			if out[t.Queue] == nil {
				out[t.Queue] = map[store.Status]int{}
			}
			out[t.Queue][t.Status]++
		}
	}
	return out, nil
}

func (s *naiveStore) Purge(ctx context.Context, p store.RetentionPolicy) (store.PurgeResult, error) {
	if err := s.check(ctx); err != nil {
		return store.PurgeResult{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var res store.PurgeResult
	cutoff := func(age time.Duration) (time.Time, bool) {
		if s.bug == bugPurgeZeroAge && age <= 0 {
			return p.Now, true
		}
		return p.Cutoff(age)
	}
	// before is the cutoff comparison; rule names the bug that makes it
	// inclusive.
	before := func(at, cut time.Time, rule naiveBug) bool {
		return at.Before(cut) || s.bug == rule && at.Equal(cut)
	}
	old := func(at time.Time, errText string, age time.Duration, rule naiveBug) bool {
		if errText != "" && p.ErrorAuditAge > 0 && s.bug != bugErrorAgeIgnored {
			age, rule = p.ErrorAuditAge, bugErrorCutInclusive
		}
		cut, ok := cutoff(age)
		return ok && before(at, cut, rule)
	}
	for id, list := range s.statuses {
		kept := slices.DeleteFunc(list, func(a store.StatusAudit) bool {
			return old(a.At, a.Error, p.StatusAuditAge, bugStatusCutInclusive)
		})
		res.StatusAudits += len(list) - len(kept)
		s.statuses[id] = kept
		progress(p, res)
	}
	for id, list := range s.runs {
		kept := slices.DeleteFunc(list, func(a store.RunsAudit) bool {
			return old(a.ExecutedAt, a.Error, p.RunsAuditAge, bugRunsCutInclusive)
		})
		res.RunsAudits += len(list) - len(kept)
		s.runs[id] = kept
		progress(p, res)
	}
	for id, list := range s.logs {
		kept := slices.DeleteFunc(list, func(l store.ExecutionLog) bool { return old(l.At, "", p.LogAge, bugLogCutInclusive) })
		res.Logs += len(list) - len(kept)
		s.logs[id] = kept
		progress(p, res)
	}
	s.purgeAttempts(p, &res)
	for id, t := range s.rows {
		age, rule := p.FailedTaskAge, bugFailedCutInclusive
		switch {
		case t.Recurring && s.bug != bugPurgeRecurring:
			continue
		case t.Status == store.StatusCompleted:
			age, rule = p.CompletedTaskAge, bugCompletedCutInclusive
		case t.Status != store.StatusFailed && t.Status != store.StatusCancelled:
			continue
		}
		ref := t.LastExecutionAt
		if ref.IsZero() {
			ref = t.CreatedAt
		}
		if cut, ok := cutoff(age); ok && before(ref, cut, rule) {
			s.delete(id)
			res.Tasks++
			progress(p, res)
		}
	}
	progress(p, res)
	return res, nil
}

// progress reports the purge so far, as a store does after each batch.
func progress(p store.RetentionPolicy, res store.PurgeResult) {
	if p.Progress != nil {
		p.Progress(res)
	}
}
