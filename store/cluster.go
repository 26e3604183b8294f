package store

import (
	"context"
	"time"

	"github.com/google/uuid"
)

// Cluster is the capability that lets several engines (nodes) share one
// store: the store is then the shared queue. A node claims due rows under a
// lease, renews the leases of what it runs in one call per interval, writes
// every outcome fenced on still holding the lease, and re-queues the rows of
// leases that expired or whose node is proven gone.
//
// Every lease time is the store's clock (PostgreSQL now(), Redis TIME, the
// process clock of an in-process store), never the node's, so clock skew
// between nodes cannot make two of them hold one row. Times the caller
// passes in params (Now) are only written to audits and LastExecutionAt, as
// elsewhere in the contract.
//
// The row invariant: Owner and LeaseUntil are set exactly while a row is
// InProgress under a lease. Every write that moves a row out of InProgress
// (Transition, TransitionMany, CompleteRecurringRun, EndSeries, Rescue)
// clears both, fenced or not.
//
// A store that implements Cluster must also honour TransitionParams.Lease,
// TransitionParams.HeldBy and RunParams.HeldBy in Transition,
// TransitionMany and CompleteRecurringRun, and Recoverable's lease rule in
// every IfRecoverable condition: an InProgress row whose lease is live (at
// the store's clock) is never recoverable. A store without Cluster ignores
// those fields; the engine then runs as the only process on the store (see
// the README's "Several processes").
type Cluster interface {
	// Now returns the store's clock, NormalizeTime'd.
	Now(ctx context.Context) (time.Time, error)

	// Claim takes up to params.Limit due rows of params.Queue for
	// params.Owner in one atomic step per row, passing over rows another
	// claimer holds at that moment (FOR UPDATE SKIP LOCKED, or claims that
	// take turns): two concurrent claims never return the same row.
	//
	// A row is due when it is Claimable at the store's clock and its DueAt
	// is at or before that clock. Due rows are taken in (DueAt, CreatedAt,
	// ID) order. Each claimed row becomes InProgress with Owner =
	// params.Owner and LeaseUntil = store clock + params.LeaseFor; its
	// status audits are written as if it had gone through Queued (unless it
	// was Queued) and then InProgress, each as StatusAuditRequired says for
	// the row's own audit level, at params.Now.
	//
	// The result holds the claimed rows as they are after the claim, the
	// store's clock, and the DueAt of the earliest row of the queue that is
	// Claimable but not yet due (zero when there is none), so a node can
	// sleep until then without reading its own clock.
	Claim(ctx context.Context, params ClaimParams) (ClaimResult, error)

	// Renew extends, in one call, the leases params.Owner holds on
	// params.IDs to store clock + params.LeaseFor. It returns the ids the
	// owner no longer holds: the row is gone, is not InProgress, has another
	// owner, or its lease expired before this renewal (an expired lease is
	// never revived, even if nobody took the row yet). Their work must stop.
	Renew(ctx context.Context, params RenewParams) (lost []uuid.UUID, err error)

	// Rescue re-queues InProgress rows nobody holds any more: those whose
	// lease expired at the store's clock (or that have no lease: written by
	// a process without leases), and those owned by one of params.Owners
	// whatever their lease (nodes the caller proved gone). Each rescued row,
	// in one atomic step: RecoveryFailures+1; Owner and LeaseUntil cleared;
	// and Status Queued (a status audit as the policy says) or, when the new
	// count reaches params.MaxFailures (> 0), poisoned: a one-shot row ends
	// Failed with Error params.PoisonError, a recurring one too with its
	// NextRunAt cleared. At most params.Limit rows per call (0:
	// DefaultPendingLimit); it returns what it rescued, as the rows are
	// after the step.
	Rescue(ctx context.Context, params RescueParams) ([]*Task, error)

	// JoinCluster registers a node, or refreshes its registration: its info
	// and LastHeartbeat = store clock. The first call of a node also opens
	// whatever lets other nodes prove it gone once its process dies (a
	// PostgreSQL session lock, a named Redis connection, a file lock), held
	// until LeaveCluster. The engine calls it at start and on every
	// heartbeat.
	JoinCluster(ctx context.Context, node Node) error

	// LeaveCluster removes a node's registration and releases what
	// JoinCluster opened. Leaving a node that is not registered is not an
	// error. Rows the node still owns are not touched.
	LeaveCluster(ctx context.Context, nodeID string) error

	// Nodes lists the registered nodes, oldest first, with Gone set for
	// those whose process is proven to have ended (their liveness session
	// died), whatever their last heartbeat.
	Nodes(ctx context.Context) ([]Node, error)
}

