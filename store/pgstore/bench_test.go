package pgstore_test

import (
	"testing"

	"github.com/evertask/evertask/store"
	"github.com/evertask/evertask/store/storetest"
)

// BenchmarkLifecycle measures persist, queued, in progress, completed per
// task at 10k existing rows, audit None and Full, single and batched:
//
//	go test -run '^$' -bench Lifecycle -benchtime 2000x -count 5 ./store/pgstore/
func BenchmarkLifecycle(b *testing.B) {
	storetest.BenchmarkLifecycle(b, func(tb testing.TB) store.Store { return newStore(tb) },
		&storetest.LifecycleOpts{Rows: []int{10_000}})
}
