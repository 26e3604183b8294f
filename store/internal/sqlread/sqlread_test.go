package sqlread

import (
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/evertask/evertask/store"
)

// dialects are two made-up dialects, one of each parameter style, with
// templates that use a value more than once.
func dialects() map[string]*Dialect {
	base := func(numbered bool) *Dialect {
		return &Dialect{
			Numbered:    numbered,
			Tables:      Tables{Tasks: "t", StatusAudits: "sa", RunsAudits: "ra", Logs: "l", Attempts: "a"},
			TaskColumns: "id, created_at", Key: "k", Error: "e", LogOrder: "id, seq",
			Search: "(f(kind, {needle}) OR f(handler, {needle}) OR f(k, {needle}))",
			Level:  "({level} = '' OR level = {level})",
			After:  "(created_at {cmp} {at} OR (created_at = {at} AND id {cmp} {id}))",
			Until:  "(created_at {cmp} {at} OR (created_at = {at} AND id {cmp}= {id}))",
			Time:   func(t time.Time) any { return t.UnixMicro() }, Cursor: func(t time.Time) any { return t.UnixMicro() },
			ID: func(id uuid.UUID) any { return id.String() },
		}
	}
	arrays := base(true)
	arrays.StatusArray = "status = ANY({statuses})"
	return map[string]*Dialect{"numbered": base(true), "question marks": base(false), "arrays": arrays}
}

// filters are every combination of List's filters.
func filters(t *testing.T) []store.Filter {
	yes := true
	at := time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC)
	var out []store.Filter
	for _, sts := range [][]store.Status{nil, {store.StatusFailed}, {store.StatusQueued, store.StatusFailed, store.StatusCompleted}} {
		for mask := range 1 << 9 {
			f := store.Filter{Statuses: sts, Oldest: mask&256 != 0}
			if mask&1 != 0 {
				f.Queue = "q"
			}
			if mask&2 != 0 {
				f.Kind = "k"
			}
			if mask&4 != 0 {
				f.Key = "key"
			}
			if mask&8 != 0 {
				f.Recurring = &yes
			}
			if mask&16 != 0 {
				f.CreatedFrom = at
			}
			if mask&32 != 0 {
				f.CreatedBefore = at.Add(time.Hour)
			}
			if mask&64 != 0 {
				f.Search = "x' OR 1=1 --"
			}
			if mask&128 != 0 {
				f.After = store.Cursor{CreatedAt: at, ID: uuid.New()}
			}
			if err := f.Normalize(); err != nil {
				t.Fatal(err)
			}
			out = append(out, f)
		}
	}
	return out
}

var numberedParam = regexp.MustCompile(`\$[0-9]+`)

// checkParams fails unless q's parameters and arguments agree: with ?,
// one argument each; numbered, exactly $1..$n for n arguments.
func checkParams(t *testing.T, d *Dialect, q Query) {
	t.Helper()
	if !d.Numbered {
		if n := strings.Count(q.Text, "?"); n != len(q.Args) {
			t.Fatalf("%d placeholders, %d arguments: %s", n, len(q.Args), q.Text)
		}
		return
	}
	seen := map[int]bool{}
	for _, p := range numberedParam.FindAllString(q.Text, -1) {
		n, _ := strconv.Atoi(p[1:])
		seen[n] = true
	}
	for n := 1; n <= len(q.Args); n++ {
		if !seen[n] {
			t.Fatalf("$%d of %d arguments unused: %s", n, len(q.Args), q.Text)
		}
	}
	if len(seen) != len(q.Args) {
		t.Fatalf("%d parameters, %d arguments: %s", len(seen), len(q.Args), q.Text)
	}
}

