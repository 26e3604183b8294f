package storetest

import (
	"errors"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/evertask/evertask/store"
	"github.com/google/uuid"
)

// fullTask sets every field of the record to a non-zero value, times in a
// non-UTC location with nanoseconds a store must drop.
func fullTask(n int) *store.Task {
	return &store.Task{
		ID:               tid(n),
		CreatedAt:        time.Date(2026, 1, 2, 8, 34, 5, 123456789, elsewhere),
		Kind:             "storetest.Full",
		Payload:          []byte(`{"to":"ada@example.com","n":1}`),
		Handler:          "storetest.FullHandler",
		Queue:            "mail",
		Key:              "full-key",
		Metadata:         map[string]string{"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "é ñ": "quote \" backslash \\ nul-free"},
		Status:           store.StatusServiceStopped,
		AuditLevel:       store.AuditErrorsOnly,
		ScheduledAt:      time.Date(2026, 1, 3, 0, 0, 0, 999, elsewhere),
		LastExecutionAt:  time.Date(2026, 1, 2, 9, 0, 0, 1001, elsewhere),
		ExecutionTime:    1500*time.Millisecond + 1234*time.Nanosecond,
		Error:            "boom: every attempt failed",
		Recurring:        true,
		Schedule:         []byte(`{"cron":"*/5 * * * *"}`),
		ScheduleInfo:     "every 5 minute(s)",
		RunCount:         7,
		MaxRuns:          10,
		RunUntil:         time.Date(2027, 1, 1, 0, 0, 0, 5, elsewhere),
		NextRunAt:        time.Date(2026, 1, 2, 9, 5, 0, 0, elsewhere),
		RecoveryFailures: 2,
		Owner:            "node-1",
		LeaseUntil:       time.Date(2026, 1, 2, 9, 1, 0, 777777777, elsewhere),
	}
}

