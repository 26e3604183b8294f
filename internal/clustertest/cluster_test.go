package clustertest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/evertask/evertask/store"
)

// eachStore runs a scenario on a fresh store of every kind, one after the
// other: the figures are timings, and three clusters at once on two cores
// would measure the machine.
func eachStore(t *testing.T, scenario func(t *testing.T, c *cluster)) {
	for _, kind := range kinds {
		t.Run(kind, func(t *testing.T) {
			scenario(t, newCluster(t, openBackend(t, kind)))
		})
	}
}

// TestSpread: three nodes dispatch; every acknowledged task runs exactly
// once, on whichever node claimed it. One node dispatches far more than its
// workers run, so the idle nodes take part of its work.
func TestSpread(t *testing.T) {
	eachStore(t, func(t *testing.T, c *cluster) {
		nodes := []*proc{c.start("n1", 4), c.start("n2", 4), c.start("n3", 4)}
		began := time.Now()
		// Two seconds of work for its 4 workers, sent at once: the other
		// nodes find it through a notice, or on MySQL by polling (every
		// 500 ms), and a loaded machine once let n1 finish a one-second
		// backlog before one of them looked (n3 took none on MySQL).
		nodes[0].send("dispatch 400 20ms")
		for _, p := range nodes[1:] {
			p.send("dispatch 50 20ms 0 10ms")
		}
		rs := c.waitFor(30*time.Second, "the dispatch loops", func(rs records) bool { return len(rs.find("dispatched", "", "")) == 3 })
		acks := rs.acks()
		c.waitCompleted(30*time.Second, acks)
		took := time.Since(began)

		rs = c.records()
		execs := rs.executions()
		dispatcher := map[string]string{}
		for _, r := range rs.find("ack", "", "") {
			dispatcher[r.subject] = r.node
		}
		perNode, foreign := map[string]int{}, map[string]int{}
		for _, id := range acks {
			xs := execs[id.String()]
			if len(xs) != 1 || xs[0].outcome != "ok" || !xs[0].applied {
				t.Errorf("task %s: %d executions, want one that succeeded and was applied", id, len(xs))
				continue
			}
			perNode[xs[0].node]++
			if xs[0].node != dispatcher[id.String()] {
				foreign[xs[0].node]++
			}
		}
		// Nobody died: a task that waited a whole lease to start was
		// claimed and then forgotten until its lease ran out.
		var wait time.Duration
		for _, r := range rs.find("ack", "", "") {
			if xs := execs[r.subject]; len(xs) > 0 {
				wait = max(wait, xs[0].start.Sub(r.at))
			}
		}
		if wait >= lease {
			t.Errorf("a task waited %s from its ack to its start, a lease (%s) or more", wait, lease)
		}
		for _, p := range nodes[1:] {
			if foreign[p.id] == 0 {
				t.Errorf("node %s ran none of the other nodes' tasks while n1 had a backlog", p.id)
			}
		}
		// A failed Dispatch is retried as a new task, and the failed one
		// may still have been stored and run: only without failures must
		// the counts agree.
		if n := len(execs); n != len(acks) && !rs.has("dispatcherr", "", "") {
			t.Errorf("%d tasks ran, %d were acknowledged", n, len(acks))
		}
		c.checkNoOverlap(execs, nil)
		t.Logf("%d tasks acknowledged, all completed once in %s (the longest wait from ack to start %s); executions per node %v, of them dispatched by another node %v; %d dispatch errors",
			len(acks), ms(took), ms(wait), perNode, foreign, len(rs.find("dispatcherr", "", "")))
	})
}

