package monitor_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/evertask/evertask/monitor"
	"github.com/evertask/evertask/store"
	"github.com/evertask/evertask/store/memstore"
)

// slowCounts is a store whose count per queue takes a while, like a scan
// of a big table, and counts its calls.
type slowCounts struct {
	*memstore.Store
	calls atomic.Int32
}

func (s *slowCounts) CountByQueue(ctx context.Context, p store.CountParams) (map[string]map[store.Status]int, error) {
	s.calls.Add(1)
	select {
	case <-time.After(300 * time.Millisecond):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return s.Store.CountByQueue(ctx, p)
}

// TestPreloadSparesTheFirstViewer: New starts the counts at once, so a
// first request that comes after they are done is served without a scan;
// with NoPreload that request pays for it.
func TestPreloadSparesTheFirstViewer(t *testing.T) {
	for _, noPreload := range []bool{false, true} {
		st := &slowCounts{Store: memstore.New()}
		h, err := monitor.New(&monitor.Config{Store: st, NoAuth: true, NoPreload: noPreload, CacheTTL: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(600 * time.Millisecond) // the viewer arrives a little later
		start := time.Now()
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/counts", nil))
		took := time.Since(start)
		if rec.Code != http.StatusOK {
			t.Fatalf("NoPreload=%v: /api/counts = %d %s", noPreload, rec.Code, rec.Body)
		}
		switch {
		case !noPreload && (took > 200*time.Millisecond || st.calls.Load() != 1):
			t.Errorf("with the preload the first request took %s and the store counted %d times; want no wait, one count", took, st.calls.Load())
		case noPreload && (took < 300*time.Millisecond || st.calls.Load() != 1):
			t.Errorf("NoPreload: the first request took %s with %d counts; want it to wait for the one count", took, st.calls.Load())
		}
	}
}
