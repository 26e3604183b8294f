package sqlitestore_test

import (
	"testing"

	"github.com/evertask/evertask/store/storetest"
)

// BenchmarkLifecycle: go test -run '^$' -bench Lifecycle -benchtime 20000x ./store/sqlitestore/
func BenchmarkLifecycle(b *testing.B) {
	storetest.BenchmarkLifecycle(b, newStore, &storetest.LifecycleOpts{Rows: []int{10_000, 1_000_000}})
}
