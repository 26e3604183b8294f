package storetest

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"time"

	"github.com/evertask/evertask/store"
	"github.com/google/uuid"
)

// The naive store's Cluster and Notifier: the process clock, every row
// scanned under the one mutex, and an in-process fan-out.

// Cluster bugs a real store could have.
const (
	bugClaimNotAtomic      naiveBug = "ClaimReadsThenWritesWithoutTheLock"
	bugClaimFutureRows     naiveBug = "ClaimTakesRowsNotDue"
	bugClaimCreatedOrder   naiveBug = "ClaimOrdersByCreatedAt"
	bugClaimTakesFinished  naiveBug = "ClaimTakesUnclaimableRows"
	bugClaimQueuedAudit    naiveBug = "ClaimAuditsQueuedForQueuedRows"
	bugNextDueAnyRow       naiveBug = "NextDueCountsUnclaimableRows"
	bugLeaseFromCallerNow  naiveBug = "LeaseFromParamsNow"
	bugFenceIgnored        naiveBug = "HeldByIgnored"
	bugFenceKeepsFailures  naiveBug = "FencedWriteKeepsRecoveryFailures"
	bugKeepsLease          naiveBug = "OwnerKeptOutOfInProgress"
	bugRecoverableLeased   naiveBug = "IfRecoverableIgnoresLease"
	bugRenewRevives        naiveBug = "RenewRevivesExpiredLease"
	bugRenewKeepsLength    naiveBug = "RenewAddsToTheOldLease"
	bugRescueLiveLeases    naiveBug = "RescueTakesLiveLeases"
	bugRescueIgnoresOwners naiveBug = "RescueIgnoresGoneOwners"
	bugRescueNeverPoisons  naiveBug = "RescueNeverPoisons"
	bugRescueNoLimit       naiveBug = "RescueIgnoresLimit"
	bugLeaveKeepsNode      naiveBug = "LeaveClusterKeepsTheNode"
	bugHeartbeatKept       naiveBug = "JoinClusterKeepsTheFirstHeartbeat"
	bugNoticeToFirstOnly   naiveBug = "PublishReachesOneSubscriber"
	bugSubscriptionLeaks   naiveBug = "SubscribeNeverCloses"
	bugPublishBlocks       naiveBug = "PublishWaitsForSlowReaders"
	bugClaimedPersistAudit naiveBug = "PersistClaimedAuditsQueuedForQueuedRows"
	bugClaimedLeaseCaller  naiveBug = "PersistClaimedLeaseFromParamsNow"
	bugClaimedPartial      naiveBug = "PersistClaimedWritesRowsBeforeAHeldKey"
)

var (
	_ store.Cluster           = (*naiveStore)(nil)
	_ store.Notifier          = (*naiveStore)(nil)
	_ store.ClaimingPersister = (*naiveStore)(nil)
)

func (s *naiveStore) PersistClaimed(ctx context.Context, p store.PersistClaimedParams) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	if err := p.Validate(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock()
	leaseFrom := now
	if s.bug == bugClaimedLeaseCaller {
		leaseFrom = p.Now
	}
	seen := map[string]bool{}
	for i, t := range p.Tasks {
		err := error(nil)
		if _, ok := s.rows[t.ID]; ok {
			err = fmt.Errorf("%w: id %s exists", store.ErrInvalid, t.ID)
		} else if _, held := s.keys[t.Key]; t.Key != "" && (held || seen[t.Key]) {
			err = fmt.Errorf("persist %s: %w", t.ID, store.ErrDuplicateKey)
		}
		if err != nil {
			if s.bug == bugClaimedPartial {
				p.Tasks = p.Tasks[:i]
				break
			}
			return err
		}
		seen[t.Key] = true
	}
	for _, t := range p.Tasks {
		r := t.Normalize()
		if r.Status != store.StatusQueued || s.bug == bugClaimedPersistAudit {
			s.statusAudit(r.ID, r.AuditLevel, p.Now, store.StatusQueued, "")
		}
		r.Status, r.Owner, r.LeaseUntil = store.StatusInProgress, p.Owner, store.NormalizeTime(leaseFrom.Add(p.LeaseFor))
		s.statusAudit(r.ID, r.AuditLevel, p.Now, store.StatusInProgress, "")
		s.insert(r)
	}
	return nil
}

