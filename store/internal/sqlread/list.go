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
	b := builder{d: d}
	b.text.WriteString("SELECT " + d.TaskColumns + " FROM " + d.Tables.Tasks)
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
	if f.Search != "" {
		add(d.Search, param{"needle", d.fold(f.Search)})
	}
	order, cmp := "DESC", "<"
	if f.Oldest {
		order, cmp = "ASC", ">"
	}
	if !f.After.IsZero() {
		add(strings.ReplaceAll(d.After, "{cmp}", cmp),
			param{"at", d.Cursor(f.After.CreatedAt)}, param{"id", d.ID(f.After.ID)})
	}
	b.where(conds)
	b.add(" ORDER BY created_at "+order+", id "+order+" LIMIT {limit}", param{"limit", f.Limit + 1})
	return b.query()
}
