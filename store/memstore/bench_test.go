package memstore_test

import (
	"testing"

	"github.com/evertask/evertask/store"
	"github.com/evertask/evertask/store/memstore"
	"github.com/evertask/evertask/store/storetest"
)

// BenchmarkLifecycle: go test -run '^$' -bench Lifecycle -benchtime 200000x -count 5 ./store/memstore/
func BenchmarkLifecycle(b *testing.B) {
	storetest.BenchmarkLifecycle(b, func(testing.TB) store.Store { return memstore.New() }, nil)
}
