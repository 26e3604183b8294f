package monitor

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"slices"
	"sort"
	"time"

	"github.com/google/uuid"

	"github.com/evertask/evertask"

	"github.com/evertask/evertask/store"
)

// The reads both the API and the dashboard make. Each is a bounded number
// of store calls; none loads every row.

func (s *server) listTasks(ctx context.Context, f store.Filter) (TaskPageJSON, error) {
	if f.Search != "" && s.cfg.SearchScanLimit > 0 {
		f.ScanLimit = s.cfg.SearchScanLimit
	}
	page, err := s.st.List(ctx, f)
	if err != nil {
		return TaskPageJSON{}, err
	}
	out := TaskPageJSON{Tasks: make([]TaskJSON, 0, len(page.Tasks)), Limit: f.Limit, ScanLimit: f.ScanLimit, ScanLimited: page.ScanLimited}
	for _, t := range page.Tasks {
		out.Tasks = append(out.Tasks, taskJSON(t))
	}
	if page.Next != nil {
		c := formatCursor(*page.Next)
		out.Next = &c
	}
	return out, nil
}

// taskDetail reads a task with its history: the row, its attempts, its
// status and runs audits and the first page of its logs.
func (s *server) taskDetail(ctx context.Context, id uuid.UUID, fullPayload bool) (*TaskDetailJSON, error) {
	info, err := evertask.Describe(ctx, s.st, id)
	if err != nil {
		return nil, err
	}
	t := &info.Task
	d := &TaskDetailJSON{TaskJSON: taskJSON(t), PayloadSize: len(t.Payload)}
	d.Payload, d.PayloadTruncated = boundPayload(t.Payload, s.cfg.PayloadLimit, fullPayload)
	_, d.AttemptsKept = s.st.(store.AttemptStore)
	d.Attempts = make([]AttemptJSON, 0, len(info.Attempts))
	for _, a := range info.Attempts {
		d.Attempts = append(d.Attempts, AttemptJSON{Run: a.Run, Number: a.Number, StartedAt: Time(a.StartedAt), DurationMS: ms(a.Duration), Error: a.Error})
	}
	d.StatusHistory = make([]StatusAuditJSON, 0, len(info.StatusHistory))
	for _, a := range info.StatusHistory {
		d.StatusHistory = append(d.StatusHistory, StatusAuditJSON{At: Time(a.At), Status: string(a.Status), Error: a.Error})
	}
	d.RunsHistory = make([]RunsAuditJSON, 0, len(info.RunsHistory))
	for _, a := range info.RunsHistory {
		d.RunsHistory = append(d.RunsHistory, RunsAuditJSON{ExecutedAt: Time(a.ExecutedAt), ExecutionTimeMS: ms(a.ExecutionTime), Status: string(a.Status), Error: a.Error})
	}
	lp, err := s.st.LogsPage(ctx, store.LogQuery{TaskID: id, Limit: store.DefaultLogLimit})
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	d.Logs, d.LogsTotal = logsJSON(lp.Logs), lp.Total
	d.Actions = allowedActions(t)
	return d, nil
}

// allowedActions says which actions a task's status allows, so the
// dashboard shows only those buttons; the action itself decides.
func allowedActions(t *store.Task) map[string]bool {
	finished := t.Status.Terminal() && !(t.Recurring && !t.NextRunAt.IsZero())
	return map[string]bool{
		"cancel": !t.Status.Terminal() || (t.Recurring && !t.NextRunAt.IsZero() && t.Status != store.StatusCancelled),
		"retry":  !t.Recurring && (t.Status == store.StatusFailed || t.Status == store.StatusCancelled),
		"run":    (t.Recurring && !t.NextRunAt.IsZero() || !t.ScheduledAt.IsZero()) && t.Status != store.StatusInProgress && t.Status != store.StatusCancelled && (t.Recurring || !t.Status.Terminal()),
		"delete": finished,
	}
}

// boundPayload returns the payload as JSON: whole when it fits the limit or
// full is asked, else its first limit bytes as a JSON string.
func boundPayload(p []byte, limit int, full bool) (json.RawMessage, bool) {
	if len(p) == 0 {
		return json.RawMessage("null"), false
	}
	if (full || len(p) <= limit) && json.Valid(p) {
		return json.RawMessage(p), false
	}
	cut := p
	truncated := false
	if !full && len(p) > limit {
		cut, truncated = p[:limit], true
	}
	b, _ := json.Marshal(string(cut))
	return b, truncated
}

// countsByQueue is the store's count per queue and status, from the cache.
func (s *server) countsByQueue(ctx context.Context) (map[string]map[store.Status]int, time.Time, error) {
	return s.queueCounts.get(ctx, s, func(ctx context.Context) (map[string]map[store.Status]int, error) {
		return store.CountByQueue(ctx, s.st, store.CountParams{})
	})
}

// counts sums the counts per queue: one aggregate serves both.
func (s *server) counts(ctx context.Context) (CountsJSON, error) {
	byQueue, at, err := s.countsByQueue(ctx)
	if err != nil {
		return CountsJSON{}, err
	}
	out := CountsJSON{Counts: map[string]int{}, ComputedAt: Time(at)}
	for _, m := range byQueue {
		for st, n := range m {
			out.Counts[string(st)] += n
			out.Total += n
		}
	}
	return out, nil
}