// TestKillTakeOver kills one node with SIGKILL five times while the
// cluster works, restarting it each time: no acknowledged task is lost,
// only what the killed node had in flight runs again, and the survivors
// take its work over within the lease and a poll.
func TestKillTakeOver(t *testing.T) {
	eachStore(t, func(t *testing.T, c *cluster) {
		// About 50 tasks/s of 200ms each: 10 of the 24 workers busy, so a
		// take-over never waits for a free worker.
		const load = "dispatch 0 200ms 0 60ms"
		live := []*proc{c.start("n1", 8), c.start("n2", 8)}
		victim := c.start("v0", 8)
		began := time.Now()
		for _, p := range append(live, victim) {
			p.send(load)
		}
		var killed []*proc
		var worst time.Duration
		inFlight := map[string]bool{} // tasks a killed node started and did not see applied
		for k := 1; k <= 5; k++ {
			// Kill once the victim has worked a while and runs several
			// tasks, so there is work to take over.
			up := time.Now().Add(time.Second)
			c.waitFor(15*time.Second, "the victim to run tasks", func(rs records) bool {
				return time.Now().After(up) && len(openOn(rs.executions(), victim.id)) >= 2
			})
			killAt := victim.kill()
			killed = append(killed, victim)
			ex := c.records().executions()
			for _, task := range unapplied(ex, victim.id) {
				inFlight[task] = true
			}
			// Every task whose handler the kill interrupted starts again
			// elsewhere. (One whose handler had returned may have had its
			// outcome written before the kill: it need not run again.)
			mine := openOn(ex, victim.id)
			rs := c.waitFor(lease+poll+slack+10*time.Second, "the take-over", func(rs records) bool {
				ex := rs.executions()
				for _, task := range mine {
					if firstStartAfter(ex[task], victim.id, killAt).IsZero() {
						return false
					}
				}
				return true
			})
			ex = rs.executions()
			var longest time.Duration
			for _, task := range mine {
				longest = max(longest, firstStartAfter(ex[task], victim.id, killAt).Sub(killAt))
			}
			worst = max(worst, longest)
			t.Logf("kill %d of %s: %d tasks unfinished, all started again elsewhere within %s", k, victim.id, len(mine), ms(longest))

			victim = c.start(fmt.Sprintf("v%d", k), 8)
			victim.send(load)
		}
		for _, p := range append(live, victim) {
			p.send("halt")
		}
		rs := c.waitFor(30*time.Second, "the dispatch loops", func(rs records) bool {
			for _, p := range append(live, victim) {
				if !rs.has("dispatched", "-", p.id) {
					return false
				}
			}
			return true
		})
		acks := rs.acks()
		c.waitCompleted(lease+poll+slack+30*time.Second, acks)

		rs = c.records()
		execs := rs.executions()
		again, endedNotApplied := 0, 0
		for _, id := range acks {
			xs := execs[id.String()]
			// The store says Completed (waitCompleted); the records must
			// show which execution (completedBy), and at most one applied.
			applied := 0
			for _, x := range xs {
				if x.applied {
					applied++
				}
			}
			if applied > 1 || !c.completedBy(xs) {
				t.Errorf("task %s: %d applied executions of %d, want 1 (or one that ended on a killed node)", id, applied, len(xs))
			}
			if len(xs) > 1 {
				again++
				if !inFlight[id.String()] {
					t.Errorf("task %s ran %d times but no killed node had it in flight", id, len(xs))
				}
			}
		}
		for _, p := range killed {
			for _, x := range flatten(execs) {
				if x.node == p.id && !x.end.IsZero() && !x.applied {
					endedNotApplied++
				}
			}
		}
		c.checkNoOverlap(execs, nil)
		if worst > lease+poll+slack {
			t.Errorf("a take-over took %s, more than lease %s + poll %s + slack %s", worst, lease, poll, slack)
		}
		t.Logf("%d tasks acknowledged in %s across 5 kills, none lost; %d ran again (the killed nodes had %d unfinished, %d of them past the handler's end); longest take-over %s (lease %s, poll %s)",
			len(acks), ms(time.Since(began)), again, len(inFlight), endedNotApplied, ms(worst), lease, poll)
	})
}

