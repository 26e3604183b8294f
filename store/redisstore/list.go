package redisstore

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/redis/go-redis/v9"

	"github.com/evertask/evertask/store"
)

// walk is one keyset scan over the union of some (created, id) indexes.
type walk struct {
	sources []string // index keys; disjoint or not, members are deduplicated
	lo, hi  string   // ZRANGEBYLEX bounds ("-", "+", "[x" or "(x")
	desc    bool
	// pre, when set, checks a partial row (the fields in preFields) before
	// the whole row is read, so rows filtered out cost no payload transfer.
	pre       func(*store.Task) bool
	preFields []string
	match     func(*store.Task) bool // checked on the whole row
	want      int                    // stop once this many rows matched
	budget    int                    // stop after examining this many entries; 0: no limit
}

// result of a walk: the matched rows in order, and where it stopped when it
// stopped before the index ran out (by want or by budget).
type walkResult struct {
	rows     []*store.Task
	last     string // last member examined
	complete bool   // the index ran out
}

// walkProbe is the least a source is read per round of a walk: enough to
// see that it is empty past the cursor, or to start growing its share.
const walkProbe = 8

func (s *Store) walk(ctx context.Context, w walk) (walkResult, error) {
	var res walkResult
	chunk := min(max(w.want+1, 32), 1000)
	// Each source is read up to its own limit per round, half again what it
	// gave to the round before (and at least walkProbe), so a union of many
	// sets where a few hold the rows (the open status sets of every queue,
	// for recovery) does not read a whole chunk from every one of them each
	// round. Which rows a round returns never depends on the limits, only
	// how many: see the bound below.
	limits := make([]int, len(w.sources))
	for i := range limits {
		limits[i] = chunk
	}
	examined := 0
	for {
		// One MULTI/EXEC reads every source at one instant: a row a script
		// moves between two sources during the read is seen in one of
		// them, whichever order the sources are read in.
		pipe := s.rdb.TxPipeline()
		cmds := make([]*redis.StringSliceCmd, len(w.sources))
		for i, src := range w.sources {
			by := &redis.ZRangeBy{Min: w.lo, Max: w.hi, Count: int64(limits[i])}
			if w.desc {
				cmds[i] = pipe.ZRevRangeByLex(ctx, src, by)
			} else {
				cmds[i] = pipe.ZRangeByLex(ctx, src, by)
			}
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return res, mapErr(err)
		}
		// The union is known up to the bound: the nearest last entry of the
		// sources that may hold more. Past it, one of those could hold
		// entries not read yet. (A row in two sources, a recurring row in
		// rec and in its status set, is read once.)
		var ms []string
		bound, bounded := "", false
		for i, c := range cmds {
			v := c.Val()
			ms = append(ms, v...)
			if len(v) >= limits[i] {
				if last := v[len(v)-1]; !bounded || beyond(bound, last, w.desc) {
					bound, bounded = last, true
				}
			}
		}
		slices.Sort(ms)
		ms = slices.Compact(ms)
		if w.desc {
			slices.Reverse(ms)
		}
		more := bounded // some source may hold entries past what is kept
		if bounded {
			n := 0
			for n < len(ms) && !beyond(ms[n], bound, w.desc) {
				n++
			}
			ms = ms[:n]
		}
		if len(ms) > chunk {
			more = true
			ms = ms[:chunk]
		}
		if len(ms) == 0 {
			res.complete = true
			return res, nil
		}
		rows, err := s.loadRows(ctx, ms, w.pre, w.preFields)
		if err != nil {
			return res, err
		}
		for i, m := range ms {
			examined++
			res.last = m
			if t := rows[i]; t != nil && w.match(t) {
				res.rows = append(res.rows, t)
				if len(res.rows) >= w.want {
					return res, nil
				}
			}
			if w.budget > 0 && examined >= w.budget && (i < len(ms)-1 || more) {
				return res, nil
			}
		}
		if !more {
			res.complete = true
			return res, nil
		}
		for i, c := range cmds {
			used := 0
			for _, m := range c.Val() {
				if beyond(m, res.last, w.desc) {
					break
				}
				used++
			}
			limits[i] = min(chunk, used+used/2+walkProbe)
		}
		if w.desc {
			w.hi = "(" + res.last
		} else {
			w.lo = "(" + res.last
		}
	}
}

// beyond reports whether index member a comes after b in the walk's order.
func beyond(a, b string, desc bool) bool {
	if desc {
		return a < b
	}
	return a > b
}

