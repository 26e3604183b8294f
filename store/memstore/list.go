package memstore

import (
	"context"
	"math"
	"slices"

	"github.com/evertask/evertask/store"
)

// List implements store.Store. A key filter reads one row; a status filter
// walks the per-status indexes from the cursor and merges them; otherwise
// the index of all rows is walked from the cursor. Each walk stops once the
// page is full, so a page costs O(log n + rows skipped by the other
// filters).
func (s *Store) List(ctx context.Context, f store.Filter) (store.Page, error) {
	if err := begin(ctx); err != nil {
		return store.Page{}, err
	}
	if err := f.Normalize(); err != nil {
		return store.Page{}, err
	}
	sc := newScan(&f)
	want := f.Limit + 1 // one more tells whether a next page exists

	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return store.Page{}, store.ErrClosed
	}
	var found []*row
	switch {
	case f.Key != "":
		if r := s.byKey[f.Key]; r != nil && sc.inRange(r.key(), f.Oldest) && statusSet(&f)[r.st] && sc.match(&f, r) {
			found = append(found, r)
		}
	case len(f.Statuses) > 0 && sc.budget == 0:
		found = s.walkStatuses(sc, &f, want)
	default:
		// A bounded search walks every row in one order, whatever the
		// statuses, so where it stops is one position.
		if len(f.Statuses) > 0 {
			statuses := statusSet(&f)
			sc.statuses = &statuses
		}
		found = sc.walk(&s.all, &f, want, nil)
	}
	tasks := make([]*store.Task, len(found))
	for i, r := range found {
		tasks[i] = r.task()
	}
	page := f.Page(tasks)
	if sc.stop != nil && page.Next == nil {
		page.Next, page.ScanLimited = &store.Cursor{CreatedAt: sc.stop.createdAt(), ID: sc.stop.ID}, true
	}
	return page, nil
}

// statusSet is f.Statuses by status index; every status when there are
// none.
func statusSet(f *store.Filter) (set [numStatus]bool) {
	for _, st := range f.Statuses {
		set[statusIndex(st)] = true
	}
	if len(f.Statuses) == 0 {
		for i := range set {
			set[i] = true
		}
	}
	return set
}

// walkStatuses walks the per-status indexes of f.Statuses from the cursor
// and merges them: up to want rows in f's order.
func (s *Store) walkStatuses(sc *scan, f *store.Filter, want int) []*row {
	statuses := statusSet(f)
	// The pending index also holds recurring rows of final statuses (their
	// own trees list those): walk it for the open statuses only.
	var open, final [numStatus]bool
	for i, on := range statuses {
		if openStatus(uint8(i)) {
			open[i] = on
		} else {
			final[i] = on
		}
	}
	var found []*row
	walkedPending := false
	n := 0
	for i, on := range statuses {
		if !on {
			continue
		}
		sc.statuses = &final
		if openStatus(uint8(i)) {
			if walkedPending {
				continue
			}
			walkedPending = true
			sc.statuses = &open
		}
		found = sc.walk(s.statusTree(uint8(i)), f, want, found)
		n++
	}
	if n > 1 {
		slices.SortFunc(found, func(a, b *row) int {
			c := compareKeys(a.key(), b.key())
			if !f.Oldest {
				c = -c
			}
			return c
		})
		found = found[:min(len(found), want)]
	}
	return found
}

func compareKeys(a, b ikey) int {
	switch {
	case a.less(b):
		return -1
	case b.less(a):
		return 1
	}
	return 0
}

// scan holds the bounds of a keyset walk: rows strictly after the cursor in
// the walk's direction and inside [lo, hi).
type scan struct {
	lo, hi int64  // CreatedAt bounds in microseconds, hi exclusive
	from   ikey   // start position
	incl   bool   // whether from itself is included
	search string // Filter.Search
	// budget is Filter.ScanLimit for a search (0: none); tested counts the
	// rows tested against the search; stop is the row the walk stopped at
	// when it ran out of budget.
	budget, tested int
	stop           *row
	// statuses, when set, are the statuses a row must have: an index may
	// hold several (see statusTree).
	statuses *[numStatus]bool
}

