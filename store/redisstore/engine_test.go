package redisstore_test

import (
	"testing"

	"github.com/evertask/evertask/store"
	"github.com/evertask/evertask/store/enginetest"
)

// TestEngine runs the engine's behaviour suite (lifecycle, retries,
// recovery, recurring series, task keys, ...) on the Redis store.
func TestEngine(t *testing.T) {
	t.Parallel()
	enginetest.Run(t, func(t *testing.T) store.Store { return newSetup(t).s })
}