// Notifier lets a node wake the others at once (PostgreSQL LISTEN/NOTIFY,
// Redis pub/sub) instead of waiting for their next poll. It is optional:
// without it nodes find new work by polling. Notices are hints: one may be
// lost (a reconnect), so nothing depends on a single notice.
type Notifier interface {
	// Publish sends notices to every subscribed node, this one included.
	Publish(ctx context.Context, notices []Notice) error

	// Subscribe delivers the notices published by any node until ctx ends,
	// then closes the channel. It returns once it listens: a notice
	// published after it returned is delivered. A slow reader loses
	// notices rather than blocking the store.
	Subscribe(ctx context.Context) (<-chan Notice, error)
}

// NoticeKind says what a Notice announces.
type NoticeKind string

const (
	// NoticeDue: rows of Queue are due now or at At: a node with free
	// workers should claim.
	NoticeDue NoticeKind = "due"
	// NoticeCancel: task ID was cancelled; the node running it stops it.
	NoticeCancel NoticeKind = "cancel"
	// NoticeJoin: node Node started: the others know at once they have a
	// peer to share their backlog with.
	NoticeJoin NoticeKind = "join"
	// NoticePause: Queue was paused or resumed (QueuePauser): nodes read
	// the paused queues again at once instead of at their next poll. Nodes
	// of a version without it ignore it.
	NoticePause NoticeKind = "pause"
)

// Notice is one cluster notice.
type Notice struct {
	Kind  NoticeKind `json:"k"`
	Queue string     `json:"q,omitempty"` // NoticeDue, NoticePause
	ID    uuid.UUID  `json:"id,omitzero"`
	At    time.Time  `json:"at,omitzero"` // NoticeDue: when the rows are due; zero: now
	Node  string     `json:"n,omitempty"` // NoticeJoin: the node that joined
}

// Lease asks a transition to InProgress to claim the row: Owner = Owner and
// LeaseUntil = store clock + For.
type Lease struct {
	Owner string
	For   time.Duration
}

// ClaimParams selects the rows of Claim.
type ClaimParams struct {
	Owner    string
	Queue    string
	Limit    int // at least 1
	LeaseFor time.Duration
	Now      time.Time // audit time
	// Alone says the caller believes no other claim of this queue runs on
	// the store now (a node without peers: one fetcher per queue). A store
	// may then leave out what only concurrent claims need, such as
	// PostgreSQL's row locks, but a claim must stay exclusive when the
	// belief is wrong (a peer that just joined): it may then take fewer
	// rows than are due, never a row another claim holds.
	Alone bool
}

// Validate checks the params; the error wraps ErrInvalid.
func (p *ClaimParams) Validate() error {
	switch {
	case p.Owner == "":
		return errInvalid("claim without an owner")
	case p.Queue == "":
		return errInvalid("claim without a queue")
	case p.Limit < 1:
		return errInvalid("claim limit %d, must be at least 1", p.Limit)
	case p.LeaseFor <= 0:
		return errInvalid("claim lease %s, must be positive", p.LeaseFor)
	case p.Now.IsZero():
		return errInvalid("claim has no time")
	}
	return nil
}

// ClaimResult is what Claim took.
type ClaimResult struct {
	Tasks []*Task
	// StoreNow is the store's clock at the claim.
	StoreNow time.Time
	// NextDue is the DueAt of the queue's earliest Claimable row that is
	// not due yet; zero when there is none.
	NextDue time.Time
}

// RenewParams lists the leases to renew.
type RenewParams struct {
	Owner    string
	IDs      []uuid.UUID
	LeaseFor time.Duration
}

// Validate checks the params; the error wraps ErrInvalid.
func (p *RenewParams) Validate() error {
	switch {
	case p.Owner == "":
		return errInvalid("renew without an owner")
	case p.LeaseFor <= 0:
		return errInvalid("renew lease %s, must be positive", p.LeaseFor)
	}
	return nil
}

// RescueParams selects the rows of Rescue.
type RescueParams struct {
	// Owners are nodes proven gone: their rows are rescued whatever their
	// lease says.
	Owners      []string
	Limit       int // 0 means DefaultPendingLimit; negative is ErrInvalid
	MaxFailures int // the poison limit; 0: never poison
	PoisonError string
	Now         time.Time // audit time
}

// Validate checks the params; the error wraps ErrInvalid.
func (p *RescueParams) Validate() error {
	switch {
	case p.Limit < 0:
		return errInvalid("negative rescue limit %d", p.Limit)
	case p.MaxFailures < 0:
		return errInvalid("negative poison limit %d", p.MaxFailures)
	case p.Now.IsZero():
		return errInvalid("rescue has no time")
	}
	return nil
}

// Node is one engine of a cluster in the registry.
type Node struct {
	ID        string
	Host      string
	PID       int
	StartedAt time.Time
	// Queues maps each queue the node runs to its worker count.
	Queues map[string]int
	// LastHeartbeat is the store's clock at the node's last JoinCluster.
	LastHeartbeat time.Time
	// Gone is set by Nodes when the node's process is proven to have ended.
	Gone bool
}

// Validate checks what JoinCluster needs of a node: an id. The error wraps
// ErrInvalid.
func (n *Node) Validate() error {
	if n.ID == "" {
		return errInvalid("a node without an id")
	}
	return nil
}

