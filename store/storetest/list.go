package storetest

import (
	"fmt"
	"slices"
	"time"

	"github.com/evertask/evertask/store"
	"github.com/google/uuid"
)

// listFixture is a small set of rows that differ in every filtered field.
func listFixture() []*store.Task {
	type row struct {
		status    store.Status
		queue     string
		kind      string
		handler   string
		key       string
		recurring bool
		sec       int
	}
	rows := []row{
		{store.StatusWaitingQueue, "default", "mail.SendEmail", "mail.Handler", "", false, 0},
		{store.StatusQueued, "default", "mail.SendEmail", "mail.Handler", "welcome-42", false, 1},
		{store.StatusInProgress, "reports", "reports.Build", "reports.BuildHandler", "", false, 2},
		{store.StatusCompleted, "reports", "reports.Build", "reports.BuildHandler", "report_2026", true, 3},
		{store.StatusFailed, "default", "billing.Charge", "billing.Handler", "100%-off", false, 3},
		{store.StatusCancelled, "recurring", "cleanup.Sweep", "cleanup.Handler", `C:\temp`, true, 4},
		{store.StatusCompleted, "default", "billing.Charge", "billing.Handler", "report-2026", false, 5},
		{store.StatusServiceStopped, "recurring", "ÜBER.Straße", "ÄrgerHandler", "", true, 6},
		{store.StatusPending, "default", "plain.Task", "plainXHandler", "reportX2026", false, 7},
	}
	var out []*store.Task
	for i, r := range rows {
		t := newTask(i + 1)
		t.Status, t.Queue, t.Kind, t.Handler, t.Key, t.Recurring = r.status, r.queue, r.kind, r.handler, r.key, r.recurring
		t.CreatedAt = at(time.Duration(r.sec) * time.Second)
		out = append(out, t)
	}
	return out
}

// listAll pages through List with the filter and returns every row, checking
// the pages are in keyset order and end with a nil Next.
func listAll(t tb, s store.Store, f store.Filter) []*store.Task {
	t.Helper()
	var out []*store.Task
	for pages := 0; ; pages++ {
		if pages > 10000 {
			t.Fatalf("List did not end")
		}
		page, err := s.List(t.Context(), f)
		if err != nil {
			t.Fatalf("List(%+v): %v", f, err)
		}
		limit, _ := store.NormalizeLimit(f.Limit, store.DefaultListLimit, store.MaxListLimit)
		if len(page.Tasks) > limit {
			t.Fatalf("List returned %d rows for limit %d", len(page.Tasks), limit)
		}
		out = append(out, page.Tasks...)
		if page.Next == nil && page.ScanLimited {
			t.Fatalf("List returned a page ScanLimited without a Next cursor")
		}
		if page.Next == nil {
			break
		}
		if len(page.Tasks) == 0 && !page.ScanLimited {
			t.Fatalf("List returned an empty page with a Next cursor")
		}
		if n := len(page.Tasks); n > 0 {
			last := store.CursorOf(page.Tasks[n-1])
			if f.Oldest && page.Next.Less(last) || !f.Oldest && last.Less(*page.Next) {
				t.Fatalf("List(Oldest=%v): Next %v is before the page's last row %v", f.Oldest, *page.Next, last)
			}
		}
		if !f.After.IsZero() && (f.Oldest && !f.After.Less(*page.Next) || !f.Oldest && !page.Next.Less(f.After)) {
			t.Fatalf("List(Oldest=%v) after %v: Next %v does not move on", f.Oldest, f.After, *page.Next)
		}
		f.After = *page.Next
	}
	for i := 1; i < len(out); i++ {
		a, b := store.CursorOf(out[i-1]), store.CursorOf(out[i])
		if f.Oldest && !a.Less(b) || !f.Oldest && !b.Less(a) {
			t.Errorf("List(Oldest=%v) rows %d and %d are out of keyset order: %v then %v", f.Oldest, i-1, i, a, b)
			break
		}
	}
	return out
}

