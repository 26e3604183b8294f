package mysqlstore_test

import (
	"testing"

	"github.com/evertask/evertask/store"
	"github.com/evertask/evertask/store/enginetest"
)

// TestEngine runs the engine's behaviour suite (lifecycle, retries,
// recovery, recurring series, task keys, cluster, ...) on the MySQL store,
// each test in its own database.
func TestEngine(t *testing.T) {
	t.Parallel()
	enginetest.Run(t, func(t *testing.T) store.Store { return newStore(t) })
}
