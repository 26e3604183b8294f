package redisstore

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/evertask/evertask/store"
)

func TestMemberOrderIsCursorOrder(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(1, 2))
	times := []time.Time{
		time.Date(1969, 12, 31, 23, 59, 59, 999999000, time.UTC), time.Unix(0, 0).UTC(),
		time.Date(2026, 1, 1, 0, 0, 0, 1000, time.UTC), time.Date(2262, 1, 1, 0, 0, 0, 0, time.UTC),
	}
	for range 200 {
		times = append(times, time.UnixMicro(r.Int64N(1<<52)-(1<<51)).UTC())
	}
	var cs []store.Cursor
	for _, at := range times {
		for range 2 {
			var id uuid.UUID
			for i := range id {
				id[i] = byte(r.IntN(3) * 127) // many equal bytes, so ids tie deep
			}
			cs = append(cs, store.Cursor{CreatedAt: at, ID: id})
		}
	}
	ms := make([]string, len(cs))
	for i, a := range cs {
		ms[i] = cursorMember(a)
		got, err := parseMember(ms[i])
		if err != nil || !got.CreatedAt.Equal(a.CreatedAt) || got.ID != a.ID {
			t.Fatalf("parseMember(member(%v)) = %v, %v", a, got, err)
		}
	}
	for i, a := range cs {
		for j, b := range cs {
			if a.Less(b) != (ms[i] < ms[j]) {
				t.Fatalf("cursor order and member order disagree on %v and %v", a, b)
			}
		}
	}
}

func TestLogEntryRoundTrip(t *testing.T) {
	t.Parallel()
	for _, l := range []store.ExecutionLog{
		{ID: uuid.Must(uuid.NewV7()), At: time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC), Level: "Error", Message: "a|b|c\n", ErrorDetails: "trace | ünïcödé", Seq: 3},
		{ID: uuid.Must(uuid.NewV7()), Level: "", Message: "", Seq: -7},
		{ID: uuid.Must(uuid.NewV7()), Level: "Info|x", Message: "12|34", Seq: 1 << 40},
	} {
		taskID := uuid.Must(uuid.NewV7())
		l.TaskID = taskID
		got, err := decodeLog(taskID, encodeLog(&l))
		if err != nil || got != l {
			t.Fatalf("decode(encode(%+v)) = %+v, %v", l, got, err)
		}
	}
	a := store.ExecutionLog{ID: uuid.Must(uuid.NewV7()), Seq: -1}
	b := a
	b.Seq = 2
	if !(logSortKey(&a) < logSortKey(&b)) {
		t.Fatal("a negative seq sorts after a positive one")
	}
}

// fieldNum is written out as a switch (cheaper than a map for every field
// of every claimed row): it must name exactly the fields of fieldNames.
func TestFieldNumMatchesFieldNames(t *testing.T) {
	for i, name := range fieldNames {
		if got := fieldNum(name); got != i {
			t.Errorf("fieldNum(%q) = %d, want %d", name, got, i)
		}
	}
	for _, name := range []string{"", "op", "m", "x"} {
		if got := fieldNum(name); got != -1 {
			t.Errorf("fieldNum(%q) = %d, want -1 (not a field decodeTask reads)", name, got)
		}
	}
}
