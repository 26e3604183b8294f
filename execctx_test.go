package evertask

import (
	"context"
	"errors"
	"runtime"
	"testing"
	"time"
)

func TestExecutionContext(t *testing.T) {
	x := &execution{}
	if x.Err() != nil {
		t.Fatal("a new execution is cancelled")
	}
	done := x.Done()
	fired := make(chan struct{})
	stop := x.AfterFunc(func() { close(fired) })
	stopped := x.AfterFunc(func() { t.Error("a stopped AfterFunc ran") })
	if !stopped() || stopped() {
		t.Error("stop reports wrongly")
	}
	child, cancelChild := context.WithTimeout(x, time.Hour)
	defer cancelChild()

	x.cancel()
	x.cancel() // twice is fine
	select {
	case <-done:
	case <-time.After(time.Second):
		t.Fatal("Done did not close")
	}
	<-fired
	if stop() {
		t.Error("stop after firing reported true")
	}
	select {
	case <-child.Done():
	case <-time.After(time.Second):
		t.Fatal("a child context was not cancelled")
	}
	if !errors.Is(x.Err(), context.Canceled) || !errors.Is(child.Err(), context.Canceled) {
		t.Errorf("errors: %v, %v", x.Err(), child.Err())
	}
	select {
	case <-x.Done(): // Done asked after the cancel is closed too
	default:
		t.Error("Done after cancel is open")
	}
	late := make(chan struct{})
	x.AfterFunc(func() { close(late) })
	<-late
}

func TestExecutionContextChildNeedsNoGoroutine(t *testing.T) {
	x := &execution{}
	before := runtime.NumGoroutine()
	var cancels []context.CancelFunc
	for range 100 {
		_, c := context.WithTimeout(x, time.Hour)
		cancels = append(cancels, c)
	}
	if after := runtime.NumGoroutine(); after > before+5 {
		t.Errorf("100 child contexts started %d goroutines", after-before)
	}
	for _, c := range cancels {
		c()
	}
	if n := len(x.ctx.afters); n != 0 {
		t.Errorf("%d callbacks left after the children were cancelled", n)
	}
}
