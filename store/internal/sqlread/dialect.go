// Package sqlread builds the read statements the SQL stores share (the
// filter of List, the counts, the history of a task) from one description of
// a store's SQL, its Dialect, and scans their rows into store types.
//
// What differs from store to store is data in the Dialect: how parameters
// are written ($1 or ?), the names of a few columns, the case-insensitive
// search and level expressions, the keyset comparison, and how times and ids
// travel to and from the driver. The shape of every statement, which
// parameters it takes in which order, and the loops that read the rows are
// written once here. Each store fills in a Dialect beside its statements; the
// package imports no driver.
//
// The hot-path statements (claims, transitions, inserts, leases) are not
// here: each is tuned to one database, and they share no shape worth a
// builder.
package sqlread

import (
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/evertask/evertask/store"
)

// A Dialect describes the SQL of one store. Templates name their parameters
// in braces ({needle}); the builder writes each as the dialect's parameter
// and binds the value. No value is ever written into the text.
type Dialect struct {
	// Numbered writes parameters as $1, $2, ..., and a value used twice in
	// a statement is one parameter (PostgreSQL). Otherwise every use is a
	// ? of its own that binds the value again.
	Numbered bool

	// Tables are the quoted names of the tables.
	Tables Tables
	// TaskColumns is the column list a List selects (the order the store's
	// scan reads).
	TaskColumns string
	// Key is the column of Task.Key; Error the column of the error text in
	// the history tables.
	Key, Error string
	// LogOrder is the order of a task's logs: (ID, Seq) and a tie-break.
	LogOrder string
	// CountFrom, when set, is what the counts read instead of Tables.Tasks:
	// the table with an index hint.
	CountFrom string

	// StatusArray, when set, matches two or more statuses with one array
	// parameter {statuses} (their names as a []string); otherwise they are
	// an IN list, one parameter each.
	StatusArray string
	// Search is the condition of Filter.Search on kind, handler and the
	// key: {needle} contains the search text.
	Search string
	// Level is LogsPage's level condition on {level}; '' matches every log.
	Level string
	// FoldArgs folds the search text and the level with store.Fold before
	// they are bound: Search and Level then fold the columns by the same
	// rule (a store whose database cannot fold Unicode).
	FoldArgs bool
	// After is the keyset condition of List: the rows past the cursor
	// ({at}, {id}) in the page's order, where {cmp} is < (newest first) or >.
	After string
	// Until is the other end of a search that Filter.ScanLimit bounds: the
	// rows up to and including the cursor ({at}, {id}) in the page's order,
	// where {cmp} is > (newest first) or < and {cmp}= includes the cursor's
	// row. Like After, it must bound the index walk, so the walk stops there.
	Until string

	// Plan, when set, helps the database's planner with a filter: hint is
	// written right after the table (an index hint), cond is the first
	// condition of the WHERE clause. Both are fixed text, never input.
	Plan func(f *store.Filter) (hint, cond string)

	// Time is a time as a parameter (a bound of the created range), Cursor
	// a cursor's time, ID an id; Bool, when set, a boolean.
	Time, Cursor func(time.Time) any
	ID           func(uuid.UUID) any
	Bool         func(bool) any
	// MinTime is the lowest time as a parameter; nil leaves the created_at
	// condition out of a count that has no CreatedFrom.
	MinTime any

	// TimeDest, IDDest and TextDest are where a scan writes a time, an id
	// and a text column that may be NULL; nil TextDest scans into the
	// *string itself.
	TimeDest func(*time.Time) any
	IDDest   func(*uuid.UUID) any
	TextDest func(*string) any
}

// Tables are the quoted names of a store's tables.
type Tables struct {
	Tasks, StatusAudits, RunsAudits, Logs, Attempts string
}

// Query is a statement and its parameters, ready for the driver.
type Query struct {
	Text string
	Args []any
}

// param is a named value of a template.
type param struct {
	name  string
	value any
}

// builder writes one statement.
type builder struct {
	d    *Dialect
	text strings.Builder
	args []any
}

// add writes tmpl with each {name} replaced by the parameter of the value of
// that name. With numbered parameters a name used twice in tmpl is one
// parameter; with ? each use binds the value again.
func (b *builder) add(tmpl string, params ...param) {
	var numbers []int // the parameter number of params[i], 0 until used
	if b.d.Numbered {
		numbers = make([]int, len(params))
	}
	for {
		open := strings.IndexByte(tmpl, '{')
		if open < 0 {
			b.text.WriteString(tmpl)
			return
		}
		end := strings.IndexByte(tmpl[open:], '}')
		if end < 0 {
			panic("sqlread: unclosed { in template " + tmpl)
		}
		b.text.WriteString(tmpl[:open])
		name := tmpl[open+1 : open+end]
		tmpl = tmpl[open+end+1:]
		i := 0
		for i < len(params) && params[i].name != name {
			i++
		}
		if i == len(params) {
			panic("sqlread: no value for {" + name + "}")
		}
		if !b.d.Numbered {
			b.args = append(b.args, params[i].value)
			b.text.WriteByte('?')
			continue
		}
		if numbers[i] == 0 {
			b.args = append(b.args, params[i].value)
			numbers[i] = len(b.args)
		}
		b.text.WriteByte('$')
		b.text.WriteString(strconv.Itoa(numbers[i]))
	}
}

func (b *builder) query() Query { return Query{Text: b.text.String(), Args: b.args} }

// where writes the conditions joined by AND after a WHERE; none writes
// nothing. Each is a template with its values.
type cond struct {
	tmpl   string
	params []param
}

func (b *builder) where(conds []cond) {
	for i, c := range conds {
		if i == 0 {
			b.text.WriteString(" WHERE ")
		} else {
			b.text.WriteString(" AND ")
		}
		b.add(c.tmpl, c.params...)
	}
}

func (d *Dialect) fold(s string) string {
	if d.FoldArgs {
		return store.Fold(s)
	}
	return s
}

func (d *Dialect) boolArg(v bool) any {
	if d.Bool != nil {
		return d.Bool(v)
	}
	return v
}
