package evertask_test

import (
	"context"
	"testing"

	"github.com/evertask/evertask"
	"github.com/evertask/evertask/store/memstore"
)

// Ending a subscription after Shutdown closed its channel is harmless, and
// a subscription made after Shutdown gets a closed channel (it used to
// panic with "close of closed channel" in the first case).
func TestSubscribeAroundShutdown(t *testing.T) {
	t.Parallel()
	eng, err := evertask.New(memstore.New(), nil)
	if err != nil {
		t.Fatal(err)
	}
	ch, unsubscribe := eng.Subscribe(1)
	if err := eng.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := eng.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, ok := <-ch; ok {
		t.Fatal("an event after Shutdown")
	}
	unsubscribe()
	unsubscribe()
	late, unsubscribeLate := eng.Subscribe(1)
	if _, ok := <-late; ok {
		t.Fatal("a subscription after Shutdown got an event")
	}
	unsubscribeLate()
}
