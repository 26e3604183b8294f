package evertask

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/evertask/evertask/store"
)

// EventType names a lifecycle event.
type EventType string

// The lifecycle events.
const (
	EventStarted   EventType = "started"   // an execution began
	EventCompleted EventType = "completed" // it succeeded
	EventFailed    EventType = "failed"    // it failed for good (Error set)
	EventRetried   EventType = "retried"   // an attempt failed and another follows after Delay
	EventTimedOut  EventType = "timed_out" // an attempt hit its timeout; the task failed
	EventCancelled EventType = "cancelled" // cancelled by the user (before or during execution)
	EventStopped   EventType = "stopped"   // interrupted by Shutdown; it will be recovered
	EventRecovered EventType = "recovered" // picked up again after its engine stopped: startup recovery, or in a cluster the claim of a task dispatched before this engine started or taken over from a lost node (once, by the claiming node)
	EventPoisoned  EventType = "poisoned"  // recovery gave up on it and marked it Failed
)

// Event is one lifecycle event of a task.
//
// Each transition is announced once, by the engine whose store write made
// it, and only after that write committed: a write that found the row
// already moved (a refused compare-and-set, a lost lease) announces
// nothing. For a cancel that means: the engine whose Cancel wrote the
// Cancelled status sends EventCancelled; when a running handler's own
// outcome recorded the cancel first (its context ended and its write
// landed before the Cancel's), that engine sends it and Cancel does not.
// With several nodes, a Cancel called on one node for a task running on
// another is announced on the node that called Cancel; the node whose
// handler it stopped calls the handler's OnError hook but sends no event.
// Events of one transition are therefore never duplicated across the
// engines sharing a store. Started and Retried belong to the execution on
// the engine that runs it; a subscriber can still lose events to a full
// buffer (see Engine.Subscribe and DroppedEvents).
type Event struct {
	Type     EventType
	TaskID   uuid.UUID
	Kind     string
	Queue    string
	At       time.Time
	Attempt  int           // for started, retried, failed, timed_out
	Duration time.Duration // execution time for completed and failed; retry delay for retried
	// Waited is, for started, how long the task waited between being due
	// (dispatched, or its scheduled time or occurrence) and its start.
	Waited time.Duration
	Err    error
	Logs   []store.ExecutionLog // captured logs, on completed and failed when capture is on
}

// events fans events out to subscribers without ever blocking the engine: a
// subscriber whose buffer is full loses the event, and the loss is counted.
type events struct {
	mu      sync.RWMutex
	subs    map[*subscriber]struct{}
	ended   bool         // closeAll ran: Shutdown is over
	active  atomic.Int32 // len(subs), read without the lock on the hot path
	dropped atomic.Int64
}

type subscriber struct {
	ch     chan Event
	closed bool
}

func (ev *events) enabled() bool { return ev.active.Load() > 0 }

func (ev *events) subscribe(buffer int) (<-chan Event, func()) {
	s := &subscriber{ch: make(chan Event, max(buffer, 1))}
	ev.mu.Lock()
	if ev.ended {
		// No event will come: the channel is closed at once.
		ev.mu.Unlock()
		close(s.ch)
		return s.ch, func() {}
	}
	if ev.subs == nil {
		ev.subs = map[*subscriber]struct{}{}
	}
	ev.subs[s] = struct{}{}
	ev.active.Store(int32(len(ev.subs)))
	ev.mu.Unlock()
	var once sync.Once
	return s.ch, func() {
		once.Do(func() {
			ev.mu.Lock()
			delete(ev.subs, s)
			ev.active.Store(int32(len(ev.subs)))
			if !s.closed { // Shutdown may have closed it
				s.closed = true
				close(s.ch)
			}
			ev.mu.Unlock()
		})
	}
}

func (ev *events) publish(e Event) {
	ev.mu.RLock()
	defer ev.mu.RUnlock()
	for s := range ev.subs {
		select {
		case s.ch <- e:
		default:
			ev.dropped.Add(1)
		}
	}
}

func (ev *events) closeAll() {
	ev.mu.Lock()
	defer ev.mu.Unlock()
	for s := range ev.subs {
		if !s.closed {
			s.closed = true
			close(s.ch)
		}
	}
	ev.subs = nil
	ev.ended = true
	ev.active.Store(0)
}
