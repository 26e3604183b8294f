package evertask

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// With peers, a lane keeps only its share of the store's write concurrency
// in flight: the calls that find it used wait and go out together in one
// batch, instead of each making its own call.
func TestGroupCommitSharesConcurrencyWithPeers(t *testing.T) {
	for _, tc := range []struct {
		peers           int32
		singles, batchd int // calls made alone, and calls that went in a batch
	}{
		{peers: 0, singles: 3, batchd: 0}, // 3 calls, 4 leaders: all alone
		{peers: 3, singles: 1, batchd: 2}, // 4 nodes share 4 leaders: one each
	} {
		var peers atomic.Int32
		peers.Store(tc.peers)
		release := make(chan struct{})
		var singles, batched atomic.Int32
		entered := make(chan struct{}, 3)
		g := groupCommit[int, bool]{
			maxLeaders: 4, peers: &peers,
			single: func(context.Context, int) (bool, error) {
				singles.Add(1)
				entered <- struct{}{}
				<-release
				return true, nil
			},
			batch: func(_ context.Context, ps []int) ([]bool, error) {
				batched.Add(int32(len(ps)))
				return make([]bool, len(ps)), nil
			},
		}
		var wg sync.WaitGroup
		for i := range 3 {
			wg.Go(func() { _, _ = g.do(context.Background(), i) })
		}
		// Wait until every call either entered single or queued.
		deadline := time.Now().Add(5 * time.Second)
		for {
			g.mu.Lock()
			n := g.leaders + len(g.pending)
			g.mu.Unlock()
			if n == 3 || time.Now().After(deadline) {
				break
			}
			time.Sleep(time.Millisecond)
		}
		close(release)
		wg.Wait()
		if int(singles.Load()) != tc.singles || int(batched.Load()) != tc.batchd {
			t.Errorf("peers %d: %d calls alone and %d in batches, want %d and %d",
				tc.peers, singles.Load(), batched.Load(), tc.singles, tc.batchd)
		}
	}
}
