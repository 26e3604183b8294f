package storetest

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/evertask/evertask/store"
	"github.com/google/uuid"
)

// base is the fixed time the suite builds on. It has microseconds so a store
// that drops them is caught; tests never read the wall clock.
var base = time.Date(2026, 1, 2, 3, 4, 5, 123456000, time.UTC)

// elsewhere is a non-UTC location: times given in it must come back in UTC.
var elsewhere = time.FixedZone("UTC+05:30", 5*3600+30*60)

// at returns base plus d.
func at(d time.Duration) time.Time { return base.Add(d) }

// tid returns a UUIDv7-shaped id whose byte order follows n, so tests that
// care about id order can choose it.
func tid(n int) uuid.UUID {
	var u uuid.UUID
	// 48-bit millisecond timestamp of base, then version 7 and variant bits.
	ms := uint64(base.UnixMilli())
	u[0], u[1], u[2], u[3], u[4], u[5] = byte(ms>>40), byte(ms>>32), byte(ms>>24), byte(ms>>16), byte(ms>>8), byte(ms)
	u[6] = 0x70
	u[8] = 0x80
	binary.BigEndian.PutUint32(u[12:], uint32(n))
	return u
}

// newTask returns a valid one-shot WaitingQueue row created at base+n µs with
// id tid(n).
func newTask(n int) *store.Task {
	return &store.Task{
		ID:         tid(n),
		CreatedAt:  base.Add(time.Duration(n) * time.Microsecond),
		Kind:       "storetest.Task",
		Payload:    []byte(`{"n":` + fmt.Sprint(n) + `}`),
		Handler:    "storetest.Handler",
		Queue:      "default",
		Status:     store.StatusWaitingQueue,
		AuditLevel: store.AuditFull,
	}
}

// recurringTask returns a valid recurring InProgress row with a next run.
func recurringTask(n int) *store.Task {
	t := newTask(n)
	t.Recurring = true
	t.Status = store.StatusInProgress
	t.Queue = "recurring"
	t.Schedule = []byte(`{"every":"1m"}`)
	t.ScheduleInfo = "every 1 minute(s)"
	t.NextRunAt = at(time.Minute)
	return t
}

func persist(t tb, s store.Store, tasks ...*store.Task) {
	t.Helper()
	for _, task := range tasks {
		if err := s.Persist(t.Context(), task); err != nil {
			t.Fatalf("Persist(%s): %v", task.ID, err)
		}
	}
}

func get(t tb, s store.Store, id uuid.UUID) *store.Task {
	t.Helper()
	got, err := s.Get(t.Context(), id)
	if err != nil {
		t.Fatalf("Get(%s): %v", id, err)
	}
	if got == nil {
		t.Fatalf("Get(%s) returned nil without an error", id)
	}
	return got
}

func statusAudits(t tb, s store.Store, id uuid.UUID) []store.StatusAudit {
	t.Helper()
	a, err := s.StatusAudits(t.Context(), id)
	if err != nil {
		t.Fatalf("StatusAudits(%s): %v", id, err)
	}
	return a
}

func runsAudits(t tb, s store.Store, id uuid.UUID) []store.RunsAudit {
	t.Helper()
	a, err := s.RunsAudits(t.Context(), id)
	if err != nil {
		t.Fatalf("RunsAudits(%s): %v", id, err)
	}
	return a
}

func logsOf(t tb, s store.Store, id uuid.UUID) []store.ExecutionLog {
	t.Helper()
	l, err := s.Logs(t.Context(), id)
	if err != nil {
		t.Fatalf("Logs(%s): %v", id, err)
	}
	return l
}

// allRows lists every row of the store, oldest first.
func allRows(t tb, s store.Store) []*store.Task {
	t.Helper()
	var out []*store.Task
	f := store.Filter{Limit: store.MaxListLimit, Oldest: true}
	for range 100 {
		page, err := s.List(t.Context(), f)
		if err != nil {
			t.Fatalf("List: %v", err)
		}
		out = append(out, page.Tasks...)
		if page.Next == nil {
			return out
		}
		f.After = *page.Next
	}
	t.Fatalf("List did not end after 100 pages")
	return nil
}

