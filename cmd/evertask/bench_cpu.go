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

// A burn also reports the CPU time its engine processes spent in the timed
// phase, per 1,000 tasks: on a machine shared with other work, tasks/s
// moves with the load, CPU per task much less. The figures come from
// /proc/<pid>/stat, so they are reported on Linux only.

// userHZ is the unit of the CPU times in /proc/<pid>/stat: USER_HZ, 100 on
// every Linux architecture the kernel's user ABI serves.
const userHZ = 100

// procCPU returns the user plus system CPU time pid used so far.
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// The command name (field 2) is in parentheses and may hold spaces:
	// the fields are counted after its closing one.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(s[i+1:])
	// utime and stime are fields 14 and 15, so 11 and 12 after field 2.
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f)+2)
	}
	var ticks int64
	for _, v := range f[11:13] {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / userHZ, nil
}

// cpuMeter measures the CPU time of a set of processes between its start
// and read. A process it cannot read makes the meter report nothing.
type cpuMeter struct {
	pids  []int
	start []time.Duration
	ok    bool
}

func startCPU(pids ...int) *cpuMeter {
	m := &cpuMeter{pids: pids, start: make([]time.Duration, len(pids)), ok: true}
	for i, pid := range pids {
		d, err := procCPU(pid)
		if err != nil {
			m.ok = false
			break
		}
		m.start[i] = d
	}
	return m
}

// read returns the CPU time of each process since start, the first being
// the first pid's.
func (m *cpuMeter) read() ([]time.Duration, bool) {
	if !m.ok {
		return nil, false
	}
	out := make([]time.Duration, len(m.pids))
	for i, pid := range m.pids {
		d, err := procCPU(pid)
		if err != nil {
			return nil, false
		}
		out[i] = d - m.start[i]
	}
	return out, true
}

// report prints the CPU line of a burn of tasks: this process first, then
// the node processes, if any.
func (m *cpuMeter) report(w io.Writer, tasks int) {
	ds, ok := m.read()
	if !ok || tasks <= 0 {
		return
	}
	var total time.Duration
	parts := make([]string, len(ds))
	for i, d := range ds {
		total += d
		parts[i] = fmt.Sprintf("%.2f", d.Seconds())
	}
	fmt.Fprintf(w, "bench: CPU %.2f s (this process, then each node: %s), %.1f ms per 1,000 tasks\n",
		total.Seconds(), strings.Join(parts, " "), float64(total.Milliseconds())*1000/float64(tasks))
}

// benchAppName is the application_name of the PostgreSQL sessions of the
// bench on schema, in this process and in its node processes.
func benchAppName(schema string) string { return "evertask bench " + schema }

// serverMeter measures the CPU time of the PostgreSQL backends serving the
// bench's sessions (found by benchAppName) over the timed phase, when the
// server runs on this host: a burn's cost is the engine's CPU plus the
// server's, and on a shared machine both move less with the load than
// tasks/s does. A backend that starts during the phase counts from zero;
// one that ends during it is missed (the pools keep theirs open).
type serverMeter struct {
	pool  *pgxpool.Pool
	app   string
	start map[int]time.Duration
}

// startServerCPU starts the meter; nil (which reports nothing) when there
// is no pool or the backends' /proc entries are not readable here.
func startServerCPU(ctx context.Context, pool *pgxpool.Pool, app string) *serverMeter {
	if pool == nil {
		return nil
	}
	m := &serverMeter{pool: pool, app: app}
	start, ok := m.read(ctx)
	if !ok {
		return nil
	}
	m.start = start
	return m
}

// read returns the CPU time so far of each backend of the bench.
func (m *serverMeter) read(ctx context.Context) (map[int]time.Duration, bool) {
	rows, err := m.pool.Query(ctx, "SELECT pid FROM pg_stat_activity WHERE application_name = $1", m.app)
	if err != nil {
		return nil, false
	}
	pids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil || len(pids) == 0 {
		return nil, false
	}
	out := make(map[int]time.Duration, len(pids))
	for _, pid := range pids {
		d, err := procCPU(int(pid))
		if err != nil {
			return nil, false // the server is on another host, or not ours to read
		}
		out[int(pid)] = d
	}
	return out, true
}

// report prints the backends' CPU over the phase, per 1,000 tasks.
func (m *serverMeter) report(ctx context.Context, w io.Writer, tasks int) {
	if m == nil {
		return
	}
	end, ok := m.read(ctx)
	if !ok {
		return
	}
	var total time.Duration
	for pid, d := range end {
		total += d - m.start[pid]
	}
	fmt.Fprintf(w, "bench: PostgreSQL backends CPU %.2f s (%d sessions), %.1f ms per 1,000 tasks\n",
		total.Seconds(), len(end), float64(total.Milliseconds())*1000/float64(tasks))
}
