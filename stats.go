package evertask

import (
	"slices"
	"strings"
)

// QueueStats is a snapshot of one queue of this engine.
type QueueStats struct {
	Name     string
	Workers  int // worker goroutines
	Capacity int // size of the queue's buffer
	Buffered int // tasks waiting in the buffer for a worker
	Busy     int // workers running a handler now
	Paused   bool
}

// QueueStats returns a snapshot of every queue of the engine, in name order.
// It reads counters only: cheap enough for every metrics scrape.
func (e *Engine) QueueStats() []QueueStats {
	out := make([]QueueStats, 0, len(e.queues))
	for name, q := range e.queues {
		out = append(out, QueueStats{
			Name: name, Workers: q.cfg.Workers, Capacity: q.cfg.Capacity,
			Buffered: len(q.ch), Busy: int(q.busy.Load()), Paused: q.paused.Load(),
		})
	}
	sortQueueStats(out)
	return out
}

func sortQueueStats(s []QueueStats) {
	slices.SortFunc(s, func(a, b QueueStats) int { return strings.Compare(a.Name, b.Name) })
}

// Running reports whether the engine has started and not yet begun to shut
// down: a health check's view of this node.
func (e *Engine) Running() bool {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.started && !e.stopping
}