func TestListParamsMatchArgs(t *testing.T) {
	for name, d := range dialects() {
		t.Run(name, func(t *testing.T) {
			for _, f := range filters(t) {
				q := d.ListQuery(&f)
				checkParams(t, d, q)
				if strings.Contains(q.Text, "1=1") || strings.Contains(q.Text, "{") {
					t.Fatalf("a value or a template marker in the text: %s", q.Text)
				}
				if q.Args[len(q.Args)-1] != f.Limit+1 {
					t.Fatalf("limit %v, want %d (one more than the page)", q.Args[len(q.Args)-1], f.Limit+1)
				}
				f.ScanLimit = 7
				bound := d.ScanBoundQuery(&f)
				checkParams(t, d, bound)
				if strings.Contains(bound.Text, "f(kind") || bound.Args[len(bound.Args)-1] != 6 || !strings.HasPrefix(bound.Text, "SELECT created_at, id FROM t") {
					t.Fatalf("the bound of a search is the 7th row's position without the search (offset 6): %s %v", bound.Text, bound.Args)
				}
				until := store.Cursor{CreatedAt: time.Unix(1, 0), ID: uuid.New()}
				limited := d.ScanLimitedListQuery(&f, until)
				checkParams(t, d, limited)
				if len(limited.Args) <= len(q.Args) || !slices.Contains(limited.Args, any(until.ID.String())) || limited.Args[len(limited.Args)-1] != f.Limit+1 {
					t.Fatalf("a bounded list is the list and the bound: %s %v", limited.Text, limited.Args)
				}
			}
		})
	}
}

func TestListBindsEachFilter(t *testing.T) {
	d := dialects()["question marks"]
	no := false
	from := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f := store.Filter{Statuses: []store.Status{store.StatusQueued}, Queue: "q", Kind: "k", Key: "key", Recurring: &no,
		CreatedFrom: from, CreatedBefore: from.Add(time.Hour), Search: "s", After: store.Cursor{CreatedAt: from.Add(time.Minute), ID: uuid.Nil}}
	if err := f.Normalize(); err != nil {
		t.Fatal(err)
	}
	q := d.ListQuery(&f)
	want := []any{"Queued", "q", "k", "key", false, from.UnixMicro(), from.Add(time.Hour).UnixMicro(), "s", "s", "s",
		from.Add(time.Minute).UnixMicro(), from.Add(time.Minute).UnixMicro(), uuid.Nil.String(), store.DefaultListLimit + 1}
	if !slices.Equal(q.Args, want) {
		t.Fatalf("args %v\nwant %v\ntext %s", q.Args, want, q.Text)
	}
	if !strings.Contains(q.Text, "ORDER BY created_at DESC, id DESC") || !strings.Contains(q.Text, "created_at < ? OR") {
		t.Fatalf("newest first wants the descending order and keyset: %s", q.Text)
	}
	f.Oldest = true
	if q := d.ListQuery(&f); !strings.Contains(q.Text, "ORDER BY created_at ASC, id ASC") || !strings.Contains(q.Text, "created_at > ? OR") {
		t.Fatalf("oldest first wants the ascending order and keyset: %s", q.Text)
	}
}

func TestScanLimitedBounds(t *testing.T) {
	d := dialects()["question marks"]
	f := store.Filter{Search: "s", ScanLimit: 10}
	if err := f.Normalize(); err != nil {
		t.Fatal(err)
	}
	until := store.Cursor{CreatedAt: time.Unix(1, 0), ID: uuid.Nil}
	for _, c := range []struct {
		oldest bool
		upto   string
	}{
		{false, "(created_at > ? OR (created_at = ? AND id >= ?))"},
		{true, "(created_at < ? OR (created_at = ? AND id <= ?))"},
	} {
		f.Oldest = c.oldest
		if q := d.ScanLimitedListQuery(&f, until); !strings.Contains(q.Text, c.upto) {
			t.Fatalf("oldest %v: want the rows up to and including the bound, %s, in %s", c.oldest, c.upto, q.Text)
		}
	}
}

func TestNumberedValueUsedTwiceIsOneParam(t *testing.T) {
	d := dialects()["numbered"]
	f := store.Filter{Queue: "q", Search: "s"}
	if err := f.Normalize(); err != nil {
		t.Fatal(err)
	}
	q := d.ListQuery(&f)
	if want := "WHERE queue = $1 AND (f(kind, $2) OR f(handler, $2) OR f(k, $2)) ORDER BY created_at DESC, id DESC LIMIT $3"; !strings.HasSuffix(q.Text, want) {
		t.Fatalf("got  %s\nwant ...%s", q.Text, want)
	}
	if len(q.Args) != 3 {
		t.Fatalf("args %v", q.Args)
	}
}