func listChecks() []check {
	return []check{
		{"EveryFilterField", func(t tb, s store.Store) {
			rows := listFixture()
			persist(t, s, rows...)
			yes, no := true, false
			pick := func(idx ...int) []uuid.UUID {
				var out []uuid.UUID
				for _, i := range idx {
					out = append(out, rows[i].ID)
				}
				return out
			}
			for _, c := range []struct {
				name string
				f    store.Filter
				want []uuid.UUID
			}{
				{"no filter", store.Filter{}, pick(0, 1, 2, 3, 4, 5, 6, 7, 8)},
				{"one status", store.Filter{Statuses: []store.Status{store.StatusCompleted}}, pick(3, 6)},
				{"two statuses", store.Filter{Statuses: []store.Status{store.StatusQueued, store.StatusFailed}}, pick(1, 4)},
				{"queue", store.Filter{Queue: "reports"}, pick(2, 3)},
				{"kind", store.Filter{Kind: "billing.Charge"}, pick(4, 6)},
				{"kind is exact", store.Filter{Kind: "billing"}, nil},
				{"kind is case-sensitive", store.Filter{Kind: "Billing.Charge"}, nil},
				{"queue is exact", store.Filter{Queue: "Default"}, nil},
				{"key is exact", store.Filter{Key: "Welcome-42"}, nil},
				{"key", store.Filter{Key: "welcome-42"}, pick(1)},
				{"recurring", store.Filter{Recurring: &yes}, pick(3, 5, 7)},
				{"not recurring", store.Filter{Recurring: &no}, pick(0, 1, 2, 4, 6, 8)},
				{"created from is inclusive", store.Filter{CreatedFrom: at(3 * time.Second)}, pick(3, 4, 5, 6, 7, 8)},
				{"created before is exclusive", store.Filter{CreatedBefore: at(3 * time.Second)}, pick(0, 1, 2)},
				{"created range", store.Filter{CreatedFrom: at(2 * time.Second), CreatedBefore: at(5 * time.Second)}, pick(2, 3, 4, 5)},
				{"created range in another location", store.Filter{CreatedFrom: at(2 * time.Second).In(elsewhere), CreatedBefore: at(4 * time.Second).In(elsewhere)}, pick(2, 3, 4)},
				{"combined", store.Filter{Queue: "default", Statuses: []store.Status{store.StatusCompleted, store.StatusFailed}, Recurring: &no}, pick(4, 6)},
				{"search kind ignoring case", store.Filter{Search: "SENDEMAIL"}, pick(0, 1)},
				{"search handler", store.Filter{Search: "buildhandler"}, pick(2, 3)},
				{"search key", store.Filter{Search: "welcome"}, pick(1)},
				{"search percent is literal", store.Filter{Search: "%"}, pick(4)},
				{"search underscore is literal", store.Filter{Search: "report_"}, pick(3)},
				{"search backslash is literal", store.Filter{Search: `\`}, pick(5)},
				{"search backslash sequence is literal", store.Filter{Search: `:\t`}, pick(5)},
				{"search with status", store.Filter{Search: "billing", Statuses: []store.Status{store.StatusFailed}}, pick(4)},
				{"search no match", store.Filter{Search: "nothing-like-this"}, nil},
			} {
				for _, oldest := range []bool{false, true} {
					f := c.f
					f.Oldest = oldest
					f.Limit = 4 // several pages, so filters must hold across cursors
					got := listAll(t, s, f)
					wantSameIDs(t, fmt.Sprintf("List(%s, oldest %v)", c.name, oldest), ids(got), c.want)
					// A bounded search finds the same rows, a few at a time.
					f.ScanLimit = 2
					got = listAll(t, s, f)
					wantSameIDs(t, fmt.Sprintf("List(%s, oldest %v, ScanLimit 2)", c.name, oldest), ids(got), c.want)
				}
			}
		}},
		{"SearchScanLimit", func(t tb, s store.Store) {
			// 30 rows, 3 of them found by the search (4, 15, 25), 2 of
			// those Failed (the odd ones).
			var rows []*store.Task
			for i := range 30 {
				r := newTask(i + 1)
				r.CreatedAt = at(time.Duration(i) * time.Second)
				if i%2 == 1 {
					r.Status = store.StatusFailed
				}
				if i == 4 || i == 15 || i == 25 {
					r.Kind = "storetest.Needle"
				}
				rows = append(rows, r)
			}
			persist(t, s, rows...)
			first, err := s.List(t.Context(), store.Filter{Search: "needle", ScanLimit: 10})
			if err != nil {
				t.Fatalf("List: %v", err)
			}
			if !first.ScanLimited || first.Next == nil || len(first.Tasks) > 1 || len(first.Tasks) == 1 && first.Tasks[0].ID != rows[25].ID {
				t.Fatalf("List(Search, ScanLimit 10) over 30 rows, newest first: %d rows, Next %v, ScanLimited %v; want at most the newest match, a Next and ScanLimited",
					len(first.Tasks), first.Next, first.ScanLimited)
			}
			empty, err := s.List(t.Context(), store.Filter{Search: "needle", ScanLimit: 3})
			if err != nil || len(empty.Tasks) != 0 || empty.Next == nil || !empty.ScanLimited {
				t.Fatalf("List(Search, ScanLimit 3), no match in the newest 3 rows: %d rows, Next %v, ScanLimited %v, err %v; want an empty page with a Next, ScanLimited",
					len(empty.Tasks), empty.Next, empty.ScanLimited, err)
			}
			for _, c := range []struct {
				name string
				f    store.Filter
				want []int
			}{
				{"newest first", store.Filter{}, []int{25, 15, 4}},
				{"oldest first", store.Filter{Oldest: true}, []int{4, 15, 25}},
				{"a status", store.Filter{Statuses: []store.Status{store.StatusFailed}}, []int{25, 15}},
				{"two statuses", store.Filter{Statuses: []store.Status{store.StatusFailed, store.StatusWaitingQueue}, Oldest: true}, []int{4, 15, 25}},
				{"created range", store.Filter{CreatedFrom: at(5 * time.Second), CreatedBefore: at(26 * time.Second)}, []int{25, 15}},
				{"page of one", store.Filter{Limit: 1}, []int{25, 15, 4}},
			} {
				for _, limit := range []int{1, 7, 10, 100} {
					f := c.f
					f.Search, f.ScanLimit = "NEEDLE", limit
					var pages int
					var got []*store.Task
					for {
						page, err := s.List(t.Context(), f)
						if err != nil {
							t.Fatalf("List(%s, ScanLimit %d): %v", c.name, limit, err)
						}
						got = append(got, page.Tasks...)
						if pages++; page.Next == nil || pages > 100 {
							break
						}
						f.After = *page.Next
					}
					var want []uuid.UUID
					for _, i := range c.want {
						want = append(want, rows[i].ID)
					}
					if !slices.Equal(ids(got), want) {
						t.Errorf("List(%s, ScanLimit %d) paged: %v, want %v", c.name, limit, ids(got), want)
					}
					if limit == 1 && pages < 3 {
						t.Errorf("List(%s, ScanLimit 1) took %d pages for 3 matches; a call tested more than one row", c.name, pages)
					}
				}
			}
			// Without a search ScanLimit bounds nothing.
			page, err := s.List(t.Context(), store.Filter{ScanLimit: 5})
			if err != nil || len(page.Tasks) != 30 || page.Next != nil || page.ScanLimited {
				t.Errorf("List(ScanLimit 5, no search): %d rows, Next %v, ScanLimited %v, err %v; want all 30, nil, false",
					len(page.Tasks), page.Next, page.ScanLimited, err)
			}
		}},
		{"SearchFoldsUnicodeCase", func(t tb, s store.Store) {
			rows := listFixture()
			persist(t, s, rows...)
			for _, q := range []string{"über", "STRAßE", "ärger"} {
				got := listAll(t, s, store.Filter{Search: q})
				wantSameIDs(t, fmt.Sprintf("List(Search %q)", q), ids(got), []uuid.UUID{rows[7].ID})
			}
			// Simple folding maps rune to rune: ß is not ss, as a database's
			// full folding or a collation would have it.
			if got := listAll(t, s, store.Filter{Search: "STRASSE"}); len(got) != 0 {
				t.Errorf("List(Search \"STRASSE\") found %d rows, want none (ß is not ss)", len(got))
			}
		}},
		{"KeysetPagesCoverEveryRowOnce", func(t tb, s store.Store) {
			// 400 rows over 20 creation times: pages of 13 split the ties.
			all, _ := pendingRows(400, 20)
			persistBatches(t, s, all)
			want := slices.Clone(all)
			slices.SortFunc(want, func(a, b *store.Task) int {
				if store.CursorOf(a).Less(store.CursorOf(b)) {
					return -1
				}
				return 1
			})
			for _, oldest := range []bool{true, false} {
				got := listAll(t, s, store.Filter{Limit: 13, Oldest: oldest})
				w := ids(want)
				if !oldest {
					slices.Reverse(w)
				}
				if !slices.Equal(ids(got), w) {
					t.Errorf("List(Oldest=%v) pages of 13: %d rows not in exact keyset order over all %d rows", oldest, len(got), len(w))
				}
			}
		}},
		{"AfterAnyPosition", func(t tb, s store.Store) {
			// A cursor is a position, not a row: it may name a removed row
			// or fall between rows.
			rows := listFixture()
			persist(t, s, rows...)
			if err := s.Remove(t.Context(), rows[3].ID); err != nil {
				t.Fatalf("Remove: %v", err)
			}
			for _, c := range []struct {
				name   string
				after  store.Cursor
				oldest bool
				want   []int
			}{
				{"removed row, oldest first", store.CursorOf(rows[3]), true, []int{4, 5, 6, 7, 8}},
				{"removed row, newest first", store.CursorOf(rows[3]), false, []int{2, 1, 0}},
				{"between rows, oldest first", store.Cursor{CreatedAt: at(3 * time.Second)}, true, []int{4, 5, 6, 7, 8}},
				{"between rows, newest first", store.Cursor{CreatedAt: at(3*time.Second + time.Microsecond)}, false, []int{4, 2, 1, 0}},
				{"past the end", store.Cursor{CreatedAt: at(time.Hour)}, true, nil},
			} {
				var want []uuid.UUID
				for _, i := range c.want {
					want = append(want, rows[i].ID)
				}
				got := listAll(t, s, store.Filter{After: c.after, Oldest: c.oldest, Limit: 2})
				if !slices.Equal(ids(got), want) {
					t.Errorf("List(After %s): %v, want %v", c.name, ids(got), want)
				}
			}
			got, err := s.RetrievePending(t.Context(), store.PendingParams{Now: base, After: store.CursorOf(rows[3])})
			if err != nil {
				t.Fatalf("RetrievePending: %v", err)
			}
			// Rows 4 to 8 minus the finished and cancelled ones.
			if want := []uuid.UUID{rows[7].ID, rows[8].ID}; !slices.Equal(ids(got), want) {
				t.Errorf("RetrievePending(After a removed row) = %v, want %v", ids(got), want)
			}
		}},
		{"NextIsNilOnTheLastPage", func(t tb, s store.Store) {
			var rows []*store.Task
			for i := range 10 {
				rows = append(rows, newTask(i+1))
			}
			persist(t, s, rows...)
			page, err := s.List(t.Context(), store.Filter{Limit: 11})
			if err != nil || len(page.Tasks) != 10 || page.Next != nil {
				t.Errorf("List of 10 rows with limit 11: %d rows, Next %v, err %v; want 10, nil, nil", len(page.Tasks), page.Next, err)
			}
			page, err = s.List(t.Context(), store.Filter{Limit: 5, Oldest: true})
			if err != nil || len(page.Tasks) != 5 || page.Next == nil {
				t.Fatalf("List of 10 rows with limit 5: %d rows, Next %v, err %v; want 5 and a Next", len(page.Tasks), page.Next, err)
			}
			page, err = s.List(t.Context(), store.Filter{Limit: 5, Oldest: true, After: *page.Next})
			if err != nil || len(page.Tasks) != 5 || page.Next != nil {
				t.Errorf("the second and last full page of 5: %d rows, Next %v, err %v; want 5, nil (it is the last page)", len(page.Tasks), page.Next, err)
			}
			page, err = s.List(t.Context(), store.Filter{Statuses: []store.Status{store.StatusFailed}})
			if err != nil || len(page.Tasks) != 0 || page.Next != nil {
				t.Errorf("List with no match: %d rows, Next %v, err %v; want none, nil", len(page.Tasks), page.Next, err)
			}
		}},
		{"LimitDefaultsAndClips", func(t tb, s store.Store) {
			all, _ := pendingRows(store.MaxListLimit+5, 50)
			persistBatches(t, s, all)
			page, err := s.List(t.Context(), store.Filter{})
			if err != nil || len(page.Tasks) != store.DefaultListLimit {
				t.Errorf("List with Limit 0: %d rows, %v; want DefaultListLimit %d", len(page.Tasks), err, store.DefaultListLimit)
			}
			page, err = s.List(t.Context(), store.Filter{Limit: 5 * store.MaxListLimit})
			if err != nil || len(page.Tasks) != store.MaxListLimit || page.Next == nil {
				t.Errorf("List with Limit 5000: %d rows, Next %v, %v; want MaxListLimit %d and a Next", len(page.Tasks), page.Next, err, store.MaxListLimit)
			}
		}},
		{"ReturnsWholeRows", func(t tb, s store.Store) {
			task := fullTask(1)
			persist(t, s, task)
			page, err := s.List(t.Context(), store.Filter{Key: task.Key})
			if err != nil || len(page.Tasks) != 1 {
				t.Fatalf("List = %d rows, %v; want 1", len(page.Tasks), err)
			}
			wantTask(t, "List", page.Tasks[0], task)
		}},
	}
}
