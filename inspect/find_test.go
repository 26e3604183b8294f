package inspect_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/evertask/evertask/inspect"
	"github.com/evertask/evertask/store"
)

// FuzzFind feeds Find what a user may type: it never panics, and it
// answers a bad id, a missing task or the one task matching, nothing else.
func FuzzFind(f *testing.F) {
	for _, s := range []string{"", "…", "...", "01a23566-68f4-7001", "…6e167b", "...6e167b", "zz", "01a2",
		"01a23566-68f4-7001-9c54-f8a5226e167b", "01a2356668f470019c54f8a5226e167b", "-----------", "…-", " 01a23566 ",
		"ffffffffffffffffffffffffffffffff0", "0000000000000000"} {
		f.Add(s)
	}
	a := row(store.StatusFailed, "q")
	_, in := setup(f, a)
	f.Fuzz(func(t *testing.T, s string) {
		got, err := in.Find(t.Context(), s)
		switch {
		case err == nil:
			if got == nil || got.ID != a.ID {
				t.Fatalf("Find(%q) = %v, want the only task %s or an error", s, got, a.ID)
			}
		case errors.Is(err, inspect.ErrBadID):
			if inspect.CheckID(s) == nil {
				t.Fatalf("Find(%q) = ErrBadID but CheckID accepts it", s)
			}
		case errors.Is(err, inspect.ErrNotFound):
			if inspect.CheckID(s) != nil {
				t.Fatalf("Find(%q) looked it up but CheckID rejects it", s)
			}
			if strings.EqualFold(strings.TrimSpace(s), a.ID.String()) {
				t.Fatalf("Find(%q) missed the task %s", s, a.ID)
			}
		default:
			t.Fatalf("Find(%q) = %v", s, err)
		}
	})
}