func persistChecks() []check {
	return []check{
		{"RoundTripsEveryField", func(t tb, s store.Store) {
			want := fullTask(1)
			persist(t, s, want)
			wantRow(t, s, "Get", want)
			got, err := s.GetByKey(t.Context(), want.Key)
			if err != nil {
				t.Fatalf("GetByKey(%q): %v", want.Key, err)
			}
			wantTask(t, "GetByKey", got, want)
		}},
		{"ZeroTimesStayZero", func(t tb, s store.Store) {
			want := newTask(1) // no scheduled, last execution, run until, next run or lease
			persist(t, s, want)
			wantRow(t, s, "Get", want)
		}},
		{"WritesNoAudit", func(t tb, s store.Store) {
			task := fullTask(1)
			persist(t, s, task)
			if a := statusAudits(t, s, task.ID); len(a) != 0 {
				t.Errorf("Persist wrote status audits: %v", a)
			}
			if a := runsAudits(t, s, task.ID); len(a) != 0 {
				t.Errorf("Persist wrote runs audits: %v", a)
			}
		}},
		{"ExistingIDIsRejected", func(t tb, s store.Store) {
			// Persist writes a new row: overwriting an existing one would be
			// a lost update. Which error is not specified.
			first := newTask(1)
			first.Key = "first"
			persist(t, s, first)
			transition(t, s, store.TransitionParams{ID: first.ID, To: store.StatusQueued, Now: base})
			again := newTask(1)
			again.Kind = "storetest.Other"
			if err := s.Persist(t.Context(), again); err == nil {
				t.Errorf("Persist of an id that exists succeeded")
			} else {
				t.Logf("Persist of an existing id: %v", err)
			}
			want := first.Clone()
			want.Status = store.StatusQueued
			wantRow(t, s, "the existing row", want)
			wantRowCount(t, s, 1)
			if len(statusAudits(t, s, first.ID)) != 1 {
				t.Errorf("Persist of an existing id touched its audits")
			}
		}},
		{"TimesComeBackUTCAtMicroseconds", func(t tb, s store.Store) {
			want := newTask(1)
			want.CreatedAt = time.Date(2026, 6, 30, 23, 59, 59, 999999999, elsewhere)
			want.ScheduledAt = time.Date(1999, 12, 31, 23, 59, 59, 1, elsewhere)
			want.NextRunAt = time.Date(2100, 1, 1, 0, 0, 0, 500, time.UTC)
			// Before 1970 the microseconds since the epoch are negative: a
			// store that truncates them toward zero rounds up, not down.
			want.LastExecutionAt = time.Date(1969, 7, 20, 20, 17, 40, 123456789, elsewhere)
			persist(t, s, want)
			got := get(t, s, want.ID)
			wantTask(t, "Get", got, want)
			for name, tm := range map[string]time.Time{"CreatedAt": got.CreatedAt, "ScheduledAt": got.ScheduledAt, "NextRunAt": got.NextRunAt, "LastExecutionAt": got.LastExecutionAt} {
				if tm.Location() != time.UTC {
					t.Errorf("%s comes back in %s, want UTC", name, tm.Location())
				}
			}
		}},
		{"LargePayload", func(t tb, s store.Store) {
			want := newTask(1)
			// 1 MiB of JSON with multi-byte characters, so a store that
			// counts runes or truncates text is caught.
			body := strings.Repeat("ä€𝄞x", (1<<20)/10)
			want.Payload = []byte(`"` + body + `"`)
			persist(t, s, want)
			wantRow(t, s, "Get", want)
		}},
		{"UnicodeKeyAndPayload", func(t tb, s store.Store) {
			want := newTask(1)
			want.Key = "ключ-🔑-鍵-ǅ"
			want.Kind = "storetest.Ünïcödé"
			// \u0000 is valid JSON that PostgreSQL's jsonb refuses: payloads
			// are bytes, kept exactly.
			want.Payload = []byte(`{"msg":"こんにちは 🌍","q":"\"quoted\" \\ back","nul":"\u0000"}`)
			want.Error = "ошибка: 💥"
			persist(t, s, want)
			got, err := s.GetByKey(t.Context(), want.Key)
			if err != nil {
				t.Fatalf("GetByKey(%q): %v", want.Key, err)
			}
			wantTask(t, "GetByKey", got, want)
			// A key of exactly MaxKeyLength bytes of multi-byte runes is valid.
			long := newTask(2)
			long.Key = strings.Repeat("é", store.MaxKeyLength/2)
			persist(t, s, long)
			got, err = s.GetByKey(t.Context(), long.Key)
			if err != nil {
				t.Fatalf("GetByKey(200-byte key): %v", err)
			}
			wantTask(t, "GetByKey(200-byte key)", got, long)
		}},
		{"ReturnsCopies", func(t tb, s store.Store) {
			task := fullTask(1)
			want := task.Clone()
			persist(t, s, task)
			// The caller may reuse what it persisted...
			task.Payload[0] = 'X'
			task.Schedule[0] = 'X'
			task.Status = store.StatusFailed
			// ...and what it read.
			got := get(t, s, want.ID)
			got.Payload[0] = 'Y'
			got.Schedule[0] = 'Y'
			got.Kind = "changed"
			byKey, err := s.GetByKey(t.Context(), want.Key)
			if err != nil {
				t.Fatalf("GetByKey: %v", err)
			}
			byKey.Payload[1] = 'Z'
			page, err := s.List(t.Context(), store.Filter{})
			if err != nil {
				t.Fatalf("List: %v", err)
			}
			for _, row := range page.Tasks {
				row.Payload[2] = 'W'
			}
			wantRow(t, s, "Get after mutating returned values", want)
		}},
		{"DuplicateKeyWritesNothing", func(t tb, s store.Store) {
			first := newTask(1)
			first.Key = "dup"
			persist(t, s, first)
			second := newTask(2)
			second.Key = "dup"
			wantErr(t, "Persist of a held key", s.Persist(t.Context(), second), store.ErrDuplicateKey)
			_, err := s.Get(t.Context(), second.ID)
			wantErr(t, "Get of the rejected row", err, store.ErrNotFound)
			wantRowCount(t, s, 1)
			wantRow(t, s, "the holder", first)
		}},
		{"KeysAreExactStrings", func(t tb, s store.Store) {
			// Keys differing in case, trailing space or normalization form
			// are different keys (SQL collations must not fold them).
			keys := []string{"Key", "key", "KEY", "key ", "café", "cafe\u0301"}
			var rows []*store.Task
			for i, k := range keys {
				task := newTask(i + 1)
				task.Key = k
				rows = append(rows, task)
				if err := s.Persist(t.Context(), task); err != nil {
					t.Errorf("Persist(key %q) after %q: %v", k, keys[:i], err)
				}
			}
			for i, k := range keys {
				got, err := s.GetByKey(t.Context(), k)
				if err != nil || got.ID != rows[i].ID {
					t.Errorf("GetByKey(%q) = %v, %v; want row %s", k, got, err, rows[i].ID)
				}
			}
			for _, k := range []string{"kEy", "Ke", "café ", "cafe"} {
				if got, err := s.GetByKey(t.Context(), k); !errors.Is(err, store.ErrNotFound) {
					t.Errorf("GetByKey(%q) = %v, %v; want ErrNotFound", k, got, err)
				}
			}
		}},
		{"EmptyKeyIsNoKey", func(t tb, s store.Store) {
			persist(t, s, newTask(1), newTask(2), newTask(3))
			wantRowCount(t, s, 3)
			_, err := s.GetByKey(t.Context(), "")
			wantErr(t, `GetByKey("")`, err, store.ErrNotFound)
		}},
		{"UnknownIDOrKeyIsNotFound", func(t tb, s store.Store) {
			persist(t, s, newTask(1))
			_, err := s.Get(t.Context(), tid(99))
			wantErr(t, "Get(unknown)", err, store.ErrNotFound)
			_, err = s.GetByKey(t.Context(), "missing")
			wantErr(t, "GetByKey(unknown)", err, store.ErrNotFound)
		}},
		{"ConcurrentSameKeyHasExactlyOneWinner", func(t tb, s store.Store) {
			const n = 32
			errs := make([]error, n)
			start := make(chan struct{})
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() {
					task := newTask(i + 1)
					task.Key = "race"
					<-start
					errs[i] = s.Persist(t.Context(), task)
				})
			}
			close(start)
			wg.Wait()
			winner := -1
			for i, err := range errs {
				switch {
				case err == nil && winner >= 0:
					t.Errorf("Persist %d and %d both succeeded with the same key", winner, i)
				case err == nil:
					winner = i
				case !errors.Is(err, store.ErrDuplicateKey):
					t.Errorf("Persist %d: err = %v, want ErrDuplicateKey", i, err)
				}
			}
			if winner < 0 {
				t.Fatalf("no Persist succeeded")
			}
			wantRowCount(t, s, 1)
			got, err := s.GetByKey(t.Context(), "race")
			if err != nil {
				t.Fatalf("GetByKey: %v", err)
			}
			if got.ID != tid(winner+1) {
				t.Errorf("GetByKey returns %s, want the winner %s", got.ID, tid(winner+1))
			}
		}},
	}
}

