package evertask_test

import (
	"testing"

	"github.com/evertask/evertask/store"
	"github.com/evertask/evertask/store/enginetest"
	"github.com/evertask/evertask/store/memstore"
)

// pauserOnly is a store with pauses and without cluster mode: its engine
// runs alone, finds no work in the store, and parks the tasks of a paused
// queue in memory.
type pauserOnly struct {
	store.Store
	store.QueuePauser
}

func TestQueuePauseWithoutCluster(t *testing.T) {
	t.Parallel()
	enginetest.RunQueuePause(t, func(t *testing.T) store.Store {
		m := memstore.New()
		t.Cleanup(func() { _ = m.Close() })
		return pauserOnly{Store: m, QueuePauser: m}
	})
}
