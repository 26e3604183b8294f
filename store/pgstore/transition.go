package pgstore

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/evertask/evertask/store"
)

func statusStrings(ss []store.Status) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = string(s)
	}
	return out
}

// Transition implements store.Store in one statement: the conditional
// update and the audit insert are a writable CTE, so they commit together.
func (s *Store) Transition(ctx context.Context, p store.TransitionParams) (bool, error) {
	if err := s.check(); err != nil {
		return false, err
	}
	if err := p.Validate(); err != nil {
		return false, err
	}
	var applied, found bool
	leaseOwner, leaseUS := leaseArgs(p.Lease)
	err := s.pool.QueryRow(ctx, s.sql.transition, uuidArg(p.ID), string(p.To),
		store.StampsLastExecution(p.To), p.To.Terminal(), ts(p.Now), micros(p.ExecutionTime), p.Error,
		statusStrings(p.From), p.IfRecoverable, store.StatusAuditRequired(p.AuditLevel, p.To, p.Error),
		leaseOwner, leaseUS, p.HeldBy,
	).Scan(&applied, &found)
	if err != nil {
		return false, fmt.Errorf("transition %s to %s: %w", p.ID, p.To, mapErr(err))
	}
	if !found {
		return false, fmt.Errorf("transition %s to %s: %w", p.ID, p.To, store.ErrNotFound)
	}
	return applied, nil
}

// TransitionMany implements store.BatchStore in one round trip. Params are
// split into groups without a repeated id, since one UPDATE changes a row
// at most once; the groups run in order in one pgx batch (one transaction),
// so a later transition of the same row sees the earlier one.
func (s *Store) TransitionMany(ctx context.Context, params []store.TransitionParams) ([]bool, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	applied := make([]bool, len(params))
	if len(params) == 0 {
		return applied, nil
	}
	for i := range params {
		if err := params[i].Validate(); err != nil {
			return applied, err
		}
	}
	if len(params) == 1 {
		ok, err := s.Transition(ctx, params[0])
		if err != nil && !isNotFound(err) {
			return applied, err
		}
		applied[0] = ok
		return applied, nil
	}
	groups := splitByID(params)
	batch := &pgx.Batch{}
	// Once a batch is a few percent of the table, the planner prices a hash
	// join over a sequential scan of the whole table below a nested loop
	// over the primary key, and every batch then reads every row (a third
	// of the statement's time at 100,000 rows, and growing with the table).
	// A batch touches each row once by its key: the nested loop is always
	// right, so the transaction turns the other joins off for itself.
	batch.Queue("BEGIN")
	batch.Queue("SET LOCAL enable_hashjoin = off")
	batch.Queue("SET LOCAL enable_mergejoin = off")
	for _, g := range groups {
		if args, audited, ok := uniformTransitionArgs(params, g); ok {
			sql := s.sql.transitionManyUniformUnaudited
			if audited {
				sql = s.sql.transitionManyUniform
			}
			batch.Queue(sql, args...)
			continue
		}
		args, audited := transitionArrays(params, g)
		sql := s.sql.transitionManyUnaudited
		if audited {
			sql = s.sql.transitionMany
		}
		batch.Queue(sql, args...)
	}
	batch.Queue("COMMIT")
	results := s.pool.SendBatch(ctx, batch)
	for range 3 {
		if _, err := results.Exec(); err != nil {
			results.Close()
			return applied, fmt.Errorf("transition %d tasks: %w", len(params), mapErr(err))
		}
	}
	var ords []int32
	for range groups {
		if err := results.QueryRow().Scan(&ords); err != nil {
			results.Close()
			return applied, fmt.Errorf("transition %d tasks: %w", len(params), mapErr(err))
		}
		for _, ord := range ords {
			applied[ord] = true
		}
	}
	if _, err := results.Exec(); err != nil { // COMMIT
		results.Close()
		return applied, fmt.Errorf("transition %d tasks: %w", len(params), mapErr(err))
	}
	if err := results.Close(); err != nil {
		return applied, fmt.Errorf("transition %d tasks: %w", len(params), mapErr(err))
	}
	return applied, nil
}

