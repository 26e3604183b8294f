package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// The CPU a burn costs, as `evertask bench` reports it: the harness's
// processes (this one and its client processes) and the PostgreSQL backends
// serving them (found by their application_name), over the timed phase, per
// 1,000 jobs. On a shared machine these move less with the load than jobs/s
// does. Linux only: the times come from /proc/<pid>/stat, and the server's
// only when it runs on this host; otherwise nothing is reported.

// riverAppName is the application_name of the sessions of the River bench on
// schema.
func riverAppName(schema string) string { return "river bench " + schema }

// procCPU returns the user plus system CPU time pid used so far (USER_HZ is
// 100 on every Linux architecture).
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f)+2)
	}
	var ticks int64
	for _, v := range f[11:13] {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, err
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / 100, nil
}

// cpuMeter measures the harness's processes and the bench's backends.
type cpuMeter struct {
	pool       *pgxpool.Pool
	app        string
	pids       []int
	start      map[int]time.Duration // harness pids
	backends   map[int]time.Duration
	harnessOK  bool
	backendsOK bool
}

func startCPU(ctx context.Context, pool *pgxpool.Pool, app string, pids ...int) *cpuMeter {
	m := &cpuMeter{pool: pool, app: app, pids: pids}
	m.start, m.harnessOK = readPids(pids)
	m.backends, m.backendsOK = m.readBackends(ctx)
	return m
}

func readPids(pids []int) (map[int]time.Duration, bool) {
	out := make(map[int]time.Duration, len(pids))
	for _, pid := range pids {
		d, err := procCPU(pid)
		if err != nil {
			return nil, false
		}
		out[pid] = d
	}
	return out, true
}

func (m *cpuMeter) readBackends(ctx context.Context) (map[int]time.Duration, bool) {
	rows, err := m.pool.Query(ctx, "SELECT pid FROM pg_stat_activity WHERE application_name = $1", m.app)
	if err != nil {
		return nil, false
	}
	pids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil || len(pids) == 0 {
		return nil, false
	}
	ints := make([]int, len(pids))
	for i, p := range pids {
		ints[i] = int(p)
	}
	return readPids(ints)
}

// report prints what the phase cost; a backend that started during it
// counts from zero.
func (m *cpuMeter) report(ctx context.Context, w io.Writer, jobs int) {
	per := func(d time.Duration) float64 { return float64(d.Milliseconds()) * 1000 / float64(jobs) }
	if end, ok := readPids(m.pids); ok && m.harnessOK {
		var total time.Duration
		for pid, d := range end {
			total += d - m.start[pid]
		}
		fmt.Fprintf(w, "river: CPU %.2f s (this process and %d client processes), %.1f ms per 1,000 jobs\n",
			total.Seconds(), len(m.pids)-1, per(total))
	}
	if end, ok := m.readBackends(ctx); ok && m.backendsOK {
		var total time.Duration
		for pid, d := range end {
			total += d - m.backends[pid]
		}
		fmt.Fprintf(w, "river: PostgreSQL backends CPU %.2f s (%d sessions), %.1f ms per 1,000 jobs\n",
			total.Seconds(), len(end), per(total))
	}
}
