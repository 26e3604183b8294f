package redisstore

import (
	"context"
	"fmt"
	"strconv"

	"github.com/evertask/evertask/store"
	"github.com/google/uuid"
)

// Transition is one script: conditions, row write, index moves and audit.
// The lease rules of store.Cluster (a Lease, a HeldBy fence, IfRecoverable
// refusing a live lease) are checked in the script at the server's clock.
func (s *Store) Transition(ctx context.Context, p store.TransitionParams) (bool, error) {
	if err := s.check(); err != nil {
		return false, err
	}
	if err := p.Validate(); err != nil {
		return false, err
	}
	n, err := s.run(ctx, scriptTransition, transitionArgs(&p)...).Int64()
	if err != nil {
		return false, fmt.Errorf("transition %s to %s: %w", p.ID, p.To, mapErr(err))
	}
	if n < 0 {
		return false, fmt.Errorf("transition %s to %s: %w", p.ID, p.To, store.ErrNotFound)
	}
	return n == 1, nil
}

// TransitionMany runs every transition in one script call (one round
// trip). Each transition is checked and applied on its own, in order, as
// Transition would; the batch is also atomic as a whole, which is more than
// the contract asks. A batch blocks Redis for its duration (about 10 µs per
// transition), so callers keep batches to hundreds, not millions.
func (s *Store) TransitionMany(ctx context.Context, params []store.TransitionParams) ([]bool, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	// A batch that moves a row twice needs the replay marker (see
	// lua/transition_many.lua); distinct rows recognise a replay themselves.
	marker := "0"
	seen := make(map[uuid.UUID]struct{}, len(params))
	args := []any{len(params), marker}
	for i := range params {
		if err := params[i].Validate(); err != nil {
			return nil, err
		}
		if _, dup := seen[params[i].ID]; dup {
			marker = "1"
		}
		seen[params[i].ID] = struct{}{}
		args = append(args, transitionArgs(&params[i])...)
	}
	args[1] = marker
	applied := make([]bool, len(params))
	if len(params) == 0 {
		return applied, nil
	}
	res, err := s.run(ctx, scriptTransitionMany, args...).Int64Slice()
	if err != nil {
		return applied, fmt.Errorf("transition many: %w", mapErr(err))
	}
	if len(res) != len(params) {
		return applied, fmt.Errorf("transition many: %d results for %d transitions", len(res), len(params))
	}
	for i, n := range res {
		applied[i] = n == 1
	}
	return applied, nil
}

// UpdateCurrentRun is one script. The runs audit depends on the row's
// current status and error, which only the script sees, so the level's
// policy goes in as a mode mirroring store.RunsAuditRequired.
func (s *Store) UpdateCurrentRun(ctx context.Context, p store.RunParams) error {
	if err := s.check(); err != nil {
		return err
	}
	if err := p.Validate(); err != nil {
		return err
	}
	n, err := s.run(ctx, scriptUpdateRun, p.ID.String(), micros(p.Now),
		strconv.FormatInt(p.ExecutionTime.Microseconds(), 10), micros(p.NextRunAt), runsAuditMode(p.AuditLevel)).Int64()
	if err != nil {
		return fmt.Errorf("update run of %s: %w", p.ID, mapErr(err))
	}
	if n < 0 {
		return fmt.Errorf("update run of %s: %w", p.ID, store.ErrNotFound)
	}
	return nil
}

// CompleteRecurringRun is one script, applied only from InProgress (and,
// with HeldBy, only while HeldBy holds the lease at the server's clock).
func (s *Store) CompleteRecurringRun(ctx context.Context, p store.RunParams) (bool, error) {
	if err := s.check(); err != nil {
		return false, err
	}
	if err := p.ValidateEnd(); err != nil {
		return false, err
	}
	n, err := s.run(ctx, scriptCompleteRun, p.ID.String(), string(p.Status), micros(p.Now), p.Error,
		strconv.FormatInt(p.ExecutionTime.Microseconds(), 10), micros(p.NextRunAt),
		boolField(store.StatusAuditRequired(p.AuditLevel, p.Status, p.Error)),
		boolField(store.RunsAuditRequired(p.AuditLevel, p.Status, p.Error)), p.HeldBy).Int64()
	if err != nil {
		return false, fmt.Errorf("complete run of %s: %w", p.ID, mapErr(err))
	}
	if n < 0 {
		return false, fmt.Errorf("complete run of %s: %w", p.ID, store.ErrNotFound)
	}
	return n == 1, nil
}

// EndSeries is one script; a Cancelled row is left alone.
func (s *Store) EndSeries(ctx context.Context, p store.EndSeriesParams) (bool, error) {
	if err := s.check(); err != nil {
		return false, err
	}
	if err := p.Validate(); err != nil {
		return false, err
	}
	n, err := s.run(ctx, scriptEndSeries, p.ID.String(), string(p.Status), micros(p.Now), p.Error,
		boolField(store.StatusAuditRequired(p.AuditLevel, p.Status, p.Error))).Int64()
	if err != nil {
		return false, fmt.Errorf("end series %s: %w", p.ID, mapErr(err))
	}
	if n < 0 {
		return false, fmt.Errorf("end series %s: %w", p.ID, store.ErrNotFound)
	}
	return n == 1, nil
}

// IncrementRecoveryFailures is one script (existence check and HINCRBY).
func (s *Store) IncrementRecoveryFailures(ctx context.Context, id uuid.UUID) (int, error) {
	if err := s.check(); err != nil {
		return 0, err
	}
	n, err := s.run(ctx, scriptRecovery, id.String(), "inc").Int64()
	if err != nil {
		return 0, fmt.Errorf("recovery failures of %s: %w", id, mapErr(err))
	}
	if n < 0 {
		return 0, fmt.Errorf("recovery failures of %s: %w", id, store.ErrNotFound)
	}
	return int(n), nil
}

// ClearRecoveryFailures sets the counter to 0.
func (s *Store) ClearRecoveryFailures(ctx context.Context, id uuid.UUID) error {
	if err := s.check(); err != nil {
		return err
	}
	n, err := s.run(ctx, scriptRecovery, id.String(), "clear").Int64()
	if err != nil {
		return fmt.Errorf("clear recovery failures of %s: %w", id, mapErr(err))
	}
	if n < 0 {
		return fmt.Errorf("clear recovery failures of %s: %w", id, store.ErrNotFound)
	}
	return nil
}
