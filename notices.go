package evertask

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/evertask/evertask/store"
)

// Notices are the hints nodes send each other through a store.Notifier:
// the publisher sends this node's, the listener acts on everybody's. A
// store without a notifier has neither, and nodes poll.

// listenerDeps is everything the listener reaches.
type listenerDeps struct {
	notifier   store.Notifier
	self       string // this node's id
	pub        *publisher
	peers      *peers
	poke       func(queue string) // wakes the queue's fetcher
	stopTask   func(id uuid.UUID) // stops the task, if it runs here
	pokePauses func()             // reads the pause set now
	log        *slog.Logger
}

// listener acts on the notices of every node (its own included, which cost
// a poke at most).
type listener struct {
	listenerDeps
	loop
}

// start subscribes before it returns, so a notice published after Start
// reaches this node, and then announces the node; a node that cannot
// subscribe polls.
func (l *listener) start() {
	ctx, cancel := context.WithCancel(l.context())
	notices, err := l.notifier.Subscribe(ctx)
	if err != nil {
		cancel()
		l.log.Warn("subscribe to cluster notices; polling only", "err", err)
		return
	}
	l.run(func(stop context.Context) { l.listen(stop, notices, cancel) })
	l.pub.add(store.Notice{Kind: store.NoticeJoin, Node: l.self})
}

func (l *listener) listen(stop context.Context, notices <-chan store.Notice, cancel context.CancelFunc) {
	defer cancel()
	for {
		select {
		case <-stop.Done():
			return
		case nt, ok := <-notices:
			if !ok {
				return
			}
			switch nt.Kind {
			case store.NoticeDue:
				l.poke(nt.Queue)
			case store.NoticeCancel:
				l.stopTask(nt.ID)
			case store.NoticePause:
				l.pokePauses()
			case store.NoticeJoin:
				if nt.Node != l.self {
					l.peers.joined()
				}
			}
		}
	}
}

// publisher sends notices with at most one Publish call in flight: the
// notices that arrive meanwhile go together in the next call, and due
// notices of one queue are merged, so a burst of dispatches costs a few
// calls, not one per task.
type publisher struct {
	notifier store.Notifier
	log      *slog.Logger

	mu      sync.Mutex
	pending []store.Notice
	busy    bool
	idle    sync.Cond
}

func (p *publisher) add(nt store.Notice) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if nt.Kind == store.NoticeDue {
		for i, old := range p.pending {
			if old.Kind == store.NoticeDue && old.Queue == nt.Queue {
				if nt.At.IsZero() || (!old.At.IsZero() && nt.At.Before(old.At)) {
					p.pending[i].At = nt.At
				}
				return
			}
		}
	}
	p.pending = append(p.pending, nt)
	if !p.busy {
		p.busy = true
		go p.send()
	}
}

func (p *publisher) send() {
	for {
		p.mu.Lock()
		batch := p.pending
		p.pending = nil
		if len(batch) == 0 {
			p.busy = false
			if p.idle.L != nil {
				p.idle.Broadcast()
			}
			p.mu.Unlock()
			return
		}
		p.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := p.notifier.Publish(ctx, batch); err != nil {
			p.log.Warn("publish cluster notices; nodes find the work by polling", "notices", len(batch), "err", err)
		}
		cancel()
	}
}

// flush waits until every notice added so far was sent.
func (p *publisher) flush() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.idle.L == nil {
		p.idle.L = &p.mu
	}
	for p.busy {
		p.idle.Wait()
	}
}