func (s *server) overview(ctx context.Context, hours int) (*OverviewJSON, error) {
	now := s.cfg.Now().UTC()
	to := now.Truncate(time.Hour).Add(time.Hour)
	p := store.OverviewParams{From: to.Add(-time.Duration(hours) * time.Hour), To: to, Bucket: time.Hour}
	s.overviewsMu.Lock()
	c := s.overviews[hours]
	if c == nil {
		c = &cached[store.Overview]{}
		s.overviews[hours] = c
	}
	s.overviewsMu.Unlock()
	ov, at, err := c.get(ctx, s, func(ctx context.Context) (store.Overview, error) {
		return store.GetOverview(ctx, s.st, p, s.cfg.OverviewScan)
	})
	if err != nil {
		return nil, err
	}
	if len(ov.Buckets) > 0 { // a cached series keeps its own window
		p.From = ov.Buckets[0].Start
		p.To = p.From.Add(time.Duration(len(ov.Buckets)) * p.Bucket)
	}
	out := &OverviewJSON{From: Time(p.From), To: Time(p.To), BucketSeconds: int(p.Bucket / time.Second),
		ComputedAt: Time(at), Scanned: ov.Scanned, Partial: ov.Partial}
	if out.Queues, err = s.queues(ctx); err != nil {
		return nil, err
	}
	if out.Totals, err = s.counts(ctx); err != nil {
		return nil, err
	}
	tot := ov.Totals()
	out.Completed, out.Failed = tot.Completed, tot.Failed
	if n := tot.Completed + tot.Failed; n > 0 {
		rate := float64(tot.Completed) / float64(n)
		avg := ms(tot.ExecutionTime) / float64(n)
		out.SuccessRate, out.AverageExecutionMS = &rate, &avg
	}
	out.Series = make([]BucketJSON, 0, len(ov.Buckets))
	for _, b := range ov.Buckets {
		out.Series = append(out.Series, BucketJSON{Start: Time(b.Start), Completed: b.Completed, Failed: b.Failed, ExecutionMS: ms(b.ExecutionTime)})
	}
	out.Kinds = make([]KindJSON, 0, len(ov.Kinds))
	for k, c := range ov.Kinds {
		out.Kinds = append(out.Kinds, KindJSON{Kind: k, Completed: c.Completed, Failed: c.Failed})
	}
	sort.Slice(out.Kinds, func(i, j int) bool {
		a, b := out.Kinds[i], out.Kinds[j]
		if a.Completed+a.Failed != b.Completed+b.Failed {
			return a.Completed+a.Failed > b.Completed+b.Failed
		}
		return a.Kind < b.Kind
	})
	recent, err := s.st.List(ctx, store.Filter{Limit: 10})
	if err != nil {
		return nil, err
	}
	out.Recent = make([]TaskJSON, 0, len(recent.Tasks))
	for _, t := range recent.Tasks {
		out.Recent = append(out.Recent, taskJSON(t))
	}
	return out, nil
}

// queues merges the counts per queue, the pauses and the live configuration
// the nodes registered.
func (s *server) queues(ctx context.Context) ([]QueueJSON, error) {
	byQueue, _, err := s.countsByQueue(ctx)
	if err != nil {
		return nil, err
	}
	qs := map[string]*QueueJSON{}
	get := func(name string) *QueueJSON {
		q := qs[name]
		if q == nil {
			q = &QueueJSON{Name: name, Counts: map[string]int{}, Workers: map[string]int{}}
			qs[name] = q
		}
		return q
	}
	for name, m := range byQueue {
		q := get(name)
		for st, n := range m {
			q.Counts[string(st)] = n
			q.Total += n
		}
	}
	if qp, ok := s.st.(store.QueuePauser); ok {
		ps, err := qp.PausedQueues(ctx)
		if err != nil {
			return nil, err
		}
		for _, p := range ps {
			q := get(p.Queue)
			q.Paused, q.PausedAt = true, Time(p.PausedAt)
		}
	}
	if c, ok := s.st.(store.Cluster); ok {
		nodes, err := c.Nodes(ctx)
		if err != nil {
			return nil, err
		}
		for _, n := range nodes {
			if n.Gone {
				continue
			}
			for name, workers := range n.Queues {
				get(name).Workers[n.ID] = workers
			}
		}
	}
	out := make([]QueueJSON, 0, len(qs))
	for _, name := range slices.Sorted(maps.Keys(qs)) {
		out = append(out, *qs[name])
	}
	return out, nil
}

// maxRunningListed bounds the InProgress rows read to say what each node
// runs.
const maxRunningListed = 1000

func (s *server) nodes(ctx context.Context) (NodesJSON, error) {
	c, ok := s.st.(store.Cluster)
	if !ok {
		return NodesJSON{Nodes: []NodeJSON{}}, nil
	}
	nodes, err := c.Nodes(ctx)
	if err != nil {
		return NodesJSON{}, err
	}
	running, err := s.st.List(ctx, store.Filter{Statuses: []store.Status{store.StatusInProgress}, Limit: maxRunningListed})
	if err != nil {
		return NodesJSON{}, err
	}
	byOwner := map[string][]string{}
	for _, t := range running.Tasks {
		byOwner[t.Owner] = append(byOwner[t.Owner], t.ID.String())
	}
	out := NodesJSON{Cluster: true, Nodes: make([]NodeJSON, 0, len(nodes))}
	for _, n := range nodes {
		r := byOwner[n.ID]
		if r == nil {
			r = []string{}
		}
		q := n.Queues
		if q == nil {
			q = map[string]int{}
		}
		out.Nodes = append(out.Nodes, NodeJSON{ID: n.ID, Host: n.Host, PID: n.PID, StartedAt: Time(n.StartedAt),
			LastHeartbeat: Time(n.LastHeartbeat), Gone: n.Gone, Queues: q, Running: r, RunningCount: len(r)})
	}
	return out, nil
}
