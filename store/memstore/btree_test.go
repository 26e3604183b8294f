package memstore

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestBTreeMatchesSortedSlice checks the index against the obvious answer:
// a sorted slice, after random inserts and deletes, walking both ways from
// random positions.
func TestBTreeMatchesSortedSlice(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	var tr btree
	var ref []ikey
	randKey := func() ikey { return ikey{us: rng.Int64N(300), hi: rng.Uint64N(4), lo: rng.Uint64N(4)} }
	for step := range 20000 {
		k := randKey()
		i, found := slices.BinarySearchFunc(ref, k, compareKeys)
		if rng.IntN(3) == 0 {
			if got := tr.delete(k); got != found {
				t.Fatalf("step %d: delete(%v) = %v, want %v", step, k, got, found)
			}
			if found {
				ref = slices.Delete(ref, i, i+1)
			}
		} else {
			tr.insert(entry{k: k})
			if !found {
				ref = slices.Insert(ref, i, k)
			}
		}
		if tr.len() != len(ref) {
			t.Fatalf("step %d: len %d, want %d", step, tr.len(), len(ref))
		}
		if step%97 != 0 {
			continue
		}
		from, incl := randKey(), rng.IntN(2) == 0
		var got, want []ikey
		tr.ascend(from, incl, func(e *entry) bool { got = append(got, e.k); return true })
		for _, r := range ref {
			if from.less(r) || incl && r == from {
				want = append(want, r)
			}
		}
		if !slices.Equal(got, want) {
			t.Fatalf("step %d: ascend(%v, %v) = %v, want %v", step, from, incl, got, want)
		}
		got, want = got[:0], want[:0]
		tr.descend(from, incl, func(e *entry) bool { got = append(got, e.k); return true })
		for _, r := range slices.Backward(ref) {
			if r.less(from) || incl && r == from {
				want = append(want, r)
			}
		}
		if !slices.Equal(got, want) {
			t.Fatalf("step %d: descend(%v, %v) = %v, want %v", step, from, incl, got, want)
		}
	}
	// Drain completely: every key goes and the tree ends empty.
	for _, k := range ref {
		if !tr.delete(k) {
			t.Fatalf("drain: %v missing", k)
		}
	}
	if tr.len() != 0 {
		t.Fatalf("drained tree has %d entries", tr.len())
	}
}

// TestBTreeAppendAndDrain covers the append-optimized split and the node
// free list: time-ordered inserts, removals in random order, refills.
func TestBTreeAppendAndDrain(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(3, 4))
	var tr btree
	var ref []ikey
	next := int64(0)
	for round := range 6 {
		for range 3000 {
			next++
			k := ikey{us: next}
			tr.insert(entry{k: k})
			ref = append(ref, k)
		}
		rng.Shuffle(len(ref), func(i, j int) { ref[i], ref[j] = ref[j], ref[i] })
		drop := len(ref) / 2
		if round%2 == 1 {
			drop = len(ref) // empty the tree completely every other round
		}
		for _, k := range ref[:drop] {
			if !tr.delete(k) {
				t.Fatalf("round %d: %v missing", round, k)
			}
		}
		ref = ref[drop:]
		slices.SortFunc(ref, compareKeys)
		var got []ikey
		tr.ascend(minKey, true, func(e *entry) bool { got = append(got, e.k); return true })
		if !slices.Equal(got, ref) || tr.len() != len(ref) {
			t.Fatalf("round %d: %d keys in order %v, want %d", round, len(got), slices.Equal(got, ref), len(ref))
		}
	}
}
