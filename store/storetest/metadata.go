package storetest

import (
	"time"

	"github.com/evertask/evertask/store"
)

// metadataChecks: Task.Metadata is a definition field every read returns
// whole, which the engine's trace propagation relies on (the trace context
// of a dispatch reaches the handler through it, on any node, after any
// restart).
func metadataChecks() []check {
	md := map[string]string{"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "tenant": "acme"}
	return []check{
		{"EveryReadReturnsIt", func(t tb, s store.Store) {
			task := newTask(1)
			task.Metadata = md
			plain := newTask(2)
			persist(t, s, task, plain)
			wantRow(t, s, "Get", task)
			wantRow(t, s, "Get without metadata", plain)
			page, err := s.List(t.Context(), store.Filter{Limit: 10})
			if err != nil {
				t.Fatalf("List: %v", err)
			}
			for _, got := range page.Tasks {
				if got.ID == task.ID {
					wantTask(t, "List", got, task)
				}
			}
			pending, err := s.RetrievePending(t.Context(), store.PendingParams{Limit: 10, Now: at(time.Second)})
			if err != nil {
				t.Fatalf("RetrievePending: %v", err)
			}
			found := false
			for _, got := range pending {
				if got.ID == task.ID {
					found = true
					wantTask(t, "RetrievePending", got, task)
				}
			}
			if !found {
				t.Errorf("RetrievePending did not return the row")
			}
		}},
		{"TransitionsKeepIt", func(t tb, s store.Store) {
			task := newTask(1)
			task.Metadata = md
			persist(t, s, task)
			transition(t, s, store.TransitionParams{ID: task.ID, To: store.StatusQueued, Now: at(time.Second)})
			transition(t, s, store.TransitionParams{ID: task.ID, To: store.StatusInProgress, Now: at(2 * time.Second)})
			if got := get(t, s, task.ID); !sameMetadata(got.Metadata, md) {
				t.Errorf("Metadata after transitions = %v, want %v", got.Metadata, md)
			}
		}},
		{"UpdateDefinitionReplacesAndClearsIt", func(t tb, s store.Store) {
			task := newTask(1)
			task.Metadata = md
			persist(t, s, task)
			upd := task.Clone()
			upd.Metadata = map[string]string{"only": "this"}
			if err := s.UpdateDefinition(t.Context(), upd); err != nil {
				t.Fatalf("UpdateDefinition: %v", err)
			}
			wantRow(t, s, "replaced", upd)
			upd.Metadata = map[string]string{} // empty is none
			if err := s.UpdateDefinition(t.Context(), upd); err != nil {
				t.Fatalf("UpdateDefinition: %v", err)
			}
			if got := get(t, s, task.ID); got.Metadata != nil {
				t.Errorf("Metadata after clearing = %#v, want nil", got.Metadata)
			}
		}},
		{"CallerKeepsItsMap", func(t tb, s store.Store) {
			task := newTask(1)
			task.Metadata = map[string]string{"a": "1"}
			persist(t, s, task)
			task.Metadata["a"] = "changed by the caller"
			got := get(t, s, task.ID)
			if got.Metadata["a"] != "1" {
				t.Fatalf("the store shares the caller's map: %v", got.Metadata)
			}
			got.Metadata["a"] = "changed by a reader"
			if again := get(t, s, task.ID); again.Metadata["a"] != "1" {
				t.Errorf("the store shares its map with readers: %v", again.Metadata)
			}
		}},
	}
}

func sameMetadata(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}
