package timerheap

import (
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/uuid"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type fired struct {
	mu  sync.Mutex
	got []string
	at  []time.Time
}

func (f *fired) fire(_ uuid.UUID, item string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.got = append(f.got, item)
	f.at = append(f.at, time.Now())
}

func (f *fired) items() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.got...)
}

func TestFiresInDueOrderAtTheirTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var f fired
		h := New(time.Now, f.fire)
		h.Start()
		defer h.Stop()
		start := time.Now()
		h.Schedule(uuid.New(), start.Add(3*time.Second), "c")
		h.Schedule(uuid.New(), start.Add(time.Second), "a")
		h.Schedule(uuid.New(), start.Add(2*time.Second), "b")
		time.Sleep(1500 * time.Millisecond)
		synctest.Wait()
		if got := f.items(); len(got) != 1 || got[0] != "a" {
			t.Fatalf("after 1.5s fired %v, want [a]", got)
		}
		time.Sleep(2 * time.Second)
		synctest.Wait()
		got := f.items()
		if len(got) != 3 || got[1] != "b" || got[2] != "c" {
			t.Fatalf("fired %v, want [a b c]", got)
		}
		for i, want := range []time.Duration{time.Second, 2 * time.Second, 3 * time.Second} {
			if d := f.at[i].Sub(start); d != want {
				t.Errorf("item %d fired after %v, want %v", i, d, want)
			}
		}
	})
}

func TestLatestRegistrationWins(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var f fired
		h := New(time.Now, f.fire)
		h.Start()
		defer h.Stop()
		id := uuid.New()
		for i := range 50 {
			h.Schedule(id, time.Now().Add(time.Duration(50-i)*time.Hour), "old")
		}
		h.Schedule(id, time.Now().Add(time.Second), "new")
		if h.Len() != 1 {
			t.Fatalf("heap holds %d entries for one id, want 1 (bug 53)", h.Len())
		}
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if got := f.items(); len(got) != 1 || got[0] != "new" {
			t.Fatalf("fired %v, want [new]", got)
		}
	})
}

func TestRemoveAndIdle(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var f fired
		h := New(time.Now, f.fire)
		h.Start()
		defer h.Stop()
		id := uuid.New()
		h.Schedule(id, time.Now().Add(time.Second), "x")
		if !h.Contains(id) || !h.Remove(id) || h.Remove(id) || h.Contains(id) {
			t.Fatal("Remove/Contains disagree")
		}
		time.Sleep(time.Hour) // an idle heap: the loop sleeps, nothing fires
		synctest.Wait()
		if got := f.items(); len(got) != 0 {
			t.Fatalf("fired %v after Remove", got)
		}
	})
}

func TestStopIsSafeTwiceAndBeforeStart(t *testing.T) {
	h := New(time.Now, func(uuid.UUID, int) {})
	h.Stop()
	h.Stop()
	if h.Schedule(uuid.New(), time.Now(), 1) {
		t.Error("Schedule after Stop reported true")
	}
	h2 := New(time.Now, func(uuid.UUID, int) {})
	h2.Start()
	h2.Start()
	h2.Stop()
	h2.Stop()
}

func TestConcurrentScheduleFromManyGoroutines(t *testing.T) {
	// 100+ concurrent Schedule calls must neither lose a wake-up nor panic
	// (bug 51 of the reference).
	synctest.Test(t, func(t *testing.T) {
		var f fired
		h := New(time.Now, f.fire)
		h.Start()
		defer h.Stop()
		var wg sync.WaitGroup
		for i := range 200 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				h.Schedule(uuid.New(), time.Now().Add(time.Duration(i%7)*time.Millisecond), "t")
			}()
		}
		wg.Wait()
		time.Sleep(10 * time.Millisecond)
		synctest.Wait()
		if got := len(f.items()); got != 200 {
			t.Fatalf("fired %d of 200", got)
		}
	})
}
