package inspect

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/evertask/evertask/store"
)

// QueueInfo is one queue as the store and the registered nodes see it.
type QueueInfo struct {
	Name string `json:"name"`
	// Counts are the queue's tasks per status (only statuses with tasks).
	Counts map[store.Status]int `json:"counts"`
	Total  int                  `json:"total"`
	// Paused is set while the queue is paused (store.QueuePauser), since
	// PausedAt.
	Paused   bool      `json:"paused"`
	PausedAt time.Time `json:"paused_at,omitzero"`
	// Workers is the sum of the workers the live nodes run for the queue,
	// and Nodes those workers per node id (store.Cluster; empty without
	// it, or when no live node runs the queue).
	Workers int            `json:"workers"`
	Nodes   map[string]int `json:"nodes,omitempty"`
}

// Queues lists every queue that has tasks, is paused, or is run by a live
// node, ordered by name. The counts come from the store's aggregates
// (store.Counter) where it has them.
func (in *Inspector) Queues(ctx context.Context) ([]QueueInfo, error) {
	counts, err := store.CountByQueue(ctx, in.st, store.CountParams{})
	if err != nil {
		return nil, fmt.Errorf("count tasks by queue: %w", err)
	}
	byName := map[string]*QueueInfo{}
	get := func(name string) *QueueInfo {
		q := byName[name]
		if q == nil {
			q = &QueueInfo{Name: name, Counts: map[store.Status]int{}}
			byName[name] = q
		}
		return q
	}
	for name, c := range counts {
		q := get(name)
		for st, n := range c {
			q.Counts[st] += n
			q.Total += n
		}
	}
	pauses, err := in.PausedQueues(ctx)
	if err != nil && !errors.Is(err, ErrUnsupported) {
		return nil, err
	}
	for _, p := range pauses {
		q := get(p.Queue)
		q.Paused, q.PausedAt = true, p.PausedAt
	}
	if cs, ok := in.st.(store.Cluster); ok {
		nodes, err := cs.Nodes(ctx)
		if err != nil {
			return nil, fmt.Errorf("list nodes: %w", err)
		}
		for _, nd := range nodes {
			if nd.Gone {
				continue
			}
			for name, workers := range nd.Queues {
				q := get(name)
				if q.Nodes == nil {
					q.Nodes = map[string]int{}
				}
				q.Nodes[nd.ID] = workers
				q.Workers += workers
			}
		}
	}
	out := make([]QueueInfo, 0, len(byName))
	for _, q := range byName {
		out = append(out, *q)
	}
	slices.SortFunc(out, func(a, b QueueInfo) int {
		switch {
		case a.Name < b.Name:
			return -1
		case a.Name > b.Name:
			return 1
		}
		return 0
	})
	return out, nil
}

// PausedQueues lists the paused queues ordered by name. ErrUnsupported
// when the store has no store.QueuePauser.
func (in *Inspector) PausedQueues(ctx context.Context) ([]store.QueuePause, error) {
	qp, ok := in.st.(store.QueuePauser)
	if !ok {
		return nil, ErrUnsupported
	}
	p, err := qp.PausedQueues(ctx)
	if err != nil {
		return nil, fmt.Errorf("list paused queues: %w", err)
	}
	return p, nil
}

// PauseQueue pauses a queue on every node: its tasks are still accepted
// and stored, and no node starts one until ResumeQueue. Tasks running when
// the pause lands finish. A node sees the pause at once with the store's
// notifier, else at its next poll; the pause outlives restarts. Pausing a
// paused queue keeps its first time; the queue need not exist yet.
// ErrUnsupported when the store has no store.QueuePauser.
func (in *Inspector) PauseQueue(ctx context.Context, name string) error {
	qp, ok := in.st.(store.QueuePauser)
	if !ok {
		return fmt.Errorf("pause queue %q: %w", name, ErrUnsupported)
	}
	if err := qp.PauseQueue(ctx, name, in.now()); err != nil {
		return fmt.Errorf("pause queue %q: %w", name, err)
	}
	in.notify(ctx, store.Notice{Kind: store.NoticePause, Queue: name})
	return nil
}

// ResumeQueue resumes a paused queue on every node (a no-op for a queue
// that is not paused). ErrUnsupported when the store has no
// store.QueuePauser.
func (in *Inspector) ResumeQueue(ctx context.Context, name string) error {
	qp, ok := in.st.(store.QueuePauser)
	if !ok {
		return fmt.Errorf("resume queue %q: %w", name, ErrUnsupported)
	}
	if err := qp.ResumeQueue(ctx, name); err != nil {
		return fmt.Errorf("resume queue %q: %w", name, err)
	}
	in.notify(ctx, store.Notice{Kind: store.NoticePause, Queue: name})
	return nil
}