// loadRows reads the rows of index members; a row removed since the index
// read is nil. With pre, the filter fields are read first and only the rows
// pre accepts are read whole.
func (s *Store) loadRows(ctx context.Context, ms []string, pre func(*store.Task) bool, preFields []string) ([]*store.Task, error) {
	rows := make([]*store.Task, len(ms))
	want := make([]bool, len(ms))
	for i := range want {
		want[i] = true
	}
	if pre != nil {
		pipe := s.rdb.Pipeline()
		cmds := make([]*redis.SliceCmd, len(ms))
		fields := append([]string{"id"}, preFields...)
		for i, m := range ms {
			cmds[i] = pipe.HMGet(ctx, s.taskKey(m[16:]), fields...)
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return nil, mapErr(err)
		}
		for i, c := range cmds {
			vals := c.Val()
			if vals[0] == nil {
				want[i] = false
				continue
			}
			h := make(map[string]string, len(fields))
			for j, f := range fields {
				if v, ok := vals[j].(string); ok {
					h[f] = v
				}
			}
			t, err := decodeTask(h)
			if err != nil {
				return nil, err
			}
			want[i] = pre(t)
		}
	}
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.MapStringStringCmd, len(ms))
	n := 0
	for i, m := range ms {
		if want[i] {
			cmds[i] = pipe.HGetAll(ctx, s.taskKey(m[16:]))
			n++
		}
	}
	if n == 0 {
		return rows, nil
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, mapErr(err)
	}
	for i, c := range cmds {
		if c == nil || len(c.Val()) == 0 {
			continue
		}
		t, err := decodeTask(c.Val())
		if err != nil {
			return nil, err
		}
		rows[i] = t
	}
	return rows, nil
}

// List answers from the most selective index: the key hash for Key, the
// per (status, queue) indexes for Queue or Statuses (the union over the
// queues, or the statuses, not asked for), otherwise the index of all rows. The
// created range and the cursor are bounds of the index walk. Kind,
// Recurring and Search have no index: their rows are filtered while
// walking, reading the few filter fields before the whole row, and at most
// Opts.ListScanLimit entries are examined per call, or Filter.ScanLimit for
// a search when it is less (a page may then be short with a non-nil Next,
// and ScanLimited). Every filter is checked again on the row read,
// so a row that changed after the index read is never returned wrongly.
func (s *Store) List(ctx context.Context, f store.Filter) (store.Page, error) {
	if err := s.check(); err != nil {
		return store.Page{}, err
	}
	if err := f.Normalize(); err != nil {
		return store.Page{}, err
	}
	match := filterMatch(&f)
	if f.Key != "" {
		return s.listKey(ctx, &f, match)
	}
	sources, err := s.listSources(ctx, &f)
	if err != nil || len(sources) == 0 {
		return store.Page{}, err
	}
	lo, hi := listBounds(&f)
	w := walk{sources: sources, lo: lo, hi: hi, desc: !f.Oldest, match: match, want: f.Limit + 1, budget: s.scanLimit}
	if f.Search != "" && f.ScanLimit > 0 {
		w.budget = min(w.budget, f.ScanLimit)
	}
	if f.Kind != "" || f.Recurring != nil || f.Search != "" {
		w.pre = match
		w.preFields = []string{"k", "h", "key", "r", "s", "q", "c"}
	}
	res, err := s.walk(ctx, w)
	if err != nil {
		return store.Page{}, fmt.Errorf("list: %w", err)
	}
	if len(res.rows) <= f.Limit && !res.complete && res.last != "" {
		// The scan budget ran out: a short page that goes on where the
		// walk stopped.
		next, err := parseMember(res.last)
		if err != nil {
			return store.Page{}, err
		}
		return store.Page{Tasks: res.rows, Next: &next, ScanLimited: true}, nil
	}
	return f.Page(res.rows), nil
}

// listKey is List of a key: the row of the key, when it matches.
func (s *Store) listKey(ctx context.Context, f *store.Filter, match func(*store.Task) bool) (store.Page, error) {
	t, err := s.GetByKey(ctx, f.Key)
	if err != nil && !isNotFound(err) {
		return store.Page{}, err
	}
	var page store.Page
	if t != nil && match(t) && afterCursor(f, t) {
		page.Tasks = []*store.Task{t}
	}
	return page, nil
}

// listSources are the indexes a List walks: the (status, queue) sets of
// the statuses and queues asked for (every one of those not asked for) when
// either is, otherwise the index of all rows. None: nothing matches.
func (s *Store) listSources(ctx context.Context, f *store.Filter) ([]string, error) {
	statuses := slices.Compact(slices.Sorted(slices.Values(f.Statuses)))
	if f.Queue == "" && len(statuses) == 0 {
		return []string{s.p + "all"}, nil
	}
	queues := []string{f.Queue}
	if f.Queue == "" {
		var err error
		if queues, err = s.queues(ctx); err != nil {
			return nil, fmt.Errorf("list: %w", err)
		}
	}
	if len(statuses) == 0 {
		statuses = store.Statuses
	}
	var sources []string
	for _, st := range statuses {
		for _, q := range queues {
			sources = append(sources, s.p+"qs:"+string(st)+":"+q)
		}
	}
	return sources, nil
}

