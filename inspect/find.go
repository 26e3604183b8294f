package inspect

import (
	"context"
	"encoding/hex"
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

// Find returns the task whose id is s, or the one task whose id starts
// with s (at least MinPrefixLength hexadecimal digits; dashes and case are
// ignored), as the shortened ids of the demo and the CLI tables show them.
// ErrNotFound when no task matches, ErrAmbiguous when several do, ErrBadID
// when s is not an id or a prefix of one.
//
// A prefix is looked up by the creation time it encodes, so it finds the
// task ids evertask makes (UUIDv7, created when dispatched), not ids a
// program wrote itself.
func (in *Inspector) Find(ctx context.Context, s string) (*store.Task, error) {
	s = strings.TrimSpace(s)
	if id, err := uuid.Parse(s); err == nil && (len(s) == 32 || len(s) == 36) {
		return in.Get(ctx, id)
	}
	digits := strings.ToLower(strings.ReplaceAll(s, "-", ""))
	if _, err := hex.DecodeString(digits + strings.Repeat("0", len(digits)%2)); err != nil || digits == "" || len(digits) >= 32 {
		return nil, fmt.Errorf("%w %q: want a task id or its first %d or more hexadecimal digits", ErrBadID, s, MinPrefixLength)
	}
	if len(digits) < MinPrefixLength {
		return nil, fmt.Errorf("%w %q: a prefix needs at least %d hexadecimal digits", ErrBadID, s, MinPrefixLength)
	}
	lo := idTime(digits + strings.Repeat("0", 32-len(digits)))
	hi := idTime(digits + strings.Repeat("f", 32-len(digits)))
	f := store.Filter{
		CreatedFrom: lo.Add(-idSlack), CreatedBefore: hi.Add(time.Millisecond),
		Limit: store.MaxListLimit, Oldest: true,
	}
	var found *store.Task
	for {
		page, err := in.st.List(ctx, f)
		if err != nil {
			return nil, fmt.Errorf("find task %s: %w", s, err)
		}
		for _, t := range page.Tasks {
			if !strings.HasPrefix(hex.EncodeToString(t.ID[:]), digits) {
				continue
			}
			if found != nil {
				return nil, fmt.Errorf("%w %q: %s and %s (and maybe more) start with it; give more digits", ErrAmbiguous, s, found.ID, t.ID)
			}
			found = t
		}
		if page.Next == nil {
			break
		}
		f.After = *page.Next
	}
	if found == nil {
		return nil, fmt.Errorf("find task %s: %w", s, ErrNotFound)
	}
	return found, nil
}

// idTime is the creation time a UUIDv7 in 32 hexadecimal digits encodes.
func idTime(digits string) time.Time {
	var ms int64
	for _, c := range digits[:12] {
		ms = ms<<4 | int64(strings.IndexRune("0123456789abcdef", c))
	}
	return time.UnixMilli(ms).UTC()
}
