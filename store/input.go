package store

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// The per-call input rules of the read methods live here, one Normalize
// method per params type, so every store rejects the same input with the
// same wrapped ErrInvalid and applies the same defaults. A store calls the
// method first (after its closed check) on its own copy of the params and
// then reads the normalized fields: it never repeats a rule.

// Normalize checks f for List and applies its defaults: an unknown status or
// a negative Limit is ErrInvalid; Limit becomes the page size
// (DefaultListLimit for 0, at most MaxListLimit).
func (f *Filter) Normalize() error {
	for _, st := range f.Statuses {
		if !st.Valid() {
			return errInvalid("unknown status %q in filter", st)
		}
	}
	limit, err := NormalizeLimit(f.Limit, DefaultListLimit, MaxListLimit)
	if err != nil {
		return err
	}
	f.Limit = limit
	return nil
}

// Normalize checks p for RetrievePending: a negative Limit is ErrInvalid; 0
// becomes DefaultPendingLimit.
func (p *PendingParams) Normalize() error {
	limit, err := NormalizeLimit(p.Limit, DefaultPendingLimit, 0)
	if err != nil {
		return err
	}
	p.Limit = limit
	return nil
}

// Normalize checks q for LogsPage: a negative Offset or Limit is ErrInvalid;
// a Limit of 0 becomes DefaultLogLimit.
func (q *LogQuery) Normalize() error {
	if q.Offset < 0 {
		return errInvalid("negative offset %d", q.Offset)
	}
	limit, err := NormalizeLimit(q.Limit, DefaultLogLimit, 0)
	if err != nil {
		return err
	}
	q.Limit = limit
	return nil
}

// Normalize checks p for Purge: a negative BatchSize is ErrInvalid; 0
// becomes DefaultPurgeBatch. Ages need no check: any age <= 0 disables its
// rule.
func (p *RetentionPolicy) Normalize() error {
	batch, err := NormalizeLimit(p.BatchSize, DefaultPurgeBatch, 0)
	if err != nil {
		return err
	}
	p.BatchSize = batch
	return nil
}

// Normalize checks p for Rescue (Validate) and applies the default page
// size: a Limit of 0 becomes DefaultPendingLimit, a negative one is
// ErrInvalid.
func (p *RescueParams) Normalize() error {
	if err := p.Validate(); err != nil {
		return err
	}
	limit, err := NormalizeLimit(p.Limit, DefaultPendingLimit, 0)
	if err != nil {
		return err
	}
	p.Limit = limit
	return nil
}

// Fold returns s in the canonical form of Filter.Search's case folding:
// every rune becomes the smallest rune of its simple Unicode case-folding
// orbit, so Fold(a) == Fold(b) exactly when strings.EqualFold(a, b), and a
// substring test on folded strings is a case-insensitive one. A store whose
// backend cannot fold Unicode (SQLite's lower() folds ASCII only) stores or
// computes Fold of the searched columns and compares it with Fold(Search).
func Fold(s string) string { return strings.Map(foldRune, s) }

func foldRune(r rune) rune {
	if r < utf8.RuneSelf {
		// The smallest rune of an ASCII letter's orbit is its upper case.
		if 'a' <= r && r <= 'z' {
			return r - 'a' + 'A'
		}
		return r
	}
	m := r
	for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
		m = min(m, f)
	}
	return m
}

// ContainsFold reports whether substr occurs in s ignoring case by the rule
// of Filter.Search (simple Unicode case folding); it is
// strings.Contains(Fold(s), Fold(substr)) without allocating, for stores
// that match Search in Go, row by row.
func ContainsFold(s, substr string) bool {
	if substr == "" {
		return true
	}
	for i := range s {
		if hasPrefixFold(s[i:], substr) {
			return true
		}
	}
	return false
}

func hasPrefixFold(s, prefix string) bool {
	for _, want := range prefix {
		if s == "" {
			return false
		}
		r, n := utf8.DecodeRuneInString(s)
		if r != want && foldRune(r) != foldRune(want) {
			return false
		}
		s = s[n:]
	}
	return true
}

// Matches reports whether t passes f's Search: its Kind, Handler or Key
// contains Search ignoring case. An empty Search matches every row.
func (f *Filter) Matches(t *Task) bool {
	return f.Search == "" || ContainsFold(t.Kind, f.Search) ||
		ContainsFold(t.Handler, f.Search) || ContainsFold(t.Key, f.Search)
}
