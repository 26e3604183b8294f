package schedule

import (
	"sync"
	"sync/atomic"
	"time"
)

// Loading a zone reads and parses tzdata; a hot Next must not do that, so
// locations are cached by name. The cache is bounded because names can come
// from stored (possibly corrupt) data.
var (
	locations     sync.Map // name -> *time.Location
	locationCount atomic.Int64
)

const maxCachedLocations = 1024

// location returns the schedule's time zone.
func (s Schedule) location() (*time.Location, error) {
	return loadLocation(s.Location)
}

func loadLocation(name string) (*time.Location, error) {
	if name == "" || name == "UTC" {
		return time.UTC, nil
	}
	if v, ok := locations.Load(name); ok {
		return v.(*time.Location), nil
	}
	// "Local" depends on the machine, so a stored schedule would change
	// meaning when it moves.
	if name == "Local" {
		return nil, invalid("location must be an IANA name, not Local")
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, invalid("location %q: %v", name, err)
	}
	if locationCount.Add(1) <= maxCachedLocations {
		locations.Store(name, loc)
	}
	return loc, nil
}
