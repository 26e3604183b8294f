package sqlread

import "github.com/evertask/evertask/store"

// CountByStatusQuery is the statement of CountByStatus.
func (d *Dialect) CountByStatusQuery(p store.CountParams) Query {
	return d.count(`SELECT status, count(*) FROM `+d.countFrom(), ` GROUP BY status`, p)
}

// CountByQueueQuery is the statement of CountByQueue.
func (d *Dialect) CountByQueueQuery(p store.CountParams) Query {
	return d.count(`SELECT queue, status, count(*) FROM `+d.countFrom(), ` GROUP BY queue, status`, p)
}

func (d *Dialect) countFrom() string {
	if d.CountFrom != "" {
		return d.CountFrom
	}
	return d.Tables.Tasks
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
