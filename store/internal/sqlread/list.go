package sqlread

import (
	"strings"

	"github.com/evertask/evertask/store"
)

// ListQuery is the statement of one page of store.List for f, which
// Normalize has checked: every filter a condition on a parameter, in keyset
// order, one row more than the page (store.Filter.Page takes it back off).
// The store scans the rows: it knows its task columns.
func (d *Dialect) ListQuery(f *store.Filter) Query {
	return d.listQuery(f, d.TaskColumns, true, nil, " LIMIT {limit}", param{"limit", f.Limit + 1})
}

// ScanBoundQuery is the statement of the position (created_at, id) of the
// f.ScanLimit-th row past the cursor that passes f's filters but its search:
// the last row a search bounded by Filter.ScanLimit tests. It has no row
// when fewer rows are left. It walks the index ListQuery walks, reading the
// positions, not the rows.
func (d *Dialect) ScanBoundQuery(f *store.Filter) Query {
	return d.listQuery(f, "created_at, id", false, nil, " LIMIT 1 OFFSET {offset}", param{"offset", f.ScanLimit - 1})
}

// ScanLimitedListQuery is ListQuery for a search bounded by
// Filter.ScanLimit: it tests only the rows up to and including until, the
// position ScanBoundQuery read.
func (d *Dialect) ScanLimitedListQuery(f *store.Filter, until store.Cursor) Query {
	return d.listQuery(f, d.TaskColumns, true, &until, " LIMIT {limit}", param{"limit", f.Limit + 1})
}

// listQuery writes the statement of List's filter in keyset order: columns
// from the tasks, the search when search is set, the rows up to until when
// it is not nil, and the tail (the LIMIT) with its parameter.
func (d *Dialect) listQuery(f *store.Filter, columns string, search bool, until *store.Cursor, tail string, tailParam param) Query {
	b := builder{d: d}
	b.text.WriteString("SELECT " + columns + " FROM " + d.Tables.Tasks)
	var conds []cond
	add := func(tmpl string, params ...param) { conds = append(conds, cond{tmpl, params}) }
	if d.Plan != nil {
		hint, first := d.Plan(f)
		b.text.WriteString(hint)
		if first != "" {
			add(first)
		}
	}
	switch {
	case len(f.Statuses) == 1:
		add("status = {status}", param{"status", string(f.Statuses[0])})
	case len(f.Statuses) > 1 && d.StatusArray != "":
		names := make([]string, len(f.Statuses))
		for i, st := range f.Statuses {
			names[i] = string(st)
		}
		add(d.StatusArray, param{"statuses", names})
	case len(f.Statuses) > 1:
		params := make([]param, len(f.Statuses))
		list := make([]string, len(f.Statuses))
		for i, st := range f.Statuses {
			params[i] = param{"s" + string(st), string(st)}
			list[i] = "{s" + string(st) + "}"
		}
		add("status IN ("+strings.Join(list, ", ")+")", params...)
	}
	if f.Queue != "" {
		add("queue = {queue}", param{"queue", f.Queue})
	}
	if f.Kind != "" {
		add("kind = {kind}", param{"kind", f.Kind})
	}
	if f.Key != "" {
		add(d.Key+" = {key}", param{"key", f.Key})
	}
	if f.Recurring != nil {
		add("recurring = {recurring}", param{"recurring", d.boolArg(*f.Recurring)})
	}
	if !f.CreatedFrom.IsZero() {
		add("created_at >= {from}", param{"from", d.Time(f.CreatedFrom)})
	}
	if !f.CreatedBefore.IsZero() {
		add("created_at < {before}", param{"before", d.Time(f.CreatedBefore)})
	}
	if search && f.Search != "" {
		add(d.Search, param{"needle", d.fold(f.Search)})
	}
	order, cmp, back := "DESC", "<", ">"
	if f.Oldest {
		order, cmp, back = "ASC", ">", "<"
	}
	if !f.After.IsZero() {
		add(strings.ReplaceAll(d.After, "{cmp}", cmp),
			param{"at", d.Cursor(f.After.CreatedAt)}, param{"id", d.ID(f.After.ID)})
	}
	if until != nil {
		add(strings.ReplaceAll(d.Until, "{cmp}", back),
			param{"at", d.Cursor(until.CreatedAt)}, param{"id", d.ID(until.ID)})
	}
	b.where(conds)
	b.add(" ORDER BY created_at "+order+", id "+order+tail, tailParam)
	return b.query()
}
