// Package timerheap holds timed work (delayed, scheduled and recurring
// occurrences) in memory and releases each item when it is due.
//
// One goroutine sleeps until the earliest due time, so an idle heap costs no
// CPU and nothing polls the database. The latest registration for an id
// wins: scheduling an id again replaces its earlier entry in O(log n), so no
// stale node is left behind (bug 53 of the reference).
package timerheap

import (
	"container/heap"
	"sync"
	"time"

	"github.com/google/uuid"
)

// Heap releases items to a callback when they are due.
type Heap[T any] struct {
	now  func() time.Time
	fire func(id uuid.UUID, item T)

	mu      sync.Mutex
	entries entryHeap[T]
	byID    map[uuid.UUID]*entry[T]
	wake    chan struct{} // capacity 1: a pending wake-up is never lost and never blocks
	stop    chan struct{}
	done    chan struct{}
	started bool
	stopped bool
}

type entry[T any] struct {
	id    uuid.UUID
	due   time.Time
	item  T
	index int
}

// New returns a heap that calls fire, from its own goroutine, for each item
// when it is due. fire must not block for long: it delays later items.
func New[T any](now func() time.Time, fire func(id uuid.UUID, item T)) *Heap[T] {
	return &Heap[T]{
		now:  now,
		fire: fire,
		byID: map[uuid.UUID]*entry[T]{},
		wake: make(chan struct{}, 1),
		stop: make(chan struct{}),
		done: make(chan struct{}),
	}
}

// Start runs the loop. Starting twice is a no-op.
func (h *Heap[T]) Start() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.started || h.stopped {
		return
	}
	h.started = true
	go h.loop()
}

// Stop ends the loop and waits for it; items left in the heap are dropped
// (their rows stay recoverable in the store). Safe to call twice or before
// Start.
func (h *Heap[T]) Stop() {
	h.mu.Lock()
	if h.stopped {
		h.mu.Unlock()
		<-h.done
		return
	}
	h.stopped = true
	started := h.started
	close(h.stop)
	h.mu.Unlock()
	if !started {
		close(h.done)
		return
	}
	<-h.done
}

// Schedule registers item under id at due, replacing any earlier entry for
// the id. It reports false after Stop.
func (h *Heap[T]) Schedule(id uuid.UUID, due time.Time, item T) bool {
	h.mu.Lock()
	if h.stopped {
		h.mu.Unlock()
		return false
	}
	if e, ok := h.byID[id]; ok {
		e.due, e.item = due, item
		heap.Fix(&h.entries, e.index)
	} else {
		e := &entry[T]{id: id, due: due, item: item}
		h.byID[id] = e
		heap.Push(&h.entries, e)
	}
	head := h.entries[0].id == id
	h.mu.Unlock()
	if head {
		h.signal()
	}
	return true
}

// Remove drops the entry of id and reports whether there was one.
func (h *Heap[T]) Remove(id uuid.UUID) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	e, ok := h.byID[id]
	if !ok {
		return false
	}
	heap.Remove(&h.entries, e.index)
	delete(h.byID, id)
	return true
}

// Contains reports whether id is scheduled.
func (h *Heap[T]) Contains(id uuid.UUID) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	_, ok := h.byID[id]
	return ok
}

// Len returns the number of scheduled items.
func (h *Heap[T]) Len() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.entries)
}

func (h *Heap[T]) signal() {
	select {
	case h.wake <- struct{}{}:
	default:
	}
}

func (h *Heap[T]) loop() {
	defer close(h.done)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		due, wait := h.releaseDue()
		for _, e := range due {
			h.fire(e.id, e.item)
		}
		if len(due) > 0 {
			continue // firing took time: look again before sleeping
		}
		var timerC <-chan time.Time
		if wait >= 0 {
			timer.Reset(wait)
			timerC = timer.C
		}
		select {
		case <-h.stop:
			timer.Stop()
			return
		case <-h.wake:
			timer.Stop()
		case <-timerC:
		}
	}
}

// releaseDue pops every entry due now (at most a bounded batch, so a huge
// backlog does not hold the lock) and returns how long to wait for the next
// one, or -1 when the heap is empty.
func (h *Heap[T]) releaseDue() ([]*entry[T], time.Duration) {
	const maxBatch = 256
	h.mu.Lock()
	defer h.mu.Unlock()
	now := h.now()
	var due []*entry[T]
	for len(h.entries) > 0 && len(due) < maxBatch {
		head := h.entries[0]
		if head.due.After(now) {
			return due, head.due.Sub(now)
		}
		heap.Pop(&h.entries)
		delete(h.byID, head.id)
		due = append(due, head)
	}
	if len(h.entries) == 0 {
		return due, -1
	}
	return due, 0
}

type entryHeap[T any] []*entry[T]

func (q entryHeap[T]) Len() int { return len(q) }
func (q entryHeap[T]) Less(i, j int) bool {
	return q[i].due.Before(q[j].due)
}
func (q entryHeap[T]) Swap(i, j int) {
	q[i], q[j] = q[j], q[i]
	q[i].index = i
	q[j].index = j
}
func (q *entryHeap[T]) Push(x any) {
	e := x.(*entry[T])
	e.index = len(*q)
	*q = append(*q, e)
}
func (q *entryHeap[T]) Pop() any {
	old := *q
	n := len(old)
	e := old[n-1]
	old[n-1] = nil
	e.index = -1
	*q = old[:n-1]
	return e
}