func TestStatusesAndPlan(t *testing.T) {
	ds := dialects()
	two := store.Filter{Statuses: []store.Status{store.StatusQueued, store.StatusFailed}}
	if err := two.Normalize(); err != nil {
		t.Fatal(err)
	}
	if q := ds["arrays"].ListQuery(&two); !strings.Contains(q.Text, "status = ANY($1)") || !slices.Equal(q.Args[0].([]string), []string{"Queued", "Failed"}) {
		t.Fatalf("an array dialect binds the statuses as one array: %s %v", q.Text, q.Args)
	}
	if q := ds["question marks"].ListQuery(&two); !strings.Contains(q.Text, "status IN (?, ?)") || q.Args[0] != "Queued" || q.Args[1] != "Failed" {
		t.Fatalf("otherwise an IN list: %s %v", q.Text, q.Args)
	}
	d := ds["question marks"]
	d.Plan = func(f *store.Filter) (string, string) { return " INDEXED BY x", "phase = 'open'" }
	if q := d.ListQuery(&two); !strings.HasPrefix(q.Text, "SELECT id, created_at FROM t INDEXED BY x WHERE phase = 'open' AND status IN") {
		t.Fatalf("the plan's hint follows the table and its condition comes first: %s", q.Text)
	}
}

func TestFoldArgs(t *testing.T) {
	d := dialects()["question marks"]
	d.FoldArgs = true
	f := store.Filter{Search: "Straße"}
	if err := f.Normalize(); err != nil {
		t.Fatal(err)
	}
	if q := d.ListQuery(&f); q.Args[0] != store.Fold("Straße") {
		t.Fatalf("search bound as %q, want it folded", q.Args[0])
	}
	page, total := d.LogsPageQueries(store.LogQuery{Level: "Warn", Limit: 10, Offset: 20})
	if page.Args[1] != store.Fold("Warn") || total.Args[1] != store.Fold("Warn") {
		t.Fatalf("level bound as %v and %v, want it folded", page.Args[1], total.Args[1])
	}
}

func TestLogsPageQueries(t *testing.T) {
	for name, d := range dialects() {
		task := uuid.New()
		page, total := d.LogsPageQueries(store.LogQuery{TaskID: task, Level: "info", Limit: 10, Offset: 20})
		checkParams(t, d, page)
		checkParams(t, d, total)
		if page.Args[0] != task.String() || page.Args[len(page.Args)-2] != 10 || page.Args[len(page.Args)-1] != 20 {
			t.Fatalf("%s: page args %v, want the task first, then limit and offset", name, page.Args)
		}
		if !strings.HasPrefix(total.Text, "SELECT count(*) FROM l WHERE task_id =") {
			t.Fatalf("%s: total %s", name, total.Text)
		}
	}
}

func TestCountFloor(t *testing.T) {
	d := dialects()["question marks"]
	all := d.CountByStatusQuery(store.CountParams{})
	if all.Text != "SELECT status, count(*) FROM t GROUP BY status" || len(all.Args) != 0 {
		t.Fatalf("no floor and no MinTime: %s %v", all.Text, all.Args)
	}
	d.MinTime = int64(-1)
	all = d.CountByQueueQuery(store.CountParams{})
	if all.Text != "SELECT queue, status, count(*) FROM t WHERE created_at >= ? GROUP BY queue, status" || all.Args[0] != int64(-1) {
		t.Fatalf("no floor, a MinTime: %s %v", all.Text, all.Args)
	}
	from := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if q := d.CountByStatusQuery(store.CountParams{CreatedFrom: from}); q.Args[0] != from.UnixMicro() {
		t.Fatalf("a floor: %s %v", q.Text, q.Args)
	}
}