// TestPauseFence pauses a node (SIGSTOP) past its lease: its tasks run
// elsewhere, and when it resumes its handlers see their context cancelled
// and none of its late writes lands.
func TestPauseFence(t *testing.T) {
	eachStore(t, func(t *testing.T, c *cluster) {
		v := c.start("paused", 4)
		// Long tasks are still running when the node resumes; short ones
		// end during the pause, so the node tries to write their success
		// late.
		v.send("dispatch 2 12s")
		v.send("dispatch 2 4s")
		rs := c.waitFor(15*time.Second, "four tasks on the node", func(rs records) bool { return len(rs.find("start", "", v.id)) == 4 })
		var tasks []string
		for _, r := range rs.find("start", "", v.id) {
			tasks = append(tasks, r.subject)
		}
		c.start("n1", 4)
		c.start("n2", 4)
		stopAt := v.signal(syscall.SIGSTOP)

		rs = c.waitFor(lease+poll+slack+10*time.Second, "the take-over", func(rs records) bool {
			ex := rs.executions()
			for _, task := range tasks {
				if firstStartAfter(ex[task], v.id, stopAt).IsZero() {
					return false
				}
			}
			return true
		})
		var takeover time.Duration
		for _, task := range tasks {
			takeover = max(takeover, firstStartAfter(rs.executions()[task], v.id, stopAt).Sub(stopAt))
		}
		// Resume once the short tasks' sleeps are over, so their handlers
		// return success to an engine that lost the lease: a deliberate
		// wait for a time, not for a condition.
		var shortEnd time.Time
		for _, x := range flatten(rs.executions()) {
			if x.node == v.id && x.sleep < 10*time.Second && x.start.Add(x.sleep).After(shortEnd) {
				shortEnd = x.start.Add(x.sleep)
			}
		}
		time.Sleep(time.Until(shortEnd.Add(500 * time.Millisecond)))
		contAt := v.signal(syscall.SIGCONT)

		c.waitFor(lease+slack+5*time.Second, "the resumed node's handlers to return", func(rs records) bool {
			return len(rs.find("end", "", v.id)) == 4
		})
		ids := make([]uuid.UUID, len(tasks))
		for i, task := range tasks {
			ids[i] = uuid.MustParse(task)
		}
		c.waitCompleted(30*time.Second, ids)

		rs = c.records()
		execs := rs.executions()
		var cancelLag time.Duration
		lateSuccess := 0
		for _, task := range tasks {
			for _, x := range execs[task] {
				if x.node != v.id {
					continue
				}
				if x.applied {
					t.Errorf("task %s: the paused node's success was applied after it lost the lease", task)
				}
				t.Logf("task %s (%s) on %s: start %s, ctxdone %s, end %s %s; stop %s, cont %s", task, x.sleep, x.node, stamp(x.start), stamp(x.ctxdone), stamp(x.end), x.outcome, stamp(stopAt), stamp(contAt))
				switch {
				case !x.ctxdone.IsZero():
					cancelLag = max(cancelLag, x.ctxdone.Sub(contAt))
				case x.sleep > 10*time.Second:
					t.Errorf("task %s (%s) on the paused node: its context was not cancelled after the resume", task, x.sleep)
				default:
					lateSuccess++
				}
			}
			applied := 0
			for _, x := range execs[task] {
				if x.applied {
					applied++
				}
			}
			if applied != 1 {
				t.Errorf("task %s: %d applied executions, want 1 (on another node)", task, applied)
			}
			audits, err := c.b.st.StatusAudits(context.Background(), uuid.MustParse(task))
			if err != nil {
				t.Fatal(err)
			}
			completed := 0
			for _, a := range audits {
				if a.Status == store.StatusCompleted {
					completed++
				}
			}
			if completed != 1 {
				t.Errorf("task %s: %d Completed audits, want 1: %v", task, completed, audits)
			}
		}
		c.checkNoOverlap(execs, func(x *execution) bool { return x.node == v.id })
		if takeover > lease+poll+slack {
			t.Errorf("the take-over took %s, more than lease %s + poll %s + slack %s", takeover, lease, poll, slack)
		}
		if cancelLag > lease {
			t.Errorf("the resumed node's handlers saw their context end %s after SIGCONT, more than a lease", cancelLag)
		}
		t.Logf("paused %s with 4 running tasks: taken over within %s; after SIGCONT its handlers saw the context end within %s; %d late successes refused; 0 of its writes applied",
			v.id, ms(takeover), ms(cancelLag), lateSuccess)
	})
}