// splitByID returns index groups, in order, in which no id repeats. A batch
// without a repeated id, nearly every one, is one group, found by sorting a
// copy of the ids rather than filling a set of them.
func splitByID(params []store.TransitionParams) [][]int {
	ids := make([]uuid.UUID, len(params))
	for i := range params {
		ids[i] = params[i].ID
	}
	slices.SortFunc(ids, func(a, b uuid.UUID) int { return bytes.Compare(a[:], b[:]) })
	repeated := false
	for i := 1; i < len(ids); i++ {
		if ids[i] == ids[i-1] {
			repeated = true
			break
		}
	}
	if !repeated {
		all := make([]int, len(params))
		for i := range all {
			all[i] = i
		}
		return [][]int{all}
	}
	var groups [][]int
	var cur []int
	seen := make(map[uuid.UUID]struct{}, len(params))
	for i := range params {
		if _, dup := seen[params[i].ID]; dup {
			groups = append(groups, cur)
			cur = nil
			clear(seen)
		}
		seen[params[i].ID] = struct{}{}
		cur = append(cur, i)
	}
	return append(groups, cur)
}

// transitionArrays are the parameters of sqlTransitionMany for the params
// at the indexes idx; each row carries its index so results map back.
// audited reports whether any of them writes an audit row.
func transitionArrays(params []store.TransitionParams, idx []int) (args []any, audited bool) {
	n := len(idx)
	var (
		ords                  = make([]int32, n)
		ids                   = make([]pgtype.UUID, n)
		tos, errs, froms      = make([]string, n), make([]string, n), make([]string, n)
		stamps, terms, ifrecs = make([]bool, n), make([]bool, n), make([]bool, n)
		audits                = make([]bool, n)
		nows                  = make([]pgtype.Timestamptz, n)
		execs, leaseUS        = make([]int64, n), make([]int64, n)
		leaseOwners, heldBy   = make([]string, n), make([]string, n)
	)
	for j, i := range idx {
		p := &params[i]
		ords[j], ids[j], tos[j] = int32(i), uuidArg(p.ID), string(p.To)
		stamps[j], terms[j], nows[j], execs[j] = store.StampsLastExecution(p.To), p.To.Terminal(), ts(p.Now), micros(p.ExecutionTime)
		errs[j], froms[j], ifrecs[j] = p.Error, strings.Join(statusStrings(p.From), ","), p.IfRecoverable
		audits[j] = store.StatusAuditRequired(p.AuditLevel, p.To, p.Error)
		audited = audited || audits[j]
		leaseOwners[j], leaseUS[j] = leaseArgs(p.Lease)
		heldBy[j] = p.HeldBy
	}
	return []any{ords, ids, tos, stamps, terms, nows, execs, errs, froms, ifrecs, audits, leaseOwners, leaseUS, heldBy}, audited
}

// uniformTransitionArgs are the parameters of the uniform statements
// (transitionManyUniformParams) for the params at the indexes idx, when
// those differ only in id, time and execution time; ok is false otherwise.
func uniformTransitionArgs(params []store.TransitionParams, idx []int) (args []any, audited, ok bool) {
	first := &params[idx[0]]
	audited = store.StatusAuditRequired(first.AuditLevel, first.To, first.Error)
	for _, i := range idx[1:] {
		p := &params[i]
		if p.To != first.To || p.Error != first.Error || p.IfRecoverable != first.IfRecoverable ||
			p.HeldBy != first.HeldBy || !slices.Equal(p.From, first.From) || !sameLease(p.Lease, first.Lease) ||
			store.StatusAuditRequired(p.AuditLevel, p.To, p.Error) != audited {
			return nil, false, false
		}
	}
	n := len(idx)
	ords, ids := make([]int32, n), make([]pgtype.UUID, n)
	nows, execs := make([]pgtype.Timestamptz, n), make([]int64, n)
	for j, i := range idx {
		p := &params[i]
		ords[j], ids[j], nows[j], execs[j] = int32(i), uuidArg(p.ID), ts(p.Now), micros(p.ExecutionTime)
	}
	leaseOwner, leaseUS := leaseArgs(first.Lease)
	return []any{ords, ids, nows, execs, string(first.To), store.StampsLastExecution(first.To), first.To.Terminal(),
		first.Error, strings.Join(statusStrings(first.From), ","), first.IfRecoverable, audited,
		leaseOwner, leaseUS, first.HeldBy}, audited, true
}

// sameLease reports whether two transitions set the same new lease.
func sameLease(a, b *store.Lease) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Owner == b.Owner && a.For == b.For
}