func newScan(f *store.Filter) *scan {
	sc := &scan{lo: math.MinInt64, hi: math.MaxInt64}
	if !f.CreatedFrom.IsZero() {
		sc.lo = ceilMicro(f.CreatedFrom)
	}
	if !f.CreatedBefore.IsZero() {
		sc.hi = ceilMicro(f.CreatedBefore)
	}
	if f.Oldest {
		sc.from, sc.incl = ikey{us: sc.lo}, true
		if !f.After.IsZero() {
			if k, incl := afterKey(f.After); sc.from.less(k) {
				sc.from, sc.incl = k, incl
			}
		}
	} else {
		sc.from, sc.incl = ikey{us: sc.hi}, false
		if sc.hi == math.MaxInt64 {
			sc.from, sc.incl = maxKey, true
		}
		if !f.After.IsZero() {
			if k, incl := beforeKey(f.After); k.less(sc.from) {
				sc.from, sc.incl = k, incl
			}
		}
	}
	sc.search = f.Search
	if f.Search != "" && f.ScanLimit > 0 {
		sc.budget = f.ScanLimit
	}
	return sc
}

// afterKey turns a cursor into the start of an ascending walk over the rows
// that sort strictly after it. A cursor between two microseconds starts at
// the next microsecond, inclusive.
func afterKey(c store.Cursor) (ikey, bool) {
	if c.CreatedAt.Nanosecond()%1000 != 0 {
		return ikey{us: ceilMicro(c.CreatedAt)}, true
	}
	return keyOf(c.CreatedAt, c.ID), false
}

// beforeKey is afterKey for a descending walk.
func beforeKey(c store.Cursor) (ikey, bool) {
	if c.CreatedAt.Nanosecond()%1000 != 0 {
		return ikey{us: ceilMicro(c.CreatedAt)}, false
	}
	return keyOf(c.CreatedAt, c.ID), false
}

// inRange reports whether a walk of f would reach k: inside the CreatedAt
// bounds and past the start position.
func (sc *scan) inRange(k ikey, oldest bool) bool {
	if k.us < sc.lo || k.us >= sc.hi {
		return false
	}
	if k == sc.from {
		return sc.incl
	}
	return sc.from.less(k) == oldest
}

// walk appends to out up to want rows of t that match f, in f's order.
func (sc *scan) walk(t *btree, f *store.Filter, want int, out []*row) []*row {
	n := 0
	if f.Oldest {
		t.ascend(sc.from, sc.incl, func(e *entry) bool {
			if e.k.us >= sc.hi {
				return false
			}
			if sc.match(f, e.r) {
				out = append(out, e.r)
				n++
			}
			if n < want && sc.budget > 0 && sc.tested >= sc.budget {
				sc.stop = e.r
				return false
			}
			return n < want
		})
	} else {
		t.descend(sc.from, sc.incl, func(e *entry) bool {
			if e.k.us < sc.lo {
				return false
			}
			if sc.match(f, e.r) {
				out = append(out, e.r)
				n++
			}
			if n < want && sc.budget > 0 && sc.tested >= sc.budget {
				sc.stop = e.r
				return false
			}
			return n < want
		})
	}
	return out
}

// match checks the filters the walk's index does not already apply.
func (sc *scan) match(f *store.Filter, r *row) bool {
	switch {
	case sc.statuses != nil && !sc.statuses[r.st]:
		return false
	case f.Queue != "" && r.Queue != f.Queue,
		f.Kind != "" && r.Kind != f.Kind,
		f.Key != "" && r.Key != f.Key,
		f.Recurring != nil && r.Recurring != *f.Recurring:
		return false
	}
	if sc.search != "" {
		sc.tested++
		return store.ContainsFold(r.Kind, sc.search) || store.ContainsFold(r.Handler, sc.search) ||
			store.ContainsFold(r.Key, sc.search)
	}
	return true
}

// RetrievePending implements store.Store. It walks only the pending index,
// the rows that may be recoverable or are open, from the cursor, and checks
// store.Recoverable at its time on each.
func (s *Store) RetrievePending(ctx context.Context, p store.PendingParams) ([]*store.Task, error) {
	if err := begin(ctx); err != nil {
		return nil, err
	}
	if err := p.Normalize(); err != nil {
		return nil, err
	}
	limit := p.Limit
	from, incl := minKey, true
	if !p.After.IsZero() {
		from, incl = afterKey(p.After)
	}
	hi := int64(math.MaxInt64)
	if !p.CreatedBefore.IsZero() {
		hi = ceilMicro(p.CreatedBefore)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, store.ErrClosed
	}
	out := make([]*store.Task, 0, min(limit, s.pending.len()))
	s.pending.ascend(from, incl, func(e *entry) bool {
		if e.k.us >= hi {
			return false
		}
		if e.r.recoverable(p.Now) {
			out = append(out, e.r.task())
		}
		return len(out) < limit
	})
	return out, nil
}