// withDefinition returns row with the fields named by store.DefinitionFields
// taken from def, built by reflection from that list so the suite checks the
// documented set, not a copy of it.
func withDefinition(t tb, row, def *store.Task) *store.Task {
	t.Helper()
	out := row.Clone()
	dst, src := reflect.ValueOf(out).Elem(), reflect.ValueOf(def.Clone()).Elem()
	for _, name := range strings.Fields(store.DefinitionFields) {
		f := dst.FieldByName(name)
		if !f.IsValid() {
			t.Fatalf("store.DefinitionFields names %q, which is not a field of store.Task", name)
		}
		f.Set(src.FieldByName(name))
	}
	return out
}

func updateDefinitionChecks() []check {
	return []check{
		{"ChangesExactlyTheDefinitionFields", func(t tb, s store.Store) {
			old := fullTask(1)
			old.Status = store.StatusInProgress
			old.AuditLevel = store.AuditFull
			persist(t, s, old)
			transition(t, s, store.TransitionParams{ID: old.ID, To: store.StatusQueued, Now: at(time.Second)})
			if err := s.SaveLogs(t.Context(), old.ID, []store.ExecutionLog{{ID: tid(500), TaskID: old.ID, At: at(time.Second), Level: "Information", Message: "kept"}}); err != nil {
				t.Fatalf("SaveLogs: %v", err)
			}
			before := get(t, s, old.ID)

			// Every field differs, definition or not; only the definition
			// fields may land.
			upd := &store.Task{
				ID:               old.ID,
				CreatedAt:        at(time.Hour),
				Kind:             "storetest.Changed",
				Payload:          []byte(`{"changed":true}`),
				Handler:          "storetest.ChangedHandler",
				Queue:            "other",
				Key:              "new-key",
				Metadata:         map[string]string{"changed": "yes"},
				Status:           store.StatusCancelled,
				AuditLevel:       store.AuditNone,
				ScheduledAt:      time.Date(2026, 2, 1, 0, 0, 0, 1, elsewhere),
				LastExecutionAt:  at(2 * time.Hour),
				ExecutionTime:    time.Minute,
				Error:            "changed error",
				Recurring:        false,
				Schedule:         []byte(`{"cron":"0 0 * * *"}`),
				ScheduleInfo:     "daily",
				RunCount:         1,
				MaxRuns:          3,
				RunUntil:         time.Time{},
				NextRunAt:        at(3 * time.Hour),
				RecoveryFailures: 9,
				Owner:            "node-2",
				LeaseUntil:       at(4 * time.Hour),
			}
			if err := s.UpdateDefinition(t.Context(), upd); err != nil {
				t.Fatalf("UpdateDefinition: %v", err)
			}
			wantRow(t, s, "after UpdateDefinition", withDefinition(t, before, upd))
			if got, err := s.GetByKey(t.Context(), "new-key"); err != nil || got.ID != old.ID {
				t.Errorf("GetByKey(new key) = %v, %v; want the row", got, err)
			}
			if _, err := s.GetByKey(t.Context(), old.Key); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("GetByKey(old key) err = %v, want ErrNotFound: the old key must be released", err)
			}
			wantStatusAudits(t, s, "audits kept", old.ID, []store.StatusAudit{{At: at(time.Second), Status: store.StatusQueued}})
			if l := logsOf(t, s, old.ID); len(l) != 1 {
				t.Errorf("logs after UpdateDefinition: %d, want 1", len(l))
			}
			// The released key is free for another row.
			other := newTask(2)
			other.Key = old.Key
			persist(t, s, other)
		}},
		{"KeyHeldByAnotherRowIsDuplicate", func(t tb, s store.Store) {
			a, b := newTask(1), newTask(2)
			a.Key, b.Key = "a", "b"
			persist(t, s, a, b)
			upd := b.Clone()
			upd.Key = "a"
			upd.Kind = "storetest.Changed"
			wantErr(t, "UpdateDefinition to a held key", s.UpdateDefinition(t.Context(), upd), store.ErrDuplicateKey)
			wantRow(t, s, "the row that asked", b)
			wantRow(t, s, "the holder", a)
		}},
		{"SameKeyAndRemovingTheKey", func(t tb, s store.Store) {
			a := newTask(1)
			a.Key = "mine"
			persist(t, s, a)
			upd := a.Clone()
			upd.Payload = []byte(`{"v":2}`)
			if err := s.UpdateDefinition(t.Context(), upd); err != nil {
				t.Fatalf("UpdateDefinition keeping its own key: %v", err)
			}
			wantRow(t, s, "same key", upd)
			upd.Key = ""
			if err := s.UpdateDefinition(t.Context(), upd); err != nil {
				t.Fatalf("UpdateDefinition clearing the key: %v", err)
			}
			wantRow(t, s, "cleared key", upd)
			if _, err := s.GetByKey(t.Context(), "mine"); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("GetByKey(cleared key) err = %v, want ErrNotFound", err)
			}
		}},
		{"UnknownRowIsNotFound", func(t tb, s store.Store) {
			wantErr(t, "UpdateDefinition(unknown)", s.UpdateDefinition(t.Context(), newTask(1)), store.ErrNotFound)
			wantRowCount(t, s, 0)
		}},
	}
}