// TestRecurringOnce: three nodes register one series under one key; each
// of its 20 occurrences runs once, on time, somewhere.
func TestRecurringOnce(t *testing.T) {
	eachStore(t, func(t *testing.T, c *cluster) {
		const runs = 20
		nodes := []*proc{c.start("n1", 4), c.start("n2", 4), c.start("n3", 4)}
		for _, p := range nodes {
			p.send("recurring series 1 %d 100ms", runs)
		}
		rs := c.waitFor(15*time.Second, "the registrations", func(rs records) bool { return len(rs.find("series", "", "")) == 3 })
		id := rs.find("series", "", "")[0].subject
		for _, r := range rs.find("series", "", "") {
			if r.subject != id {
				t.Fatalf("the nodes registered different series: %s and %s", id, r.subject)
			}
		}
		ctx := context.Background()
		// Later registrations keep the stored next run (and so the
		// winner's slots) but rewrite ScheduledAt: the first slot is the
		// next run read now, before it ran.
		row, err := c.b.st.GetByKey(ctx, "series")
		if err != nil {
			t.Fatal(err)
		}
		if row.RunCount != 0 {
			t.Fatalf("the series ran %d times before the test read its first slot", row.RunCount)
		}
		first := row.NextRunAt
		deadline := time.Now().Add(runs*time.Second + lease + slack + 10*time.Second)
		for {
			var err error
			if row, err = c.b.st.GetByKey(ctx, "series"); err != nil {
				t.Fatal(err)
			}
			if row.RunCount >= runs && row.NextRunAt.IsZero() {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("series at %d runs of %d, next %s", row.RunCount, runs, row.NextRunAt)
			}
			time.Sleep(200 * time.Millisecond)
		}
		// The series ended: one more interval shows no stray occurrence.
		time.Sleep(1500 * time.Millisecond)

		rs = c.records()
		execs := rs.executions()[id]
		if row.RunCount != runs {
			t.Errorf("RunCount %d, want %d", row.RunCount, runs)
		}
		if len(execs) != runs {
			t.Errorf("%d executions, want %d", len(execs), runs)
		}
		perRun := map[int]int{}
		perNode := map[string]int{}
		var late time.Duration
		for _, x := range execs {
			perRun[x.run]++
			perNode[x.node]++
			slot := first.Add(time.Duration(x.run-1) * time.Second)
			if x.start.Before(slot.Add(-time.Millisecond)) {
				t.Errorf("run %d started at %s, before its slot %s", x.run, stamp(x.start), stamp(slot))
			}
			late = max(late, x.start.Sub(slot))
		}
		for n := 1; n <= runs; n++ {
			if perRun[n] != 1 {
				t.Errorf("run %d executed %d times", n, perRun[n])
			}
		}
		c.checkNoOverlap(map[string][]*execution{id: execs}, nil)
		if late > poll+slack {
			t.Errorf("an occurrence started %s after its slot, more than poll %s + slack %s", late, poll, slack)
		}
		t.Logf("series of %d registered by 3 nodes: %d executions, RunCount %d, runs per node %v, latest start %s after its slot",
			runs, len(execs), row.RunCount, perNode, ms(late))
	})
}

