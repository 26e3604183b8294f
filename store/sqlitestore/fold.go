package sqlitestore

import (
	"database/sql/driver"
	"strings"
	"unicode"
	"unicode/utf8"

	"modernc.org/sqlite"
)

// foldFunc is the SQL name of fold. SQLite's lower() and LIKE fold only
// ASCII, so search registers Go's simple Unicode case folding instead.
const foldFunc = "evertask_fold"

// fold maps every rune to one representative of its simple case-folding
// orbit (the smallest rune of it), so two strings are equal under
// strings.EqualFold exactly when their folds are equal, and a folded
// substring test is a case-insensitive substring test.
func fold(s string) string { return strings.Map(foldRune, s) }

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

func sqlFold(_ *sqlite.FunctionContext, args []driver.Value) (driver.Value, error) {
	switch v := args[0].(type) {
	case string:
		return fold(v), nil
	case []byte:
		return fold(string(v)), nil
	case nil:
		return nil, nil
	}
	return args[0], nil
}
