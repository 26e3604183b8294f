package evertask

import (
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
)

func idMillis(id uuid.UUID) int64 {
	sec, nsec := id.Time().UnixTime()
	return sec*1000 + nsec/1e6
}

func TestNewID(t *testing.T) {
	now := time.Now()
	prev := newID(now)
	// An earlier burst (over 4,096 ids in a millisecond) may have run the
	// counter ahead of the clock; never behind it.
	base := idMillis(prev)
	if base < now.UnixMilli() {
		t.Fatalf("id %s is %d ms behind its creation time", prev, now.UnixMilli()-base)
	}
	for i := range 10_000 {
		id := newID(now) // one millisecond: the counter orders them
		if id.Version() != 7 || id.Variant() != uuid.RFC4122 {
			t.Fatalf("id %s: version %d, variant %v", id, id.Version(), id.Variant())
		}
		// The counter carries into the time every 4,096 ids.
		if ahead := idMillis(id) - base; ahead < 0 || ahead > 3 {
			t.Fatalf("id %d (%s) is %d ms past the first", i, id, ahead)
		}
		if id.String() <= prev.String() {
			t.Fatalf("ids out of order: %s after %s", id, prev)
		}
		prev = id
	}
}

func TestNewIDConcurrentUnique(t *testing.T) {
	var mu sync.Mutex
	seen := map[uuid.UUID]bool{}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			ids := make([]uuid.UUID, 5000)
			for i := range ids {
				ids[i] = newID(time.Now())
			}
			mu.Lock()
			defer mu.Unlock()
			for _, id := range ids {
				if seen[id] {
					t.Errorf("duplicate id %s", id)
				}
				seen[id] = true
			}
		})
	}
	wg.Wait()
}
