package sqlread

import (
	"context"

	"github.com/evertask/evertask/store"
)

// CountByStatus reads the counts of store.Counter.CountByStatus; tasks is
// the table with any index hint.
func (d *Dialect) CountByStatus(ctx context.Context, run Runner, tasks string, p store.CountParams) (out map[store.Status]int, err error) {
	q := d.CountByStatusQuery(tasks, p)
	err = read(ctx, run, q, func(rows Rows) error { out, err = scanCountByStatus(rows); return err })
	return out, err
}

// CountByQueue reads the counts of store.Counter.CountByQueue.
func (d *Dialect) CountByQueue(ctx context.Context, run Runner, tasks string, p store.CountParams) (out map[string]map[store.Status]int, err error) {
	q := d.CountByQueueQuery(tasks, p)
	err = read(ctx, run, q, func(rows Rows) error { out, err = scanCountByQueue(rows); return err })
	return out, err
}

// CountByStatusQuery is the statement of CountByStatus.
func (d *Dialect) CountByStatusQuery(tasks string, p store.CountParams) Query {
	return d.count(`SELECT status, count(*) FROM `+tasks, ` GROUP BY status`, p)
}

// CountByQueueQuery is the statement of CountByQueue.
func (d *Dialect) CountByQueueQuery(tasks string, p store.CountParams) Query {
	return d.count(`SELECT queue, status, count(*) FROM `+tasks, ` GROUP BY queue, status`, p)
}

func (d *Dialect) count(head, group string, p store.CountParams) Query {
	b := builder{d: d}
	b.text.WriteString(head)
	switch {
	case !p.CreatedFrom.IsZero():
		b.add(` WHERE created_at >= {from}`, param{"from", d.Time(p.CreatedFrom)})
	case d.MinTime != nil:
		b.add(` WHERE created_at >= {from}`, param{"from", d.MinTime})
	}
	b.text.WriteString(group)
	return b.query()
}

func scanCountByStatus(rows Rows) (map[store.Status]int, error) {
	out := map[store.Status]int{}
	for rows.Next() {
		var (
			status string
			n      int64
		)
		if err := rows.Scan(&status, &n); err != nil {
			return nil, err
		}
		out[store.Status(status)] = int(n)
	}
	return out, rows.Err()
}

func scanCountByQueue(rows Rows) (map[string]map[store.Status]int, error) {
	out := map[string]map[store.Status]int{}
	for rows.Next() {
		var (
			queue, status string
			n             int64
		)
		if err := rows.Scan(&queue, &status, &n); err != nil {
			return nil, err
		}
		if out[queue] == nil {
			out[queue] = map[store.Status]int{}
		}
		out[queue][store.Status(status)] = int(n)
	}
	return out, rows.Err()
}
