package main

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/evertask/evertask/store"
)

type nodeJSON struct {
	ID            string         `json:"id"`
	Host          string         `json:"host"`
	PID           int            `json:"pid"`
	StartedAt     time.Time      `json:"started_at,omitzero"`
	LastHeartbeat time.Time      `json:"last_heartbeat"`
	Queues        map[string]int `json:"queues"`
	Gone          bool           `json:"gone"`
}

func runNodes(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("nodes", "nodes [store flags] [--json]", stderr)
	var sf storeFlags
	sf.add(fs)
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	rest, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if err := noPositional(rest); err != nil {
		return err
	}
	in, done, err := sf.inspector(ctx)
	if err != nil {
		return err
	}
	defer done()
	nodes, err := in.Nodes(ctx)
	if err != nil {
		return err
	}
	if *asJSON {
		out := struct {
			Nodes []nodeJSON `json:"nodes"`
		}{Nodes: []nodeJSON{}}
		for _, n := range nodes {
			q := n.Queues
			if q == nil {
				q = map[string]int{}
			}
			out.Nodes = append(out.Nodes, nodeJSON{ID: n.ID, Host: n.Host, PID: n.PID, StartedAt: utc(n.StartedAt),
				LastHeartbeat: utc(n.LastHeartbeat), Queues: q, Gone: n.Gone})
		}
		return writeJSON(stdout, out)
	}
	if len(nodes) == 0 {
		fmt.Fprintln(stdout, "no nodes: no engine is running on this store")
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tHOST\tPID\tSTARTED\tLAST HEARTBEAT\tSTATE\tQUEUES (workers)")
	for _, n := range nodes {
		state := "live"
		if n.Gone {
			state = "gone (its work is being taken over)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\n", n.ID, n.Host, n.PID, n.StartedAt.Local().Format(time.DateTime),
			n.LastHeartbeat.Local().Format("15:04:05.000"), state, queueWorkers(n))
	}
	return tw.Flush()
}

func queueWorkers(n store.Node) string {
	names := make([]string, 0, len(n.Queues))
	for q := range n.Queues {
		names = append(names, q)
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, q := range names {
		parts[i] = fmt.Sprintf("%s=%d", q, n.Queues[q])
	}
	return strings.Join(parts, " ")
}
