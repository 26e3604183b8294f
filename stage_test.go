package evertask

import (
	"context"
	"testing"
	"time"
)

// testStage is a stage whose loop runs body.
type testStage struct {
	loop
	body func(ctx context.Context)
}

func (s *testStage) start() { s.run(s.body) }

// A stage halted before it started never runs, and halting or waiting
// twice is safe.
func TestStageHaltBeforeStart(t *testing.T) {
	ran := false
	s := &testStage{body: func(context.Context) { ran = true }}
	s.halt()
	s.halt()
	s.start()
	s.wait()
	s.wait()
	if ran {
		t.Fatal("a halted stage ran its loop")
	}
	if s.context().Err() == nil {
		t.Fatal("the context of a halted stage has not ended")
	}
}

// stopStages halts every stage before it waits for any, so the stages stop
// together: a stage whose loop ends only once another one was halted does
// not hold it up.
func TestStopStagesHaltsAllFirst(t *testing.T) {
	second := &testStage{body: func(ctx context.Context) { <-ctx.Done() }}
	first := &testStage{body: func(ctx context.Context) {
		<-ctx.Done()
		<-second.context().Done()
	}}
	startStages([]stage{first, second})
	done := make(chan struct{})
	go func() {
		stopStages([]stage{first, second})
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("stopStages waited for the first stage before halting the second")
	}
	first.start() // a stopped stage does not run again
	first.wait()
}
