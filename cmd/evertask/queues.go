package main

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/evertask/evertask/inspect"
	"github.com/evertask/evertask/store"
)

const queuesSynopsis = `queues [list] [store flags] [--json]
queues pause|resume QUEUE [store flags]`

func runQueues(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("queues", queuesSynopsis, stderr)
	var sf storeFlags
	sf.add(fs)
	asJSON := fs.Bool("json", false, "list: print JSON instead of a table")
	rest, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	sub := "list"
	if len(rest) > 0 {
		sub, rest = rest[0], rest[1:]
	}
	switch sub {
	case "list":
		if err := noPositional(rest); err != nil {
			return err
		}
	case "pause", "resume":
		if len(rest) != 1 || strings.TrimSpace(rest[0]) == "" {
			return usageErr("queues %s takes one queue name", sub)
		}
	default:
		return usageErr("unknown queues subcommand %q (want list, pause or resume)", sub)
	}
	in, done, err := sf.inspector(ctx)
	if err != nil {
		return err
	}
	defer done()
	switch sub {
	case "pause":
		if err := in.PauseQueue(ctx, rest[0]); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "queue %s paused: its tasks are kept and no node starts one until it is resumed\n", rest[0])
		return nil
	case "resume":
		if err := in.ResumeQueue(ctx, rest[0]); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "queue %s resumed\n", rest[0])
		return nil
	}
	qs, err := in.Queues(ctx)
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(stdout, struct {
			Queues []inspect.QueueInfo `json:"queues"`
		}{Queues: append([]inspect.QueueInfo{}, qs...)})
	}
	if len(qs) == 0 {
		fmt.Fprintln(stdout, "no queues: no tasks, and no node registered")
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "QUEUE\tSTATE\tWORKERS\tNODES\tWAITING\tRUNNING\tCOMPLETED\tFAILED\tCANCELLED\tTOTAL")
	for _, q := range qs {
		state := "running"
		if q.Paused {
			state = "paused since " + q.PausedAt.Local().Format(time.DateTime)
		}
		c := q.Counts
		waiting := c[store.StatusWaitingQueue] + c[store.StatusQueued] + c[store.StatusPending] + c[store.StatusServiceStopped]
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%d\t%d\t%d\t%d\t%d\t%d\n", q.Name, state, q.Workers, nodeList(q.Nodes), waiting,
			c[store.StatusInProgress], c[store.StatusCompleted], c[store.StatusFailed], c[store.StatusCancelled], q.Total)
	}
	return tw.Flush()
}

func nodeList(m map[string]int) string {
	if len(m) == 0 {
		return "-"
	}
	ids := make([]string, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return strings.Join(ids, ",")
}
