package store

import (
	"context"
	"time"
)

// Stats gives the aggregates of a monitoring overview without loading rows.
// A Stats store counts outcomes as it writes them: every write that ends an
// execution Completed or Failed adds one to a counter of its minute (see
// StatsResolution), its task kind and its status, with its execution time,
// in the same atomic step as the write itself. Reading an overview then sums
// a few counter rows, whatever the number of tasks; and the completion path
// needs no index over LastExecutionAt, which every completion would write.
// It is optional; the package function GetOverview falls back to a bounded
// scan of the rows.
type Stats interface {
	// Overview aggregates the executions that ended in
	// [params.From, params.To), grouped into buckets of params.Bucket from
	// params.From, and per task kind.
	//
	// An execution ends when one of these writes applies: Transition or
	// TransitionMany to Completed or Failed, or CompleteRecurringRun. It is
	// counted at the write's params.Now (the LastExecutionAt it writes),
	// once per applied write: every run of a recurring series counts, a
	// write that does not apply (a condition or a fence refused it) does
	// not, and the count stays when the row is later retried, cancelled or
	// deleted: the counters are a log of outcomes, not a view of the rows.
	// Rows written with an outcome already in them (Persist, PersistMany,
	// UpdateDefinition) count nothing. params must pass Validate (else
	// ErrInvalid).
	Overview(ctx context.Context, params OverviewParams) (Overview, error)
}

// StatsResolution is the width of one counter of a Stats store: an
// overview's window and buckets are whole multiples of it.
const StatsResolution = time.Minute

// StatsMinute returns the start of the counter of an execution that ended at
// t: t in UTC, truncated to StatsResolution.
func StatsMinute(t time.Time) time.Time { return NormalizeTime(t).Truncate(StatsResolution) }

// OverviewParams selects the window of Overview.
type OverviewParams struct {
	From, To time.Time
	// Bucket is the width of one bucket of the series: 0 means time.Hour.
	Bucket time.Duration
}

// MaxOverviewBuckets bounds the series of one Overview.
const MaxOverviewBuckets = 1000

// Validate checks the params and applies the default bucket; the error
// wraps ErrInvalid.
func (p *OverviewParams) Validate() error {
	if p.Bucket == 0 {
		p.Bucket = time.Hour
	}
	switch {
	case p.From.IsZero() || p.To.IsZero():
		return errInvalid("overview window needs both ends")
	case !p.From.Before(p.To):
		return errInvalid("overview window from %s is not before to %s", p.From, p.To)
	case p.Bucket < StatsResolution || p.Bucket%StatsResolution != 0:
		return errInvalid("overview bucket %s is not a whole number of %s", p.Bucket, StatsResolution)
	case !StatsMinute(p.From).Equal(NormalizeTime(p.From)) || !StatsMinute(p.To).Equal(NormalizeTime(p.To)):
		return errInvalid("overview window %s to %s does not start and end on whole %ss", p.From, p.To, StatsResolution)
	case p.To.Sub(p.From)/p.Bucket >= MaxOverviewBuckets:
		return errInvalid("overview window holds more than %d buckets of %s", MaxOverviewBuckets, p.Bucket)
	}
	return nil
}

// Buckets returns the number of buckets of the window (the last one may be
// partial).
func (p *OverviewParams) Buckets() int {
	n := int(p.To.Sub(p.From) / p.Bucket)
	if p.From.Add(time.Duration(n) * p.Bucket).Before(p.To) {
		n++
	}
	return n
}

// BucketOf returns the index of the bucket holding t, which must be in the
// window.
func (p *OverviewParams) BucketOf(t time.Time) int {
	return int(t.Sub(NormalizeTime(p.From)) / p.Bucket)
}

// Overview is the answer of Stats.Overview.
type Overview struct {
	// Buckets has one entry per bucket of the window, in time order, empty
	// buckets included.
	Buckets []OverviewBucket
	// Kinds counts the window's finished executions per task kind.
	Kinds map[string]OverviewCount
	// Scanned, when not zero, says the answer came from the bounded scan of
	// the fallback over the newest Scanned rows, and Partial that the bound
	// was hit: older rows that finished in the window were not counted.
	Scanned int
	Partial bool
}

