package inspect

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/evertask/evertask/store"
)

// MinPrefixLength is the fewest hexadecimal digits Find takes as an id
// prefix. Task ids are UUIDv7: their first 12 digits are the creation time
// in milliseconds, so 8 digits narrow the search to about a minute of
// tasks.
const MinPrefixLength = 8

// idSlack is how much earlier than its id's time a task may have been
// created: an id takes the next millisecond when a millisecond's counter
// runs out or the clock steps back, never an earlier one.
const idSlack = time.Minute

// MinSuffixLength is the fewest hexadecimal digits Find takes as an id
// suffix ("…3f9a2c", as the demo prints ids).
const MinSuffixLength = 6

// Find returns the task whose id is s, or the one task whose id starts
// with s (at least MinPrefixLength hexadecimal digits), or, when s starts
// with "…" or "...", the one task whose id ends with the digits after it
// (at least MinSuffixLength). Dashes and case are ignored. ErrNotFound when
// no task matches, ErrAmbiguous when several do, ErrBadID when s is none
// of these.
//
// A prefix is looked up by the creation time it encodes, so it finds the
// task ids evertask makes (UUIDv7, created when dispatched), not ids a
// program wrote itself; the first 12 digits are the creation millisecond,
// so tasks created close together share their first 8 or more. A suffix
// is made of random bits, so 6 digits tell tasks apart well, but it is
// looked up by reading every task id: fine for a small store, slow on a
// big one.
func (in *Inspector) Find(ctx context.Context, s string) (*store.Task, error) {
	id, digits, suffix, err := parseID(s)
	if err != nil {
		return nil, err
	}
	if id != uuid.Nil {
		t, err := in.st.Get(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("no task has id %s: %w", id, ErrNotFound)
		}
		if err != nil {
			return nil, fmt.Errorf("find task %s: %w", id, err)
		}
		return t, nil
	}
	f := store.Filter{Limit: store.MaxListLimit, Oldest: true}
	match := func(hexID string) bool { return strings.HasSuffix(hexID, digits) }
	if !suffix {
		lo := idTime(digits + strings.Repeat("0", 32-len(digits)))
		hi := idTime(digits + strings.Repeat("f", 32-len(digits)))
		f.CreatedFrom, f.CreatedBefore = lo.Add(-idSlack), hi.Add(time.Millisecond)
		match = func(hexID string) bool { return strings.HasPrefix(hexID, digits) }
	}
	var found *store.Task
	for {
		page, err := in.st.List(ctx, f)
		if err != nil {
			return nil, fmt.Errorf("find task %s: %w", s, err)
		}
		for _, t := range page.Tasks {
			if !match(hex.EncodeToString(t.ID[:])) {
				continue
			}
			if found != nil {
				return nil, fmt.Errorf("%w %q: %s and %s (and maybe more) match it; give more digits", ErrAmbiguous, s, found.ID, t.ID)
			}
			found = t
		}
		if page.Next == nil {
			break
		}
		f.After = *page.Next
	}
	if found == nil {
		return nil, fmt.Errorf("no task id matches %q: %w", s, ErrNotFound)
	}
	return found, nil
}

// CheckID reports, without a store, whether Find accepts s: a task id, a
// prefix or a suffix of one. The error wraps ErrBadID.
func CheckID(s string) error {
	_, _, _, err := parseID(s)
	return err
}

// parseID reads the argument of Find: a whole id, or the lowercase digits
// of a prefix or (suffix set) a suffix.
func parseID(s string) (id uuid.UUID, digits string, suffix bool, err error) {
	s = strings.TrimSpace(s)
	if id, err := uuid.Parse(s); err == nil && (len(s) == 32 || len(s) == 36) {
		return id, "", false, nil
	}
	rest, suffix := strings.CutPrefix(s, "…")
	if !suffix {
		rest, suffix = strings.CutPrefix(s, "...")
	}
	digits = strings.ToLower(strings.ReplaceAll(rest, "-", ""))
	switch {
	case !isHex(digits) || digits == "" || len(digits) >= 32:
		return uuid.Nil, "", false, fmt.Errorf("%w %q: want a task id, its first %d or more hexadecimal digits, or …and its last %d or more",
			ErrBadID, s, MinPrefixLength, MinSuffixLength)
	case suffix && len(digits) < MinSuffixLength:
		return uuid.Nil, "", false, fmt.Errorf("%w %q: a suffix needs at least %d hexadecimal digits", ErrBadID, s, MinSuffixLength)
	case !suffix && len(digits) < MinPrefixLength:
		return uuid.Nil, "", false, fmt.Errorf("%w %q: a prefix needs at least %d hexadecimal digits", ErrBadID, s, MinPrefixLength)
	}
	return uuid.Nil, digits, suffix, nil
}

func isHex(s string) bool {
	for _, c := range s {
		if !strings.ContainsRune("0123456789abcdef", c) {
			return false
		}
	}
	return true
}

// idTime is the creation time a UUIDv7 in 32 hexadecimal digits encodes.
func idTime(digits string) time.Time {
	var ms int64
	for _, c := range digits[:12] {
		ms = ms<<4 | int64(strings.IndexRune("0123456789abcdef", c))
	}
	return time.UnixMilli(ms).UTC()
}