func removeChecks() []check {
	return []check{
		{"CascadesAuditsAndLogs", func(t tb, s store.Store) {
			task := recurringTask(1)
			task.Key = "removed"
			persist(t, s, task)
			keep := recurringTask(2)
			persist(t, s, keep)
			for _, id := range []uuid.UUID{task.ID, keep.ID} {
				transition(t, s, store.TransitionParams{ID: id, To: store.StatusInProgress, Now: at(time.Second)})
				if err := s.UpdateCurrentRun(t.Context(), store.RunParams{ID: id, Now: at(2 * time.Second), NextRunAt: at(time.Hour)}); err != nil {
					t.Fatalf("UpdateCurrentRun: %v", err)
				}
				if err := s.SaveLogs(t.Context(), id, []store.ExecutionLog{{ID: tid(100), TaskID: id, At: at(time.Second), Level: "Information", Message: "x"}}); err != nil {
					t.Fatalf("SaveLogs: %v", err)
				}
			}
			if err := s.Remove(t.Context(), task.ID); err != nil {
				t.Fatalf("Remove: %v", err)
			}
			_, err := s.Get(t.Context(), task.ID)
			wantErr(t, "Get after Remove", err, store.ErrNotFound)
			_, err = s.GetByKey(t.Context(), "removed")
			wantErr(t, "GetByKey after Remove", err, store.ErrNotFound)
			// A new row with the same id and key must start without the old
			// row's history: that proves the cascade whatever the history
			// reads return for a missing task.
			again := newTask(1)
			again.Key = "removed"
			persist(t, s, again)
			if a := statusAudits(t, s, again.ID); len(a) != 0 {
				t.Errorf("status audits survived Remove: %v", a)
			}
			if a := runsAudits(t, s, again.ID); len(a) != 0 {
				t.Errorf("runs audits survived Remove: %v", a)
			}
			if l := logsOf(t, s, again.ID); len(l) != 0 {
				t.Errorf("logs survived Remove: %v", l)
			}
			// The other row keeps everything.
			if len(statusAudits(t, s, keep.ID)) != 1 || len(runsAudits(t, s, keep.ID)) != 1 || len(logsOf(t, s, keep.ID)) != 1 {
				t.Errorf("Remove touched the history of another row")
			}
		}},
		{"UnknownRowIsNotFound", func(t tb, s store.Store) {
			persist(t, s, newTask(1))
			wantErr(t, "Remove(unknown)", s.Remove(t.Context(), tid(2)), store.ErrNotFound)
			wantRowCount(t, s, 1)
		}},
	}
}

