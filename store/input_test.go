package store_test

import (
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/evertask/evertask/store"
)

// foldAlphabet mixes ASCII, letters with three-rune orbits (k, K, the Kelvin
// sign; s, S, the long s), Greek sigmas, a rune without case and invalid
// UTF-8.
var foldAlphabet = []string{"a", "A", "k", "K", "\u212a", "s", "S", "\u017f", "σ", "ς", "Σ", "é", "É", "1", "-", "\xff"}

func randomText(r *rand.Rand, n int) string {
	var b strings.Builder
	for range n {
		b.WriteString(foldAlphabet[r.IntN(len(foldAlphabet))])
	}
	return b.String()
}

// The slow obvious answer: EqualFold on every substring of s of substr's
// rune length.
func containsFoldSlow(s, substr string) bool {
	rs, rsub := []rune(s), []rune(substr)
	for i := 0; i+len(rsub) <= len(rs); i++ {
		if strings.EqualFold(string(rs[i:i+len(rsub)]), string(rsub)) {
			return true
		}
	}
	return false
}

func TestContainsFoldAgreesWithEqualFold(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 20_000 {
		s, sub := randomText(r, r.IntN(6)), randomText(r, r.IntN(3))
		if strings.Contains(s+sub, "\xff") {
			// Invalid bytes decode to U+FFFD in every path but EqualFold's
			// string conversion; checked separately below.
			continue
		}
		want := containsFoldSlow(s, sub)
		if got := store.ContainsFold(s, sub); got != want {
			t.Fatalf("ContainsFold(%q, %q) = %v, want %v", s, sub, got, want)
		}
		if got := strings.Contains(store.Fold(s), store.Fold(sub)); got != want {
			t.Fatalf("Contains(Fold(%q), Fold(%q)) = %v, want %v", s, sub, got, want)
		}
		if got, want := store.Fold(s) == store.Fold(sub), strings.EqualFold(s, sub); got != want {
			t.Fatalf("Fold(%q) == Fold(%q) is %v, EqualFold %v", s, sub, got, want)
		}
	}
	if !store.ContainsFold("x\xffy", "\xff") || !store.ContainsFold("anything", "") || store.ContainsFold("", "a") {
		t.Error("ContainsFold: invalid bytes, empty substring or empty text")
	}
}

// The pairs the Redis store tested its own fold with, before it used Fold.
func TestFoldMatchesEqualFold(t *testing.T) {
	pairs := [][2]string{
		{"Straße", "STRASSE"}, {"ÄÖÜ", "äöü"}, {"\u212a", "k"}, {"Σίσυφος", "ΣΊΣΥΦΟΣ"}, {"abc", "abd"}, {"ǅ", "ǆ"},
	}
	for _, p := range pairs {
		if got, want := store.Fold(p[0]) == store.Fold(p[1]), strings.EqualFold(p[0], p[1]); got != want {
			t.Errorf("Fold(%q) == Fold(%q) is %v, strings.EqualFold says %v", p[0], p[1], got, want)
		}
	}
}

func TestNormalize(t *testing.T) {
	f := store.Filter{}
	if err := f.Normalize(); err != nil || f.Limit != store.DefaultListLimit {
		t.Errorf("zero Filter: limit %d, %v", f.Limit, err)
	}
	f = store.Filter{Limit: store.MaxListLimit + 1}
	if err := f.Normalize(); err != nil || f.Limit != store.MaxListLimit {
		t.Errorf("big limit: %d, %v", f.Limit, err)
	}
	invalid := map[string]func() error{
		"Filter status":       func() error { f := store.Filter{Statuses: []store.Status{"Nope"}}; return f.Normalize() },
		"Filter limit":        func() error { f := store.Filter{Limit: -1}; return f.Normalize() },
		"PendingParams limit": func() error { p := store.PendingParams{Limit: -1}; return p.Normalize() },
		"LogQuery offset":     func() error { q := store.LogQuery{Offset: -1}; return q.Normalize() },
		"LogQuery limit":      func() error { q := store.LogQuery{Limit: -1}; return q.Normalize() },
		"RetentionPolicy":     func() error { p := store.RetentionPolicy{BatchSize: -1}; return p.Normalize() },
		"RescueParams limit": func() error {
			p := store.RescueParams{Limit: -1, Now: time.Unix(1, 0)}
			return p.Normalize()
		},
	}
	for name, fn := range invalid {
		if err := fn(); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
	p, q, rp := store.PendingParams{}, store.LogQuery{}, store.RetentionPolicy{}
	rs := store.RescueParams{Now: time.Unix(1, 0)}
	if p.Normalize() != nil || q.Normalize() != nil || rp.Normalize() != nil || rs.Normalize() != nil ||
		p.Limit != store.DefaultPendingLimit || q.Limit != store.DefaultLogLimit ||
		rp.BatchSize != store.DefaultPurgeBatch || rs.Limit != store.DefaultPendingLimit {
		t.Errorf("defaults: pending %d, logs %d, purge %d, rescue %d", p.Limit, q.Limit, rp.BatchSize, rs.Limit)
	}
}

func TestFilterPage(t *testing.T) {
	f := store.Filter{Limit: 2}
	if err := f.Normalize(); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tasks := []*store.Task{{ID: uuid.New(), CreatedAt: at}, {ID: uuid.New(), CreatedAt: at.Add(time.Second)}, {ID: uuid.New()}}
	if p := f.Page(tasks[:2]); len(p.Tasks) != 2 || p.Next != nil {
		t.Fatalf("a read of Limit rows is the last page: %d rows, next %v", len(p.Tasks), p.Next)
	}
	p := f.Page(tasks)
	if len(p.Tasks) != 2 || p.Next == nil || *p.Next != store.CursorOf(tasks[1]) {
		t.Fatalf("a read of Limit+1 rows: %d rows, next %v, want the cursor of the second", len(p.Tasks), p.Next)
	}
}
