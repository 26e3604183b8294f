package redisstore_test

import (
	"testing"

	"github.com/evertask/evertask/store"
	"github.com/evertask/evertask/store/enginetest"
)

// BenchmarkEngineBurn runs the engine on the Redis store: producers
// dispatch b.N no-op tasks while the workers run them; the clock stops at
// the last completion. One op is one task.
//
//	go test -run '^$' -bench EngineBurn -benchtime 20000x -count 5 ./store/redisstore/
func BenchmarkEngineBurn(b *testing.B) {
	for _, level := range []store.AuditLevel{store.AuditNone, store.AuditFull} {
		b.Run("audit="+level.String(), func(b *testing.B) {
			enginetest.BenchmarkThroughput(b, newSetup(b).s, enginetest.BenchOpts{Audit: level})
		})
	}
}

// BenchmarkEngineLatency dispatches one task at a time and measures from
// Dispatch to the handler's start.
func BenchmarkEngineLatency(b *testing.B) {
	enginetest.BenchmarkLatency(b, newSetup(b).s)
}