func wantRowCount(t tb, s store.Store, want int) {
	t.Helper()
	if got := len(allRows(t, s)); got != want {
		t.Errorf("the store holds %d rows, want %d", got, want)
	}
}

func transition(t tb, s store.Store, p store.TransitionParams) bool {
	t.Helper()
	ok, err := s.Transition(t.Context(), p)
	if err != nil {
		t.Fatalf("Transition(%s -> %s): %v", p.ID, p.To, err)
	}
	return ok
}

// wantErr fails unless err wraps target.
func wantErr(t tb, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("%s: err = %v, want errors.Is(err, %v)", what, err, target)
	}
}

// sameTime reports whether got is exactly want as a store gives it back:
// NormalizeTime(want), in UTC.
func sameTime(got, want time.Time) bool {
	want = store.NormalizeTime(want)
	if want.IsZero() {
		return got.IsZero()
	}
	return got.Equal(want) && got.Location() == time.UTC && got.Nanosecond()%1000 == 0
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "zero"
	}
	return t.Format(time.RFC3339Nano) + " (" + t.Location().String() + ")"
}

// diffTask lists the fields where got differs from want as a store keeps it.
func diffTask(got, want *store.Task) []string {
	var d []string
	add := func(field string, g, w any) { d = append(d, fmt.Sprintf("%s = %v, want %v", field, g, w)) }
	eq := func(field string, g, w any) { // comparable values
		if g != w {
			add(field, g, w)
		}
	}
	tm := func(field string, g, w time.Time) {
		if !sameTime(g, w) {
			add(field, fmtTime(g), fmtTime(store.NormalizeTime(w)))
		}
	}
	by := func(field string, g, w []byte) {
		if !bytes.Equal(g, w) {
			add(field, abbrev(g), abbrev(w))
		}
	}
	eq("ID", got.ID, want.ID)
	tm("CreatedAt", got.CreatedAt, want.CreatedAt)
	eq("Kind", got.Kind, want.Kind)
	by("Payload", got.Payload, want.Payload)
	eq("Handler", got.Handler, want.Handler)
	eq("Queue", got.Queue, want.Queue)
	eq("Key", got.Key, want.Key)
	if !maps.Equal(got.Metadata, want.Metadata) || (got.Metadata != nil && len(got.Metadata) == 0) {
		// An empty map comes back nil (store.Task.Metadata).
		add("Metadata", got.Metadata, want.Metadata)
	}
	eq("Status", got.Status, want.Status)
	eq("AuditLevel", got.AuditLevel, want.AuditLevel)
	tm("ScheduledAt", got.ScheduledAt, want.ScheduledAt)
	tm("LastExecutionAt", got.LastExecutionAt, want.LastExecutionAt)
	if w := want.ExecutionTime.Truncate(time.Microsecond); got.ExecutionTime != w {
		add("ExecutionTime", got.ExecutionTime, w)
	}
	if got.Error != want.Error {
		add("Error", abbrev([]byte(got.Error)), abbrev([]byte(want.Error)))
	}
	eq("Recurring", got.Recurring, want.Recurring)
	by("Schedule", got.Schedule, want.Schedule)
	eq("ScheduleInfo", got.ScheduleInfo, want.ScheduleInfo)
	eq("RunCount", got.RunCount, want.RunCount)
	eq("MaxRuns", got.MaxRuns, want.MaxRuns)
	tm("RunUntil", got.RunUntil, want.RunUntil)
	tm("NextRunAt", got.NextRunAt, want.NextRunAt)
	eq("RecoveryFailures", got.RecoveryFailures, want.RecoveryFailures)
	eq("Owner", got.Owner, want.Owner)
	tm("LeaseUntil", got.LeaseUntil, want.LeaseUntil)
	return d
}

// wantTask fails with every field where got differs from want.
func wantTask(t tb, what string, got, want *store.Task) {
	t.Helper()
	if got == nil {
		t.Errorf("%s: got nil task", what)
		return
	}
	if d := diffTask(got, want); len(d) > 0 {
		t.Errorf("%s: row %s differs:\n\t%s", what, want.ID, strings.Join(d, "\n\t"))
	}
}

