package keylock

import (
	"strconv"
	"sync"
	"testing"
)

func TestSerializesPerKeyAndPrunes(t *testing.T) {
	var m Map
	var wg sync.WaitGroup
	counters := map[string]int{}
	var mu sync.Mutex // guards the map itself, not the increments
	for i := range 400 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			key := strconv.Itoa(i % 4)
			unlock := m.Lock(key)
			mu.Lock()
			v := counters[key]
			mu.Unlock()
			v++ // a lost update here would show without the key lock
			mu.Lock()
			counters[key] = v
			mu.Unlock()
			unlock()
		}()
	}
	wg.Wait()
	for k, v := range counters {
		if v != 100 {
			t.Errorf("key %s: %d increments, want 100", k, v)
		}
	}
	if n := m.Len(); n != 0 {
		t.Errorf("%d keys left in the map after every holder left, want 0", n)
	}
}