// invalidTasks are tasks Persist must reject with ErrInvalid.
func invalidTasks() map[string]*store.Task {
	mod := func(f func(*store.Task)) *store.Task { t := newTask(1); f(t); return t }
	return map[string]*store.Task{
		"nil task":              nil,
		"zero id":               mod(func(t *store.Task) { t.ID = uuid.Nil }),
		"empty kind":            mod(func(t *store.Task) { t.Kind = "" }),
		"key over 200 bytes":    mod(func(t *store.Task) { t.Key = strings.Repeat("k", store.MaxKeyLength+1) }),
		"key over 200 in bytes": mod(func(t *store.Task) { t.Key = strings.Repeat("é", store.MaxKeyLength/2) + "k" }),
		"key not UTF-8":         mod(func(t *store.Task) { t.Key = "bad\xff" }),
		"unknown status":        mod(func(t *store.Task) { t.Status = "Bogus" }),
		"empty status":          mod(func(t *store.Task) { t.Status = "" }),
		"unknown audit level":   mod(func(t *store.Task) { t.AuditLevel = 7 }),
		"negative audit level":  mod(func(t *store.Task) { t.AuditLevel = -1 }),
		"negative run count":    mod(func(t *store.Task) { t.RunCount = -1 }),
		"negative max runs":     mod(func(t *store.Task) { t.MaxRuns = -1 }),
		"no creation time":      mod(func(t *store.Task) { t.CreatedAt = time.Time{} }),
		"metadata empty key":    mod(func(t *store.Task) { t.Metadata = map[string]string{"": "v"} }),
		"metadata not UTF-8":    mod(func(t *store.Task) { t.Metadata = map[string]string{"k": "bad\xff"} }),
		"metadata too large": mod(func(t *store.Task) {
			t.Metadata = map[string]string{"k": strings.Repeat("v", store.MaxMetadataBytes)}
		}),
	}
}