// LostLeases is the answer of Renew from the ids asked and those the store
// renewed: every id asked and not renewed, each reported once, in the order
// asked. Stores that learn the renewed set from their statement use it.
func LostLeases(asked []uuid.UUID, renewed map[uuid.UUID]bool) []uuid.UUID {
	var lost []uuid.UUID
	seen := make(map[uuid.UUID]bool, len(asked))
	for _, id := range asked {
		if !renewed[id] && !seen[id] {
			seen[id] = true
			lost = append(lost, id)
		}
	}
	return lost
}

// DueAt is when a row may run: its next occurrence for a series, else its
// scheduled time, else its creation.
func (t *Task) DueAt() time.Time {
	switch {
	case !t.NextRunAt.IsZero():
		return t.NextRunAt
	case !t.ScheduledAt.IsZero():
		return t.ScheduledAt
	}
	return t.CreatedAt
}

// Claimable reports whether Claim may take the row at the store's time now
// once it is due: it is Recoverable and not InProgress (an InProgress row is
// held, or waits for Rescue).
func (t *Task) Claimable(now time.Time) bool {
	return t.Status != StatusInProgress && t.Recoverable(now)
}

// LeaseLive reports whether the row is InProgress under a lease that has
// not expired at the store's time now.
func (t *Task) LeaseLive(now time.Time) bool {
	return t.Status == StatusInProgress && t.Owner != "" && t.LeaseUntil.After(NormalizeTime(now))
}

// Holds reports whether owner holds the row's lease at the store's time now:
// the condition of every fenced write.
func (t *Task) Holds(owner string, now time.Time) bool {
	return owner != "" && t.Owner == owner && t.LeaseLive(now)
}

// TxPersister writes a new row inside a transaction of the caller's (a
// pgx.Tx for pgstore, a *sql.Tx for mysqlstore): the row exists only if that
// transaction commits, and a store with a notifier wakes the nodes when it
// does. Tx is the store's transaction type.
// It follows Persist's rules, except that a held key returns
// ErrDuplicateKey without spoiling the caller's transaction.
type TxPersister[Tx any] interface {
	PersistTx(ctx context.Context, tx Tx, task *Task) error
}

// ClaimingPersister is the dispatching node's fast path: it stores new rows
// already claimed by that node, in the one write that stores them, so a
// task dispatched to a node with an idle worker needs no second write (and
// no claim round) before it runs. It is optional: a Cluster store without
// it gets Persist, then a claim.
type ClaimingPersister interface {
	// PersistClaimed writes params.Tasks as PersistMany does: all or none,
	// each task.Validate'd, an id that exists is ErrInvalid, a task key
	// another row (or an earlier task of the batch) holds is
	// ErrDuplicateKey, and nothing is written then. Each row is written
	// already claimed, as Claim would leave it: InProgress with Owner =
	// params.Owner and LeaseUntil = store clock + params.LeaseFor. Its
	// status audits, in the order of params.Tasks, are those of a row
	// persisted with task.Status and claimed at params.Now: Queued (unless
	// task.Status is Queued) then InProgress, each as StatusAuditRequired
	// says for the task's audit level. Every task must be WaitingQueue or
	// Queued, without an owner or a lease (else ErrInvalid). The caller's
	// tasks are not modified.
	PersistClaimed(ctx context.Context, params PersistClaimedParams) error
}

// PersistClaimedParams are the rows of PersistClaimed and their claim.
type PersistClaimedParams struct {
	Tasks    []*Task
	Owner    string
	LeaseFor time.Duration
	Now      time.Time // audit time
}

// Validate checks the params and every task; the error wraps ErrInvalid.
func (p *PersistClaimedParams) Validate() error {
	switch {
	case p.Owner == "":
		return errInvalid("persist claimed without an owner")
	case p.LeaseFor <= 0:
		return errInvalid("persist claimed with lease %s, must be positive", p.LeaseFor)
	case p.Now.IsZero():
		return errInvalid("persist claimed has no time")
	}
	for _, t := range p.Tasks {
		if err := t.Validate(); err != nil {
			return err
		}
		switch {
		case t.Status != StatusWaitingQueue && t.Status != StatusQueued:
			return errInvalid("task %s persisted claimed from status %s, want WaitingQueue or Queued", t.ID, t.Status)
		case t.Owner != "" || !t.LeaseUntil.IsZero():
			return errInvalid("task %s persisted claimed already has a lease", t.ID)
		}
	}
	return nil
}

// ClaimedAudits are the statuses PersistClaimed audits for a task persisted
// with status and claimed, at the task's level, in order.
func ClaimedAudits(level AuditLevel, status Status) []Status {
	var out []Status
	if status != StatusQueued && StatusAuditRequired(level, StatusQueued, "") {
		out = append(out, StatusQueued)
	}
	if StatusAuditRequired(level, StatusInProgress, "") {
		out = append(out, StatusInProgress)
	}
	return out
}