// TestDelayedAfterKill: a node dispatches delayed tasks and is killed
// before they are due; the others run them on time.
func TestDelayedAfterKill(t *testing.T) {
	eachStore(t, func(t *testing.T, c *cluster) {
		d := c.start("dispatcher", 4)
		c.start("n1", 4)
		c.start("n2", 4)
		d.send("dispatch 10 50ms 3s")
		rs := c.waitFor(10*time.Second, "the dispatches", func(rs records) bool { return rs.has("dispatched", "-", d.id) })
		d.kill()
		acks := rs.acks()
		c.waitCompleted(3*time.Second+lease+poll+slack+10*time.Second, acks)

		ctx := context.Background()
		execs := c.records().executions()
		var late time.Duration
		for _, id := range acks {
			row, err := c.b.st.Get(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			xs := execs[id.String()]
			if len(xs) != 1 {
				t.Errorf("task %s: %d executions, want 1", id, len(xs))
				continue
			}
			x := xs[0]
			if x.node == d.id {
				t.Errorf("task %s ran on the dispatcher before it was due", id)
			}
			if x.start.Before(row.ScheduledAt.Add(-time.Millisecond)) {
				t.Errorf("task %s started at %s, before it was due at %s", id, stamp(x.start), stamp(row.ScheduledAt))
			}
			late = max(late, x.start.Sub(row.ScheduledAt))
		}
		if late > poll+slack {
			t.Errorf("a delayed task started %s after it was due, more than poll %s + slack %s", late, poll, slack)
		}
		t.Logf("%d delayed tasks of a killed node ran once each, the latest %s after it was due (poll %s)", len(acks), ms(late), poll)
	})
}

// TestCancelAcrossNodes: Cancel on one node stops the handler running on
// another within a second.
func TestCancelAcrossNodes(t *testing.T) {
	eachStore(t, func(t *testing.T, c *cluster) {
		runner := c.start("runner", 4)
		runner.send("dispatch 3 30s")
		rs := c.waitFor(15*time.Second, "three tasks running", func(rs records) bool { return len(rs.find("start", "", runner.id)) == 3 })
		var tasks []string
		for _, r := range rs.find("start", "", runner.id) {
			tasks = append(tasks, r.subject)
		}
		other := c.start("canceller", 4)
		for _, task := range tasks {
			other.send("cancel %s", task)
		}
		rs = c.waitFor(10*time.Second, "the handlers to stop", func(rs records) bool {
			for _, task := range tasks {
				if !rs.has("ctxdone", task, runner.id) || !rs.has("cancelret", task, other.id) {
					return false
				}
			}
			return true
		})
		var worst time.Duration
		for _, task := range tasks {
			if ret := rs.find("cancelret", task, other.id)[0]; len(ret.rest) != 1 || ret.rest[0] != "ok" {
				t.Errorf("Cancel(%s): %s", task, strings.Join(ret.rest, " "))
			}
			lag := rs.find("ctxdone", task, runner.id)[0].at.Sub(rs.find("cancel", task, other.id)[0].at)
			worst = max(worst, lag)
			row, err := c.b.st.Get(context.Background(), uuid.MustParse(task))
			if err != nil {
				t.Fatal(err)
			}
			if row.Status != store.StatusCancelled {
				t.Errorf("task %s is %s after Cancel, want Cancelled", task, row.Status)
			}
		}
		if rs.has("applied", "", "") {
			t.Errorf("a cancelled task was recorded as a success")
		}
		// With a notifier the cancel is a notice; without (SQLite, MySQL)
		// the running node learns it at its next lease renewal.
		bound := time.Second
		if c.b.kind == "sqlite" || c.b.kind == "mysql" {
			bound = renewInterval + 500*time.Millisecond
		}
		if worst > bound {
			t.Errorf("a handler saw its context end %s after Cancel on another node, more than %s", worst, bound)
		}
		t.Logf("Cancel on one node stopped 3 handlers on another, the slowest %s after the call", ms(worst))
	})
}

// TestPostgresRestart restarts PostgreSQL under three working nodes:
// nothing acknowledged is lost, nothing runs twice at once.
func TestPostgresRestart(t *testing.T) {
	if os.Getenv("EVERTASK_TEST_SERVER_RESTART") != "1" {
		t.Skip("restarts the shared PostgreSQL; .ci/run runs it alone with EVERTASK_TEST_SERVER_RESTART=1")
	}
	c := newCluster(t, openBackend(t, "postgres"))
	nodes := []*proc{c.start("n1", 4), c.start("n2", 4), c.start("n3", 4)}
	for _, p := range nodes {
		p.send("dispatch 0 100ms 0 20ms")
	}
	c.waitFor(30*time.Second, "some work before the restart", func(rs records) bool { return len(rs.find("applied", "", "")) >= 100 })
	ver, err := os.ReadDir("/etc/postgresql")
	if err != nil || len(ver) == 0 {
		t.Fatalf("no PostgreSQL cluster to restart in /etc/postgresql: %v", err)
	}
	names := make([]string, len(ver))
	for i, v := range ver {
		names[i] = v.Name()
	}
	sort.Strings(names)
	began := time.Now()
	out, err := exec.Command("pg_ctlcluster", "--skip-systemctl-redirect", names[len(names)-1], "main", "restart").CombinedOutput()
	if err != nil {
		t.Fatalf("pg_ctlcluster restart: %v\n%s", err, out)
	}
	restarted := time.Now()
	// Keep working past the restart, then stop dispatching.
	c.waitFor(60*time.Second, "work after the restart", func(rs records) bool {
		n := 0
		for _, r := range rs.find("applied", "", "") {
			if r.at.After(restarted) {
				n++
			}
		}
		return n >= 100
	})
	for _, p := range nodes {
		p.send("halt")
	}
	rs := c.waitFor(30*time.Second, "the dispatch loops", func(rs records) bool { return len(rs.find("dispatched", "", "")) == 3 })
	acks := rs.acks()
	c.waitCompleted(lease+poll+slack+60*time.Second, acks)

	execs := c.records().executions()
	again := 0
	for _, id := range acks {
		if len(execs[id.String()]) > 1 {
			again++
		}
	}
	c.checkNoOverlap(execs, nil)
	t.Logf("PostgreSQL restarted in %s under 3 nodes: %d tasks acknowledged, all completed; %d dispatch calls failed (retried); %d tasks ran more than once",
		ms(restarted.Sub(began)), len(acks), len(rs.find("dispatcherr", "", "")), again)
}

// openOn returns the tasks a node started and has not ended.
func openOn(execs map[string][]*execution, node string) []string {
	var out []string
	for task, xs := range execs {
		for _, x := range xs {
			if x.node == node && x.end.IsZero() {
				out = append(out, task)
			}
		}
	}
	return out
}

// unapplied returns the tasks a node started and never saw applied.
func unapplied(execs map[string][]*execution, node string) []string {
	var out []string
	for task, xs := range execs {
		for _, x := range xs {
			if x.node == node && !x.applied {
				out = append(out, task)
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// firstStartAfter returns the first start of a task after t on a node
// other than node; zero if none.
func firstStartAfter(xs []*execution, node string, t time.Time) time.Time {
	var first time.Time
	for _, x := range xs {
		if x.node != node && x.start.After(t) && (first.IsZero() || x.start.Before(first)) {
			first = x.start
		}
	}
	return first
}

func flatten(execs map[string][]*execution) []*execution {
	var out []*execution
	for _, xs := range execs {
		out = append(out, xs...)
	}
	return out
}

// TestLivenessSessionLost drops the database session that proves a node
// alive (as a server restart, a proxy, an idle timeout or a network blip
// does) while the node lives and runs a task under a lease it keeps
// renewing: no other node may start that task before the node ends it.
//
// A session is proof of a process only as long as nothing else can end it:
// the rescuer takes a gone node's rows only once it also missed a
// heartbeat, and the live node takes a new session at its next beat.
// (Without that rule another node started the task within a poll, 95 ms on
// PostgreSQL and 483 ms on Redis, while the first still ran it.)
func TestLivenessSessionLost(t *testing.T) {
	drops := map[string]func(c *cluster, node string) error{
		"postgres": func(c *cluster, node string) error {
			// The session holds the node's advisory lock (pgstore's nodes
			// table has its key).
			var n int
			err := c.b.pool.QueryRow(context.Background(), `SELECT count(pg_terminate_backend(l.pid)) FROM pg_locks l
	JOIN `+c.b.schema+`.nodes n ON l.locktype = 'advisory' AND l.granted
		AND l.classid = ((n.lock_key >> 32) & 4294967295)::oid
		AND l.objid = (n.lock_key & 4294967295)::oid AND l.objsubid = 1
	WHERE n.id = $1`, node).Scan(&n)
			if err == nil && n != 1 {
				err = fmt.Errorf("%d sessions hold the node's lock", n)
			}
			return err
		},
		"mysql": func(c *cluster, node string) error {
			// The session holds the node's GET_LOCK lock (mysqlstore's
			// nodes table has its name).
			var id int64
			err := c.b.mysql.QueryRow("SELECT IS_USED_LOCK(lock_name) FROM `"+c.b.schema+"`.`evertask_nodes` WHERE id = ?", node).Scan(&id)
			if err != nil {
				return err
			}
			_, err = c.b.mysql.Exec(fmt.Sprintf("KILL %d", id))
			return err
		},
		"redis": func(c *cluster, node string) error {
			// The session is the connection named after the node, its
			// prefix and a hash of both (redisstore's clientName).
			sum := sha256.Sum256([]byte("{" + c.b.schema + "}\x00" + node))
			name := "evertask:" + node + ":" + hex.EncodeToString(sum[:8])
			list, err := c.b.redis.ClientList(context.Background()).Result()
			if err != nil {
				return err
			}
			for _, line := range strings.Split(list, "\n") {
				if !slices.Contains(strings.Fields(line), "name="+name) {
					continue
				}
				for _, f := range strings.Fields(line) {
					if id, ok := strings.CutPrefix(f, "id="); ok {
						return c.b.redis.Do(context.Background(), "CLIENT", "KILL", "ID", id).Err()
					}
				}
			}
			return fmt.Errorf("no connection named %s", name)
		},
	}
	for _, kind := range []string{"postgres", "mysql", "redis"} {
		t.Run(kind, func(t *testing.T) {
			c := newCluster(t, openBackend(t, kind))
			a := c.start("a", 2)
			a.send("dispatch 1 8s")
			rs := c.waitFor(15*time.Second, "the task on a", func(rs records) bool { return rs.has("start", "", a.id) })
			task := rs.find("start", "", a.id)[0].subject
			b := c.start("b", 2)
			if err := drops[kind](c, a.id); err != nil {
				t.Fatalf("drop a's liveness session: %v", err)
			}
			dropped := time.Now()
			rs = c.waitFor(15*time.Second, "the task's end on a", func(rs records) bool { return rs.has("end", task, a.id) })
			if starts := rs.find("start", task, b.id); len(starts) > 0 {
				t.Errorf("b started the task %s after a's liveness session was dropped, while a still ran it (until %s) under a live lease",
					ms(starts[0].at.Sub(dropped)), stamp(rs.find("end", task, a.id)[0].at))
			}
		})
	}
}