// wantRow reads the row and compares it with want.
func wantRow(t tb, s store.Store, what string, want *store.Task) {
	t.Helper()
	wantTask(t, what, get(t, s, want.ID), want)
}

func abbrev(b []byte) string {
	if b == nil {
		return "nil"
	}
	if len(b) > 40 {
		return fmt.Sprintf("%q... (%d bytes)", b[:40], len(b))
	}
	return fmt.Sprintf("%q", b)
}

func ids(tasks []*store.Task) []uuid.UUID {
	out := make([]uuid.UUID, len(tasks))
	for i, t := range tasks {
		out[i] = t.ID
	}
	return out
}

// sortedIDs returns the ids in ascending byte order, for set comparisons.
func sortedIDs(in []uuid.UUID) []uuid.UUID {
	out := slices.Clone(in)
	slices.SortFunc(out, func(a, b uuid.UUID) int { return bytes.Compare(a[:], b[:]) })
	return out
}

// wantSameIDs fails unless got and want hold the same ids, in any order.
func wantSameIDs(t tb, what string, got, want []uuid.UUID) {
	t.Helper()
	g, w := sortedIDs(got), sortedIDs(want)
	if !slices.Equal(g, w) {
		t.Errorf("%s: got %d rows %v, want %d rows %v", what, len(g), shortIDs(g), len(w), shortIDs(w))
	}
}

func shortIDs(in []uuid.UUID) string {
	if len(in) > 12 {
		return fmt.Sprintf("%v ...", in[:12])
	}
	return fmt.Sprint(in)
}

// wantStatusAudits compares the audits of a task with want, newest first.
func wantStatusAudits(t tb, s store.Store, what string, id uuid.UUID, want []store.StatusAudit) {
	t.Helper()
	got := statusAudits(t, s, id)
	if len(got) != len(want) {
		t.Errorf("%s: %d status audits %v, want %d %v", what, len(got), got, len(want), want)
		return
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.TaskID != id || !sameTime(g.At, w.At) || g.Status != w.Status || g.Error != w.Error {
			t.Errorf("%s: status audit %d = {task %s, at %s, %s, %q}, want {task %s, at %s, %s, %q}",
				what, i, g.TaskID, fmtTime(g.At), g.Status, g.Error, id, fmtTime(store.NormalizeTime(w.At)), w.Status, w.Error)
		}
	}
}

// wantRunsAudits compares the runs audits of a task with want, newest first.
func wantRunsAudits(t tb, s store.Store, what string, id uuid.UUID, want []store.RunsAudit) {
	t.Helper()
	got := runsAudits(t, s, id)
	if len(got) != len(want) {
		t.Errorf("%s: %d runs audits %v, want %d %v", what, len(got), got, len(want), want)
		return
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.TaskID != id || !sameTime(g.ExecutedAt, w.ExecutedAt) || g.Status != w.Status || g.Error != w.Error ||
			g.ExecutionTime != w.ExecutionTime.Truncate(time.Microsecond) {
			t.Errorf("%s: runs audit %d = {task %s, at %s, took %v, %s, %q}, want {task %s, at %s, took %v, %s, %q}",
				what, i, g.TaskID, fmtTime(g.ExecutedAt), g.ExecutionTime, g.Status, g.Error,
				id, fmtTime(store.NormalizeTime(w.ExecutedAt)), w.ExecutionTime.Truncate(time.Microsecond), w.Status, w.Error)
		}
	}
}

// withErr names the error column of an audit policy cell in messages.
func withErr(e string) string {
	if e == "" {
		return "no error"
	}
	return "error"
}

// raceApplied runs op(0), ..., op(n-1) in n goroutines released at the same
// moment, fails the check for every error (naming what and the goroutine)
// and returns which applied.
func raceApplied(t tb, what string, n int, op func(i int) (bool, error)) []bool {
	applied := make([]bool, n)
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			applied[i], errs[i] = op(i)
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("%s, goroutine %d: %v", what, i, err)
		}
	}
	return applied
}

func countTrue(bs []bool) int {
	n := 0
	for _, b := range bs {
		if b {
			n++
		}
	}
	return n
}
