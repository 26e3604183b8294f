package memstore

import (
	"encoding/binary"
	"math"
	"time"

	"github.com/google/uuid"
)

// ikey is a row's position in keyset order over (CreatedAt, ID). CreatedAt is
// kept as Unix microseconds, which is exact because stores keep microsecond
// precision, and the id as two big-endian words, which compare like its 16
// bytes (store.Cursor.Less).
type ikey struct {
	us     int64
	hi, lo uint64
}

var (
	minKey = ikey{us: math.MinInt64}
	maxKey = ikey{us: math.MaxInt64, hi: math.MaxUint64, lo: math.MaxUint64}
)

func keyOf(createdAt time.Time, id uuid.UUID) ikey {
	return ikey{
		us: createdAt.UnixMicro(),
		hi: binary.BigEndian.Uint64(id[:8]),
		lo: binary.BigEndian.Uint64(id[8:]),
	}
}

func (a ikey) less(b ikey) bool {
	if a.us != b.us {
		return a.us < b.us
	}
	if a.hi != b.hi {
		return a.hi < b.hi
	}
	return a.lo < b.lo
}

// ceilMicro returns the first whole microsecond at or after t, so a bound of
// any precision compares exactly against microsecond row times.
func ceilMicro(t time.Time) int64 {
	us := t.UnixMicro()
	if t.Nanosecond()%1000 != 0 {
		us++
	}
	return us
}

// entry is one slot of an index: the key inline (so a search touches no row)
// and the row it points to.
type entry struct {
	k ikey
	r *row
}

// btree is an ordered index with O(log n) insert and delete and ordered
// iteration from any position, in the shape of google/btree (preemptive
// splits on the way down, grow-then-remove on delete) specialized to entry
// so comparisons inline. Wide nodes keep the tree shallow and cache friendly
// at millions of rows. Not safe for concurrent use: the Store's lock guards it.
type btree struct {
	root *node
	n    int
	free []*node // nodes dropped by merges, reused by splits
}

const (
	maxItems = 127
	minItems = maxItems / 2
)

type node struct {
	items    []entry
	children []*node // nil in a leaf
}

// maxFree bounds the free list: enough to absorb the churn of an index
// that grows and shrinks by a batch, as the in-flight statuses do.
const maxFree = 16

func (t *btree) newNode(leaf bool) *node {
	var n *node
	if k := len(t.free); k > 0 {
		n = t.free[k-1]
		t.free[k-1] = nil
		t.free = t.free[:k-1]
	} else {
		n = &node{items: make([]entry, 0, maxItems)}
	}
	if leaf {
		n.children = nil
	} else if n.children == nil {
		n.children = make([]*node, 0, maxItems+1)
	}
	return n
}

func (t *btree) freeNode(n *node) {
	clear(n.items[:cap(n.items)])
	n.items = n.items[:0]
	if n.children != nil {
		clear(n.children[:cap(n.children)])
		n.children = n.children[:0]
	}
	if len(t.free) < maxFree {
		t.free = append(t.free, n)
	}
}

func (t *btree) len() int { return t.n }

// insert adds e; a present key is replaced.
func (t *btree) insert(e entry) {
	if t.root == nil {
		t.root = t.newNode(true)
	}
	if len(t.root.items) >= maxItems {
		mid, second := t.root.split(t, maxItems/2)
		old := t.root
		t.root = t.newNode(false)
		t.root.items = append(t.root.items, mid)
		t.root.children = append(t.root.children, old, second)
	}
	if t.root.insert(t, e) {
		t.n++
	}
}

// delete removes the key and reports whether it was present.
func (t *btree) delete(k ikey) bool {
	if t.root == nil || len(t.root.items) == 0 {
		return false
	}
	_, ok := t.root.remove(t, k, removeItem)
	if len(t.root.items) == 0 && len(t.root.children) > 0 {
		old := t.root
		t.root = t.root.children[0]
		t.freeNode(old)
	}
	if ok {
		t.n--
	}
	return ok
}

// ascend calls fn for the entries after from (at or after it when incl) in
// ascending order until fn returns false.
func (t *btree) ascend(from ikey, incl bool, fn func(*entry) bool) {
	if t.root != nil {
		t.root.ascend(from, incl, fn)
	}
}

// descend calls fn for the entries before from (at or before it when incl)
// in descending order until fn returns false.
func (t *btree) descend(from ikey, incl bool, fn func(*entry) bool) {
	if t.root != nil {
		t.root.descend(from, incl, fn)
	}
}