func invalidChecks() []check {
	return []check{
		{"PersistRejectsBadTasks", func(t tb, s store.Store) {
			for name, task := range invalidTasks() {
				wantErr(t, "Persist("+name+")", s.Persist(t.Context(), task), store.ErrInvalid)
			}
			wantRowCount(t, s, 0)
		}},
		{"UpdateDefinitionRejectsBadTasks", func(t tb, s store.Store) {
			orig := newTask(1)
			persist(t, s, orig)
			for name, task := range invalidTasks() {
				switch name {
				case "zero id", "no creation time", "unknown status", "empty status", "negative run count":
					// The id addresses the row; the others are not definition
					// fields, so UpdateDefinition never reads them.
					continue
				}
				wantErr(t, "UpdateDefinition("+name+")", s.UpdateDefinition(t.Context(), task), store.ErrInvalid)
			}
			wantRow(t, s, "after rejected updates", orig)
		}},
		{"TransitionRejectsBadParams", func(t tb, s store.Store) {
			orig := newTask(1)
			persist(t, s, orig)
			ok := store.TransitionParams{ID: orig.ID, To: store.StatusQueued, Now: base}
			bad := map[string]func(p *store.TransitionParams){
				"zero id":             func(p *store.TransitionParams) { p.ID = uuid.Nil },
				"unknown target":      func(p *store.TransitionParams) { p.To = "Bogus" },
				"empty target":        func(p *store.TransitionParams) { p.To = "" },
				"unknown from":        func(p *store.TransitionParams) { p.From = []store.Status{store.StatusWaitingQueue, "Bogus"} },
				"unknown audit level": func(p *store.TransitionParams) { p.AuditLevel = 9 },
				"zero time":           func(p *store.TransitionParams) { p.Now = time.Time{} },
			}
			for name, f := range bad {
				p := ok
				f(&p)
				applied, err := s.Transition(t.Context(), p)
				wantErr(t, "Transition("+name+")", err, store.ErrInvalid)
				if applied {
					t.Errorf("Transition(%s) reports applied", name)
				}
			}
			wantRow(t, s, "after rejected transitions", orig)
			if a := statusAudits(t, s, orig.ID); len(a) != 0 {
				t.Errorf("rejected transitions wrote audits: %v", a)
			}
		}},
		{"RunParamsRejected", func(t tb, s store.Store) {
			orig := recurringTask(1)
			persist(t, s, orig)
			for name, p := range map[string]store.RunParams{
				"zero id":             {Now: base},
				"zero time":           {ID: orig.ID},
				"unknown audit level": {ID: orig.ID, Now: base, AuditLevel: 4},
			} {
				wantErr(t, "UpdateCurrentRun("+name+")", s.UpdateCurrentRun(t.Context(), p), store.ErrInvalid)
				p.Status = store.StatusCompleted
				_, err := store.CompleteRecurringRun(t.Context(), s, p)
				wantErr(t, "CompleteRecurringRun("+name+")", err, store.ErrInvalid)
			}
			wantRow(t, s, "after rejected runs", orig)
			if a := runsAudits(t, s, orig.ID); len(a) != 0 {
				t.Errorf("rejected runs wrote runs audits: %v", a)
			}
		}},
		{"NegativeLimitsAndOffsets", func(t tb, s store.Store) {
			task := newTask(1)
			persist(t, s, task)
			_, err := s.List(t.Context(), store.Filter{Limit: -1})
			wantErr(t, "List(Limit -1)", err, store.ErrInvalid)
			_, err = s.RetrievePending(t.Context(), store.PendingParams{Limit: -1, Now: base})
			wantErr(t, "RetrievePending(Limit -1)", err, store.ErrInvalid)
			_, err = s.LogsPage(t.Context(), store.LogQuery{TaskID: task.ID, Limit: -1})
			wantErr(t, "LogsPage(Limit -1)", err, store.ErrInvalid)
			_, err = s.LogsPage(t.Context(), store.LogQuery{TaskID: task.ID, Offset: -1})
			wantErr(t, "LogsPage(Offset -1)", err, store.ErrInvalid)
		}},
		{"UnknownStatusInFilter", func(t tb, s store.Store) {
			// Matching nothing would hide a caller's typo; the filter is
			// rejected as store.Filter.Normalize says.
			persist(t, s, newTask(1))
			_, err := s.List(t.Context(), store.Filter{Statuses: []store.Status{store.StatusQueued, "Queud"}})
			wantErr(t, "List(unknown status)", err, store.ErrInvalid)
		}},
	}
}
