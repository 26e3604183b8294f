package schedule

import (
	"errors"
	"fmt"
)

// ErrInvalid is returned (wrapped, with a message naming the problem) when a
// schedule is malformed: a bad cron expression, a field out of range, a
// non-positive max runs, an empty schedule, a corrupt stored encoding.
var ErrInvalid = errors.New("invalid schedule")

// ErrNoOccurrence is returned (wrapped) by First when a new series would never
// run: its run until is in the past or not after its first occurrence, or the
// calendar has no occurrence left.
var ErrNoOccurrence = errors.New("schedule has no occurrence")

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}
