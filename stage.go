package evertask

import (
	"context"
	"sync"
)

// A stage is one background loop of cluster mode (a fetcher, the lease
// keeper, the rescuer, the listener). Each is built with only what it
// calls (a narrow store interface, its settings, a few engine functions),
// never the Engine, and Engine.Start and Shutdown start and stop the stages
// as lists in one documented order (see node). River's startstop services
// are the model.
type stage interface {
	// start does what must be done before start returns (the listener's
	// subscription, the rescuer's first rescue), then runs the loop in
	// its own goroutine.
	start()
	// halt asks the loop to end and returns at once: a context the stage
	// passes to its store calls ends with it.
	halt()
	// wait returns once the loop has ended.
	wait()
}

// startStages starts the stages in their order.
func startStages(stages []stage) {
	for _, s := range stages {
		s.start()
	}
}

// stopStages halts every stage, then waits for each: they stop together,
// not one after another.
func stopStages(stages []stage) {
	for _, s := range stages {
		s.halt()
	}
	for _, s := range stages {
		s.wait()
	}
}

// loop is the lifecycle a stage embeds: run starts its body in one
// goroutine with a context that halt ends, and wait returns once the body
// returned. Its zero value is ready; halting or waiting twice, or before
// run (a stage never started), is safe, and run after halt does nothing.
type loop struct {
	mu     sync.Mutex
	ctx    context.Context
	cancel context.CancelFunc
	halted bool
	done   chan struct{} // nil until run
}

// initLocked makes the context on first use; l.mu is held.
func (l *loop) initLocked() {
	if l.ctx == nil {
		l.ctx, l.cancel = context.WithCancel(context.Background())
	}
}

// context returns the context halt ends, for work the stage does before
// its loop runs.
func (l *loop) context() context.Context {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.initLocked()
	return l.ctx
}

// run starts body unless the loop runs already or was halted.
func (l *loop) run(body func(ctx context.Context)) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.initLocked()
	if l.halted || l.done != nil {
		return
	}
	done := make(chan struct{})
	l.done = done
	ctx := l.ctx
	go func() {
		defer close(done)
		body(ctx)
	}()
}

func (l *loop) halt() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.initLocked()
	l.halted = true
	l.cancel()
}

func (l *loop) wait() {
	l.mu.Lock()
	done := l.done
	l.mu.Unlock()
	if done != nil {
		<-done
	}
}