// listBounds are the ZRANGEBYLEX bounds of a List walk: the created range
// and the cursor.
func listBounds(f *store.Filter) (lo, hi string) {
	lo, hi = "-", "+"
	if !f.CreatedFrom.IsZero() {
		lo = "[" + orderKey(f.CreatedFrom)
	}
	if !f.CreatedBefore.IsZero() {
		hi = "(" + orderKey(f.CreatedBefore)
	}
	if !f.After.IsZero() {
		c := "(" + cursorMember(f.After)
		if f.Oldest {
			lo = maxBound(lo, c)
		} else {
			hi = minBound(hi, c)
		}
	}
	return lo, hi
}

func isNotFound(err error) bool { return errors.Is(err, store.ErrNotFound) }

func afterCursor(f *store.Filter, t *store.Task) bool {
	if f.After.IsZero() {
		return true
	}
	c := store.CursorOf(t)
	if f.Oldest {
		return f.After.Less(c)
	}
	return c.Less(f.After)
}

// maxBound and minBound pick the tighter of two ZRANGEBYLEX bounds; on
// equal text the exclusive one is tighter.
func maxBound(a, b string) string {
	if a == "-" {
		return b
	}
	if a[1:] > b[1:] || (a[1:] == b[1:] && a[0] == '(') {
		return a
	}
	return b
}

func minBound(a, b string) string {
	if a == "+" {
		return b
	}
	if a[1:] < b[1:] || (a[1:] == b[1:] && a[0] == '(') {
		return a
	}
	return b
}

// filterMatch checks every filter on a row (or a partial row holding the
// filter fields).
func filterMatch(f *store.Filter) func(*store.Task) bool {
	return func(t *store.Task) bool {
		if len(f.Statuses) > 0 && !slices.Contains(f.Statuses, t.Status) {
			return false
		}
		if f.Queue != "" && t.Queue != f.Queue {
			return false
		}
		if f.Kind != "" && t.Kind != f.Kind {
			return false
		}
		if f.Key != "" && t.Key != f.Key {
			return false
		}
		if f.Recurring != nil && t.Recurring != *f.Recurring {
			return false
		}
		if !f.CreatedFrom.IsZero() && t.CreatedAt.Before(f.CreatedFrom) {
			return false
		}
		if !f.CreatedBefore.IsZero() && !t.CreatedAt.Before(f.CreatedBefore) {
			return false
		}
		return f.Matches(t)
	}
}

// openStatuses are the statuses store.Recoverable accepts whatever the
// row's other fields say (run limit and RunUntil aside).
var openStatuses = func() []store.Status {
	var open []store.Status
	for _, st := range store.Statuses {
		if st.Open() {
			open = append(open, st)
		}
	}
	return open
}()

// RetrievePending walks, as one keyset union, the recoverable index (the
// recurring rows whose status, run limit and next run make them
// recoverable) and the (status, queue) sets of the open statuses (every
// row, recurring or not, that an open status makes recoverable). Every
// script that changes those fields keeps them. The run limit of a one-shot
// row and RunUntil are checked on the rows read (with the whole predicate,
// store.Recoverable, in case a row changed after the index read). The work
// per call is the page, the rows skipped (an expired RunUntil, which the
// engine ends when it sees them, or a one-shot row at its run limit), and
// one range read per source and chunk: 5 per queue, plus one, each of up to
// a chunk of entries. The engine calls it at start only.
func (s *Store) RetrievePending(ctx context.Context, p store.PendingParams) ([]*store.Task, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	err := p.Normalize()
	if err != nil {
		return nil, err
	}
	limit := p.Limit
	queues, err := s.queues(ctx)
	if err != nil {
		return nil, fmt.Errorf("retrieve pending: %w", err)
	}
	sources := make([]string, 0, 1+len(queues)*len(openStatuses))
	sources = append(sources, s.p+"rec")
	for _, q := range queues {
		for _, st := range openStatuses {
			sources = append(sources, s.p+"qs:"+string(st)+":"+q)
		}
	}
	lo, hi := "-", "+"
	if !p.After.IsZero() {
		lo = "(" + cursorMember(p.After)
	}
	if !p.CreatedBefore.IsZero() {
		hi = "(" + orderKey(p.CreatedBefore)
	}
	res, err := s.walk(ctx, walk{
		sources: sources, lo: lo, hi: hi, want: limit,
		match: func(t *store.Task) bool {
			return t.Recoverable(p.Now) && (p.CreatedBefore.IsZero() || t.CreatedAt.Before(p.CreatedBefore)) &&
				(p.After.IsZero() || p.After.Less(store.CursorOf(t)))
		},
	})
	if err != nil {
		return nil, fmt.Errorf("retrieve pending: %w", err)
	}
	return res.rows, nil
}

// queues returns every queue name the store has seen. The set grows with
// distinct names, never with rows.
func (s *Store) queues(ctx context.Context) ([]string, error) {
	qs, err := s.rdb.SMembers(ctx, s.p+"queues").Result()
	if err != nil {
		return nil, mapErr(err)
	}
	return qs, nil
}