// leaseArgs are the owner and length in µs of a transition's new lease;
// no lease is the empty owner. A lease shorter than the store's precision
// lasts one microsecond, so it never ends before it starts.
func leaseArgs(l *store.Lease) (string, int64) {
	if l == nil {
		return "", 0
	}
	return l.Owner, max(micros(l.For), 1)
}

// CompleteRecurringRun implements store.RecurringStore in one statement.
func (s *Store) CompleteRecurringRun(ctx context.Context, p store.RunParams) (bool, error) {
	if err := s.check(); err != nil {
		return false, err
	}
	if err := p.ValidateEnd(); err != nil {
		return false, err
	}
	var applied, found bool
	err := s.pool.QueryRow(ctx, s.sql.completeRun, uuidArg(p.ID), string(p.Status), ts(p.Now), micros(p.ExecutionTime),
		p.Error, ts(p.NextRunAt),
		store.StatusAuditRequired(p.AuditLevel, p.Status, p.Error),
		store.RunsAuditRequired(p.AuditLevel, p.Status, p.Error),
		p.HeldBy,
	).Scan(&applied, &found)
	if err != nil {
		return false, fmt.Errorf("complete run of %s: %w", p.ID, mapErr(err))
	}
	if !found {
		return false, fmt.Errorf("complete run of %s: %w", p.ID, store.ErrNotFound)
	}
	return applied, nil
}

// UpdateCurrentRun implements store.Store in one statement.
func (s *Store) UpdateCurrentRun(ctx context.Context, p store.RunParams) error {
	if err := s.check(); err != nil {
		return err
	}
	if err := p.Validate(); err != nil {
		return err
	}
	// The runs audit policy needs the row's status and error, which only
	// the statement sees: pass the level's rule, let SQL apply it.
	always := p.AuditLevel == store.AuditFull || p.AuditLevel == store.AuditMinimal
	errorsOnly := p.AuditLevel == store.AuditErrorsOnly
	var n int64
	err := s.pool.QueryRow(ctx, s.sql.updateRun, uuidArg(p.ID), ts(p.NextRunAt), ts(p.Now), micros(p.ExecutionTime),
		always, errorsOnly).Scan(&n)
	if err != nil {
		return fmt.Errorf("update run of %s: %w", p.ID, mapErr(err))
	}
	if n == 0 {
		return fmt.Errorf("update run of %s: %w", p.ID, store.ErrNotFound)
	}
	return nil
}

// EndSeries implements store.RecurringStore in one statement.
func (s *Store) EndSeries(ctx context.Context, p store.EndSeriesParams) (bool, error) {
	if err := s.check(); err != nil {
		return false, err
	}
	if err := p.Validate(); err != nil {
		return false, err
	}
	var applied, found bool
	err := s.pool.QueryRow(ctx, s.sql.endSeries, uuidArg(p.ID), string(p.Status), p.Error, ts(p.Now),
		store.StatusAuditRequired(p.AuditLevel, p.Status, p.Error)).Scan(&applied, &found)
	if err != nil {
		return false, fmt.Errorf("end series %s: %w", p.ID, mapErr(err))
	}
	if !found {
		return false, fmt.Errorf("end series %s: %w", p.ID, store.ErrNotFound)
	}
	return applied, nil
}

// IncrementRecoveryFailures implements store.RecoveryCounter.
func (s *Store) IncrementRecoveryFailures(ctx context.Context, id uuid.UUID) (int, error) {
	if err := s.check(); err != nil {
		return 0, err
	}
	var n int32
	if err := s.pool.QueryRow(ctx, s.sql.incRecovery, uuidArg(id)).Scan(&n); err != nil {
		return 0, fmt.Errorf("count recovery failure of %s: %w", id, mapErr(err))
	}
	return int(n), nil
}

// ClearRecoveryFailures implements store.RecoveryCounter.
func (s *Store) ClearRecoveryFailures(ctx context.Context, id uuid.UUID) error {
	if err := s.check(); err != nil {
		return err
	}
	tag, err := s.pool.Exec(ctx, s.sql.clearRecovery, uuidArg(id))
	if err != nil {
		return fmt.Errorf("clear recovery failures of %s: %w", id, mapErr(err))
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("clear recovery failures of %s: %w", id, store.ErrNotFound)
	}
	return nil
}