func (s *naiveStore) clock() time.Time { return store.NormalizeTime(time.Now()) }

// leaseRulesAllow is the part of a transition's conditions about leases.
func (s *naiveStore) leaseRulesAllow(p *store.TransitionParams, t *store.Task, now time.Time) bool {
	if p.IfRecoverable && s.bug != bugRecoverableLeased && s.bug != bugBlindRequeue && t.LeaseLive(now) {
		return false
	}
	return p.HeldBy == "" || s.bug == bugFenceIgnored || t.Holds(p.HeldBy, now)
}

// applyLease writes the lease fields of a transition that applied.
func (s *naiveStore) applyLease(p *store.TransitionParams, t *store.Task, now time.Time) {
	if s.bug == bugLeaseFromCallerNow {
		now = p.Now
	}
	switch {
	case p.Lease != nil:
		t.Owner, t.LeaseUntil = p.Lease.Owner, store.NormalizeTime(now.Add(p.Lease.For))
	case p.To != store.StatusInProgress && s.bug != bugKeepsLease:
		t.Owner, t.LeaseUntil = "", time.Time{}
	}
	if p.HeldBy != "" && s.bug != bugFenceKeepsFailures {
		t.RecoveryFailures = 0
	}
}

func (s *naiveStore) Now(ctx context.Context) (time.Time, error) {
	if err := s.check(ctx); err != nil {
		return time.Time{}, err
	}
	return s.clock(), nil
}

// cmpDue orders rows as Claim takes them: (DueAt, CreatedAt, ID).
func cmpDue(a, b *store.Task) int {
	if c := a.DueAt().Compare(b.DueAt()); c != 0 {
		return c
	}
	return cmpCursor(store.CursorOf(a), store.CursorOf(b))
}