// find returns the index of the first item >= k and whether it equals k.
func (n *node) find(k ikey) (int, bool) {
	// Time-ordered keys mostly arrive, and leave, at the right edge: one
	// comparison there spares a binary search over cold cache lines.
	last := len(n.items) - 1
	if last < 0 {
		return 0, false
	}
	if lk := n.items[last].k; lk.less(k) {
		return last + 1, false
	} else if lk == k {
		return last, true
	}
	lo, hi := 0, last
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if n.items[m].k.less(k) {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo, lo < len(n.items) && n.items[lo].k == k
}

// split moves the items after i (and their children) to a new node and
// returns item i with that node.
func (n *node) split(t *btree, i int) (entry, *node) {
	item := n.items[i]
	next := t.newNode(n.children == nil)
	next.items = append(next.items, n.items[i+1:]...)
	clear(n.items[i:])
	n.items = n.items[:i]
	if n.children != nil {
		next.children = append(next.children, n.children[i+1:]...)
		clear(n.children[i+1:])
		n.children = n.children[:i+1]
	}
	return item, next
}

func (n *node) insert(t *btree, e entry) bool {
	i, found := n.find(e.k)
	if found {
		n.items[i] = e
		return false
	}
	if n.children == nil {
		n.items = insertAt(n.items, i, e)
		return true
	}
	if c := n.children[i]; len(c.items) >= maxItems {
		at := maxItems / 2
		if c.children == nil && i == len(n.items) && c.items[len(c.items)-1].k.less(e.k) {
			// Appending past the right edge, as time-ordered keys do: keep
			// the left leaf full instead of leaving two half-empty ones.
			at = maxItems - 1
		}
		mid, second := c.split(t, at)
		n.items = insertAt(n.items, i, mid)
		n.children = insertAt(n.children, i+1, second)
		switch {
		case e.k.less(mid.k):
		case mid.k.less(e.k):
			i++
		default:
			n.items[i] = e
			return false
		}
	}
	return n.children[i].insert(t, e)
}

type removeKind int8

const (
	removeItem removeKind = iota
	removeMax
)

func (n *node) remove(t *btree, k ikey, kind removeKind) (entry, bool) {
	var i int
	var found bool
	switch kind {
	case removeMax:
		if n.children == nil {
			last := n.items[len(n.items)-1]
			n.items[len(n.items)-1] = entry{}
			n.items = n.items[:len(n.items)-1]
			return last, true
		}
		i = len(n.items)
	default:
		i, found = n.find(k)
		if n.children == nil {
			if !found {
				return entry{}, false
			}
			out := n.items[i]
			n.items = removeAt(n.items, i)
			return out, true
		}
	}
	if len(n.children[i].items) <= minItems {
		return n.growChildAndRemove(t, i, k, kind)
	}
	child := n.children[i]
	if found {
		out := n.items[i]
		n.items[i], _ = child.remove(t, ikey{}, removeMax)
		return out, true
	}
	return child.remove(t, k, kind)
}

// growChildAndRemove gives child i more than minItems items, by stealing
// from a sibling or merging with one, then retries the removal.
func (n *node) growChildAndRemove(t *btree, i int, k ikey, kind removeKind) (entry, bool) {
	switch {
	case i > 0 && len(n.children[i-1].items) > minItems:
		child, from := n.children[i], n.children[i-1]
		stolen := from.items[len(from.items)-1]
		from.items[len(from.items)-1] = entry{}
		from.items = from.items[:len(from.items)-1]
		child.items = insertAt(child.items, 0, n.items[i-1])
		n.items[i-1] = stolen
		if from.children != nil {
			c := from.children[len(from.children)-1]
			from.children[len(from.children)-1] = nil
			from.children = from.children[:len(from.children)-1]
			child.children = insertAt(child.children, 0, c)
		}
	case i < len(n.items) && len(n.children[i+1].items) > minItems:
		child, from := n.children[i], n.children[i+1]
		stolen := from.items[0]
		from.items = removeAt(from.items, 0)
		child.items = append(child.items, n.items[i])
		n.items[i] = stolen
		if from.children != nil {
			child.children = append(child.children, from.children[0])
			from.children = removeAt(from.children, 0)
		}
	default:
		if i >= len(n.items) {
			i--
		}
		child, merge := n.children[i], n.children[i+1]
		child.items = append(child.items, n.items[i])
		child.items = append(child.items, merge.items...)
		if child.children != nil {
			child.children = append(child.children, merge.children...)
		}
		n.items = removeAt(n.items, i)
		n.children = removeAt(n.children, i+1)
		t.freeNode(merge)
	}
	return n.remove(t, k, kind)
}

func (n *node) ascend(from ikey, incl bool, fn func(*entry) bool) bool {
	i, _ := n.find(from)
	for ; i < len(n.items); i++ {
		if n.children != nil && !n.children[i].ascend(from, incl, fn) {
			return false
		}
		e := &n.items[i]
		if !incl && e.k == from {
			continue
		}
		if !fn(e) {
			return false
		}
	}
	if n.children != nil {
		return n.children[len(n.items)].ascend(from, incl, fn)
	}
	return true
}

func (n *node) descend(from ikey, incl bool, fn func(*entry) bool) bool {
	i, found := n.find(from)
	if found && incl && !fn(&n.items[i]) {
		return false
	}
	if n.children != nil && !n.children[i].descend(from, incl, fn) {
		return false
	}
	for j := i - 1; j >= 0; j-- {
		if !fn(&n.items[j]) {
			return false
		}
		if n.children != nil && !n.children[j].descend(from, incl, fn) {
			return false
		}
	}
	return true
}

func insertAt[T any](s []T, i int, v T) []T {
	var zero T
	s = append(s, zero)
	copy(s[i+1:], s[i:])
	s[i] = v
	return s
}

func removeAt[T any](s []T, i int) []T {
	copy(s[i:], s[i+1:])
	var zero T
	s[len(s)-1] = zero
	return s[:len(s)-1]
}
