package redisstore_test

import (
	"testing"

	"github.com/evertask/evertask/store"
	"github.com/evertask/evertask/store/storetest"
)

// BenchmarkLifecycle: go test -run '^$' -bench Lifecycle -benchtime 20000x -count 5 ./store/redisstore/
//
// At 10k rows only: a million-row fill through one shared Redis takes
// minutes on the 2-core test machine.
func BenchmarkLifecycle(b *testing.B) {
	storetest.BenchmarkLifecycle(b, func(tb testing.TB) store.Store {
		return newSetup(tb).s
	}, &storetest.LifecycleOpts{Rows: []int{10_000}})
}