func (s *naiveStore) Claim(ctx context.Context, p store.ClaimParams) (store.ClaimResult, error) {
	if err := s.check(ctx); err != nil {
		return store.ClaimResult{}, err
	}
	if err := p.Validate(); err != nil {
		return store.ClaimResult{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock()
	res := store.ClaimResult{StoreNow: now}
	var due []*store.Task
	for _, t := range s.order {
		if t.Queue != p.Queue {
			continue
		}
		claimable := t.Claimable(now) || s.bug == bugClaimTakesFinished && t.Status != store.StatusInProgress
		if t.DueAt().After(now) && s.bug != bugClaimFutureRows {
			if (claimable || s.bug == bugNextDueAnyRow) && (res.NextDue.IsZero() || t.DueAt().Before(res.NextDue)) {
				res.NextDue = t.DueAt()
			}
			continue
		}
		if claimable {
			due = append(due, t)
		}
	}
	if s.bug != bugClaimCreatedOrder {
		slices.SortFunc(due, cmpDue)
	}
	due = due[:min(len(due), p.Limit)]
	if s.bug == bugClaimNotAtomic {
		// Another claimer may read the same rows meanwhile.
		s.mu.Unlock()
		time.Sleep(time.Millisecond)
		runtime.Gosched()
		s.mu.Lock()
	}
	leaseFrom := now
	if s.bug == bugLeaseFromCallerNow {
		leaseFrom = p.Now
	}
	for _, t := range due {
		if t.Status != store.StatusQueued || s.bug == bugClaimQueuedAudit {
			s.statusAudit(t.ID, t.AuditLevel, p.Now, store.StatusQueued, "")
		}
		t.Status, t.Owner, t.LeaseUntil = store.StatusInProgress, p.Owner, store.NormalizeTime(leaseFrom.Add(p.LeaseFor))
		s.statusAudit(t.ID, t.AuditLevel, p.Now, store.StatusInProgress, "")
		res.Tasks = append(res.Tasks, t.Clone())
	}
	return res, nil
}

func (s *naiveStore) Renew(ctx context.Context, p store.RenewParams) ([]uuid.UUID, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock()
	var lost []uuid.UUID
	for _, id := range p.IDs {
		t := s.rows[id]
		switch {
		case t != nil && (t.Holds(p.Owner, now) || s.bug == bugRenewRevives && t.Status == store.StatusInProgress && t.Owner == p.Owner):
			if s.bug == bugRenewKeepsLength {
				t.LeaseUntil = t.LeaseUntil.Add(time.Second)
			} else {
				t.LeaseUntil = store.NormalizeTime(now.Add(p.LeaseFor))
			}
		default:
			lost = append(lost, id)
		}
	}
	return lost, nil
}

func (s *naiveStore) Rescue(ctx context.Context, p store.RescueParams) ([]*store.Task, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if err := p.Normalize(); err != nil {
		return nil, err
	}
	limit := p.Limit
	if s.bug == bugRescueNoLimit {
		limit = len(s.rows) + 1
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock()
	var out []*store.Task
	for _, t := range s.order {
		if len(out) == limit {
			break
		}
		gone := slices.Contains(p.Owners, t.Owner) && s.bug != bugRescueIgnoresOwners
		if t.Status != store.StatusInProgress || t.LeaseLive(now) && !gone && s.bug != bugRescueLiveLeases {
			continue
		}
		t.RecoveryFailures++
		t.Owner, t.LeaseUntil = "", time.Time{}
		if p.MaxFailures > 0 && t.RecoveryFailures >= p.MaxFailures && s.bug != bugRescueNeverPoisons {
			t.Status, t.Error = store.StatusFailed, p.PoisonError
			if t.Recurring {
				t.NextRunAt = time.Time{}
			}
		} else {
			t.Status = store.StatusQueued
		}
		s.statusAudit(t.ID, t.AuditLevel, p.Now, t.Status, errorOf(t))
		out = append(out, t.Clone())
	}
	return out, nil
}

// errorOf is the error a rescue audits: a poisoned row's, not a re-queued
// row's old one.
func errorOf(t *store.Task) string {
	if t.Status == store.StatusFailed {
		return t.Error
	}
	return ""
}

func (s *naiveStore) JoinCluster(ctx context.Context, n store.Node) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	if err := n.Validate(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	beat := s.clock()
	if old, ok := s.nodes[n.ID]; ok && s.bug == bugHeartbeatKept {
		beat = old.LastHeartbeat
	}
	n.StartedAt, n.LastHeartbeat, n.Gone = store.NormalizeTime(n.StartedAt), beat, false
	n.Queues = cloneQueues(n.Queues)
	s.nodes[n.ID] = n
	return nil
}

func cloneQueues(q map[string]int) map[string]int {
	if q == nil {
		return nil
	}
	out := make(map[string]int, len(q))
	for k, v := range q {
		out[k] = v
	}
	return out
}

func (s *naiveStore) LeaveCluster(ctx context.Context, id string) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.bug != bugLeaveKeepsNode {
		delete(s.nodes, id)
	}
	return nil
}

func (s *naiveStore) Nodes(ctx context.Context) ([]store.Node, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]store.Node, 0, len(s.nodes))
	for _, n := range s.nodes {
		n.Queues = cloneQueues(n.Queues)
		out = append(out, n)
	}
	slices.SortFunc(out, func(a, b store.Node) int {
		if c := a.StartedAt.Compare(b.StartedAt); c != 0 {
			return c
		}
		return cmpStrings(a.ID, b.ID)
	})
	return out, nil
}

func cmpStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func (s *naiveStore) Publish(ctx context.Context, notices []store.Notice) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	s.subMu.Lock()
	defer s.subMu.Unlock()
	for ch := range s.subs {
		for _, n := range notices {
			if s.bug == bugPublishBlocks {
				select {
				case ch <- n:
				case <-ctx.Done():
					return ctx.Err()
				}
				continue
			}
			select {
			case ch <- n:
			default: // a slow reader loses notices
			}
		}
		if s.bug == bugNoticeToFirstOnly {
			break
		}
	}
	return nil
}

func (s *naiveStore) Subscribe(ctx context.Context) (<-chan store.Notice, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	ch := make(chan store.Notice, 64)
	s.subMu.Lock()
	s.subs[ch] = struct{}{}
	s.subMu.Unlock()
	if s.bug == bugSubscriptionLeaks {
		return ch, nil
	}
	go func() {
		<-ctx.Done()
		s.subMu.Lock()
		delete(s.subs, ch)
		close(ch)
		s.subMu.Unlock()
	}()
	return ch, nil
}
