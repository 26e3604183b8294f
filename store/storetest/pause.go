package storetest

import (
	"errors"
	"reflect"
	"sync"
	"time"

	"github.com/evertask/evertask/store"
)

func pauseChecks() []check {
	pauser := func(s store.Store) store.QueuePauser { return s.(store.QueuePauser) }
	list := func(t tb, s store.Store) []store.QueuePause {
		t.Helper()
		got, err := pauser(s).PausedQueues(t.Context())
		if err != nil {
			t.Fatalf("PausedQueues: %v", err)
		}
		return got
	}
	return []check{
		{"NothingPausedAtStart", func(t tb, s store.Store) {
			if got := list(t, s); len(got) != 0 {
				t.Errorf("PausedQueues of a new store = %v, want none", got)
			}
		}},
		{"PauseResumeOrderedByName", func(t tb, s store.Store) {
			p, ctx := pauser(s), t.Context()
			if err := p.PauseQueue(ctx, "mail", at(time.Second).In(elsewhere)); err != nil {
				t.Fatalf("PauseQueue(mail): %v", err)
			}
			if err := p.PauseQueue(ctx, "billing", at(2*time.Second+1)); err != nil {
				t.Fatalf("PauseQueue(billing): %v", err)
			}
			want := []store.QueuePause{
				{Queue: "billing", PausedAt: store.NormalizeTime(at(2*time.Second + 1))},
				{Queue: "mail", PausedAt: store.NormalizeTime(at(time.Second))},
			}
			if got := list(t, s); !reflect.DeepEqual(got, want) {
				t.Errorf("PausedQueues = %v, want %v (ordered by name, times in UTC at microseconds)", got, want)
			}
			// Pausing again keeps the first time.
			if err := p.PauseQueue(ctx, "mail", at(time.Hour)); err != nil {
				t.Fatalf("PauseQueue(mail) again: %v", err)
			}
			if got := list(t, s); !reflect.DeepEqual(got, want) {
				t.Errorf("after a second pause of mail, PausedQueues = %v, want %v (the first PausedAt kept)", got, want)
			}
			if err := p.ResumeQueue(ctx, "mail"); err != nil {
				t.Fatalf("ResumeQueue(mail): %v", err)
			}
			if err := p.ResumeQueue(ctx, "never-paused"); err != nil {
				t.Errorf("ResumeQueue of a queue that is not paused = %v, want nil (a no-op)", err)
			}
			if got := list(t, s); !reflect.DeepEqual(got, want[:1]) {
				t.Errorf("after resuming mail, PausedQueues = %v, want %v", got, want[:1])
			}
			// A resumed queue paused again gets the new time.
			if err := p.PauseQueue(ctx, "mail", at(3*time.Second)); err != nil {
				t.Fatalf("PauseQueue(mail) after resume: %v", err)
			}
			want[1].PausedAt = at(3 * time.Second)
			if got := list(t, s); !reflect.DeepEqual(got, want) {
				t.Errorf("after pausing mail again, PausedQueues = %v, want %v", got, want)
			}
		}},
		{"EmptyNameIsInvalid", func(t tb, s store.Store) {
			p, ctx := pauser(s), t.Context()
			if err := p.PauseQueue(ctx, "", at(0)); !errors.Is(err, store.ErrInvalid) {
				t.Errorf("PauseQueue(\"\") = %v, want ErrInvalid", err)
			}
			if err := p.ResumeQueue(ctx, ""); !errors.Is(err, store.ErrInvalid) {
				t.Errorf("ResumeQueue(\"\") = %v, want ErrInvalid", err)
			}
			if got := list(t, s); len(got) != 0 {
				t.Errorf("after rejected calls, PausedQueues = %v, want none", got)
			}
		}},
		{"NamesKeptExactly", func(t tb, s store.Store) {
			// Separators of key-value stores, quotes, patterns, case and
			// non-ASCII text are names like any other.
			names := []string{"a:b", "a", "A", "it's", "50%_*", "{tag}", "Zürich ☃", "q\nx"}
			p, ctx := pauser(s), t.Context()
			for i, n := range names {
				if err := p.PauseQueue(ctx, n, at(time.Duration(i)*time.Second)); err != nil {
					t.Fatalf("PauseQueue(%q): %v", n, err)
				}
			}
			got := list(t, s)
			if len(got) != len(names) {
				t.Fatalf("PausedQueues = %v, want the %d names paused", got, len(names))
			}
			seen := map[string]bool{}
			for i, g := range got {
				seen[g.Queue] = true
				if i > 0 && got[i-1].Queue >= g.Queue {
					t.Errorf("PausedQueues not ordered by name: %q before %q", got[i-1].Queue, g.Queue)
				}
			}
			for _, n := range names {
				if !seen[n] {
					t.Errorf("paused queue %q missing from %v", n, got)
				}
			}
			if err := p.ResumeQueue(ctx, "a"); err != nil {
				t.Fatalf("ResumeQueue(a): %v", err)
			}
			for _, g := range list(t, s) {
				if g.Queue == "a" {
					t.Errorf("queue a still paused after its resume")
				}
			}
			if n := len(list(t, s)); n != len(names)-1 {
				t.Errorf("resuming a resumed %d queues, want 1 (a:b, A and a are different names)", len(names)-n)
			}
		}},
		{"ConcurrentPausesOfOneQueue", func(t tb, s store.Store) {
			p, ctx := pauser(s), t.Context()
			var wg sync.WaitGroup
			errs := make([]error, 8)
			for i := range errs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					errs[i] = p.PauseQueue(ctx, "hot", at(time.Duration(i)*time.Second))
				}()
			}
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Errorf("PauseQueue %d: %v", i, err)
				}
			}
			got := list(t, s)
			if len(got) != 1 || got[0].Queue != "hot" {
				t.Fatalf("PausedQueues = %v, want hot once", got)
			}
			ok := false
			for i := range errs {
				ok = ok || got[0].PausedAt.Equal(at(time.Duration(i)*time.Second))
			}
			if !ok {
				t.Errorf("PausedAt %v is none of the times paused at", got[0].PausedAt)
			}
		}},
		{"TasksUntouched", func(t tb, s store.Store) {
			// The pause is the engine's to honour: the store keeps and
			// hands out the queue's rows as before.
			ctx := t.Context()
			task := newTask(1)
			task.Queue = "mail"
			if err := s.Persist(ctx, task); err != nil {
				t.Fatalf("Persist: %v", err)
			}
			if err := pauser(s).PauseQueue(ctx, "mail", at(time.Second)); err != nil {
				t.Fatalf("PauseQueue: %v", err)
			}
			got, err := s.Get(ctx, task.ID)
			if err != nil {
				t.Fatalf("Get: %v", err)
			}
			if !reflect.DeepEqual(got, task.Normalize()) {
				t.Errorf("row after a pause of its queue = %+v, want %+v", got, task.Normalize())
			}
			if err := s.Remove(ctx, task.ID); err != nil {
				t.Fatalf("Remove: %v", err)
			}
			if got := list(t, s); len(got) != 1 {
				t.Errorf("PausedQueues after the queue's last task went = %v, want mail still paused", got)
			}
		}},
	}
}
