package redisstore_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/evertask/evertask/store"
)

// TestStatsCountTheKindOnEveryPath ends one execution through each way the
// transition script reads a row (plain, fenced, IfRecoverable, both, and a
// recurring row, which it reads whole; fenced and IfRecoverable together
// never apply to a held row): each must count under its own kind.
// The conformance checks end executions the plain way only.
func TestStatsCountTheKindOnEveryPath(t *testing.T) {
	t.Parallel()
	su := newSetup(t)
	now := t0.Truncate(time.Hour).Add(time.Hour + 5*time.Minute)
	const owner = "node-1"
	type end struct {
		kind      string
		held      bool
		ifrec     bool
		recurring bool
		status    store.Status
	}
	ends := []end{
		{kind: "plain", status: store.StatusCompleted},
		{kind: "fenced", held: true, status: store.StatusCompleted},
		{kind: "ifrec", ifrec: true, status: store.StatusFailed},
		{kind: "recurring", recurring: true, status: store.StatusCompleted},
	}
	want := map[string]store.OverviewCount{}
	for i, e := range ends {
		tk := task(i)
		tk.Kind = e.kind
		if e.recurring {
			tk.Recurring, tk.Schedule, tk.NextRunAt = true, []byte(`{"every":"1m"}`), now
		}
		if err := su.s.Persist(t.Context(), tk); err != nil {
			t.Fatal(err)
		}
		claim := store.TransitionParams{ID: tk.ID, To: store.StatusInProgress, Now: now, AuditLevel: store.AuditNone}
		if e.held {
			claim.Lease = &store.Lease{Owner: owner, For: time.Hour}
		}
		if ok, err := su.s.Transition(t.Context(), claim); err != nil || !ok {
			t.Fatalf("claim %s = %v, %v", e.kind, ok, err)
		}
		exec := time.Duration(i+1) * time.Millisecond
		p := store.TransitionParams{ID: tk.ID, To: e.status, From: []store.Status{store.StatusInProgress},
			Now: now.Add(time.Duration(i) * time.Minute), ExecutionTime: exec, AuditLevel: store.AuditNone, IfRecoverable: e.ifrec}
		if e.held {
			p.HeldBy = owner
		}
		if ok, err := su.s.Transition(t.Context(), p); err != nil || !ok {
			t.Fatalf("end %s = %v, %v", e.kind, ok, err)
		}
		w := store.OverviewCount{ExecutionTime: exec}
		if e.status == store.StatusCompleted {
			w.Completed = 1
		} else {
			w.Failed = 1
		}
		want[e.kind] = w
	}
	p := store.OverviewParams{From: now.Truncate(time.Hour), To: now.Truncate(time.Hour).Add(time.Hour), Bucket: time.Minute}
	o, err := su.s.Overview(t.Context(), p)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(o.Kinds) != fmt.Sprint(want) {
		t.Errorf("kinds = %v, want %v", o.Kinds, want)
	}
	for i := range ends {
		if b := o.Buckets[5+i]; b.Completed+b.Failed != 1 {
			t.Errorf("bucket of minute %d = %+v, want one end", 5+i, b)
		}
	}
	// The counter keys are under the store's hash tag like every other.
	keys := scanKeys(t, su)
	slot := func(k string) int64 { return su.c.ClusterKeySlot(t.Context(), k).Val() }
	stats := 0
	for _, k := range keys {
		if got, want := slot(k), slot(keys[0]); got != want {
			t.Errorf("key %s in slot %d, want %d", k, got, want)
		}
		if len(k) > len(su.prefix)+5 && k[len(su.prefix)+2:len(su.prefix)+5] == "st:" || k == "{"+su.prefix+"}stm" {
			stats++
		}
	}
	if stats != len(ends)+1 {
		t.Errorf("%d counter keys among %v, want a hash per minute and the minutes' index", stats, keys)
	}
}