// OverviewBucket is one bucket of the series.
type OverviewBucket struct {
	Start time.Time
	OverviewCount
}

// OverviewCount counts finished executions.
type OverviewCount struct {
	Completed int
	Failed    int
	// ExecutionTime is the sum of their execution times.
	ExecutionTime time.Duration
}

// Add adds o to c.
func (c *OverviewCount) Add(o OverviewCount) {
	c.Completed += o.Completed
	c.Failed += o.Failed
	c.ExecutionTime += o.ExecutionTime
}

// Totals sums the buckets.
func (o *Overview) Totals() OverviewCount {
	var c OverviewCount
	for _, b := range o.Buckets {
		c.Add(b.OverviewCount)
	}
	return c
}

// NewOverview returns an Overview with the empty buckets of p (validated);
// stores fill it with Count.
func NewOverview(p OverviewParams) Overview {
	n := p.Buckets()
	o := Overview{Buckets: make([]OverviewBucket, n), Kinds: map[string]OverviewCount{}}
	from := NormalizeTime(p.From)
	for i := range o.Buckets {
		o.Buckets[i].Start = from.Add(time.Duration(i) * p.Bucket)
	}
	return o
}

// Count adds one finished execution, or n of them with a total execution
// time, to bucket i and to kind. Statuses other than Completed and Failed
// and buckets out of range are ignored.
func (o *Overview) Count(i int, kind string, status Status, n int, total time.Duration) {
	if i < 0 || i >= len(o.Buckets) {
		return
	}
	var c OverviewCount
	switch status {
	case StatusCompleted:
		c.Completed = n
	case StatusFailed:
		c.Failed = n
	default:
		return
	}
	c.ExecutionTime = total
	o.Buckets[i].Add(c)
	k := o.Kinds[kind]
	k.Add(c)
	o.Kinds[kind] = k
}

// InWindow reports whether a row's last execution counts in the window.
func (p *OverviewParams) InWindow(t *Task) bool {
	if t.Status != StatusCompleted && t.Status != StatusFailed || t.LastExecutionAt.IsZero() {
		return false
	}
	at := t.LastExecutionAt
	return !at.Before(NormalizeTime(p.From)) && at.Before(NormalizeTime(p.To))
}

// CountTask adds a row to the overview when its last execution is in the
// window; stores that scan rows use it.
func (o *Overview) CountTask(p *OverviewParams, t *Task) {
	if p.InWindow(t) {
		o.Count(p.BucketOf(t.LastExecutionAt), t.Kind, t.Status, 1, t.ExecutionTime)
	}
}

// DefaultOverviewScan bounds the rows the fallback of Overview reads.
const DefaultOverviewScan = 100_000

// GetOverview aggregates the executions finished in the window. With a
// Stats store it is the store's aggregate. The fallback reads rows through
// List, newest first, and stops after maxScan rows (0 means
// DefaultOverviewScan), setting Scanned and Partial: List orders by
// creation, so a row created before the last one read and finished in the
// window is then missing.
func GetOverview(ctx context.Context, s Store, p OverviewParams, maxScan int) (Overview, error) {
	if err := p.Validate(); err != nil {
		return Overview{}, err
	}
	if st, ok := s.(Stats); ok {
		return st.Overview(ctx, p)
	}
	if maxScan <= 0 {
		maxScan = DefaultOverviewScan
	}
	o := NewOverview(p)
	f := Filter{Limit: MaxListLimit, Statuses: []Status{StatusCompleted, StatusFailed}}
	for {
		page, err := s.List(ctx, f)
		if err != nil {
			return Overview{}, err
		}
		for _, t := range page.Tasks {
			o.CountTask(&p, t)
		}
		o.Scanned += len(page.Tasks)
		if page.Next == nil {
			return o, nil
		}
		if o.Scanned >= maxScan {
			o.Partial = true
			return o, nil
		}
		f.After = *page.Next
	}
}
