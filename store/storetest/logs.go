package storetest

import (
	"errors"
	"fmt"
	"time"

	"github.com/evertask/evertask/store"
	"github.com/google/uuid"
)

func logRecord(taskID uuid.UUID, id, seq int, level, msg string) store.ExecutionLog {
	return store.ExecutionLog{
		ID: tid(1000 + id), TaskID: taskID, At: at(time.Duration(id) * time.Millisecond).In(elsewhere).Add(789 * time.Nanosecond),
		Level: level, Message: msg, Seq: seq,
	}
}

func wantLogs(t tb, what string, got, want []store.ExecutionLog) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d logs, want %d", what, len(got), len(want))
		return
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.ID != w.ID || g.TaskID != w.TaskID || !sameTime(g.At, w.At) || g.Level != w.Level ||
			g.Message != w.Message || g.ErrorDetails != w.ErrorDetails || g.Seq != w.Seq {
			t.Errorf("%s: log %d = %+v, want %+v", what, i, g, w)
		}
	}
}

func logChecks() []check {
	return []check{
		{"OrderedByIDThenSeqAcrossSaves", func(t tb, s store.Store) {
			task := newTask(1)
			other := newTask(2)
			persist(t, s, task, other)
			l := func(id, seq int, msg string) store.ExecutionLog {
				return logRecord(task.ID, id, seq, "Information", msg)
			}
			// Saved out of order; Seq runs against the id order so a store
			// that orders by Seq first is caught.
			saves := [][]store.ExecutionLog{
				{l(30, 0, "third run"), l(31, 1, "third run, second line")},
				{l(10, 9, "first run"), l(12, 1, "first run, last")},
				{l(20, 5, "second run ошибка 💥")},
			}
			saves[1][0].ErrorDetails = "stack\n\tat main.go:1"
			for _, batch := range saves {
				if err := s.SaveLogs(t.Context(), task.ID, batch); err != nil {
					t.Fatalf("SaveLogs: %v", err)
				}
			}
			if err := s.SaveLogs(t.Context(), other.ID, []store.ExecutionLog{logRecord(other.ID, 11, 0, "Information", "other task")}); err != nil {
				t.Fatalf("SaveLogs: %v", err)
			}
			want := []store.ExecutionLog{saves[1][0], saves[1][1], saves[2][0], saves[0][0], saves[0][1]}
			wantLogs(t, "Logs", logsOf(t, s, task.ID), want)
			page, err := s.LogsPage(t.Context(), store.LogQuery{TaskID: task.ID})
			if err != nil {
				t.Fatalf("LogsPage: %v", err)
			}
			wantLogs(t, "LogsPage with defaults", page.Logs, want)
			if page.Total != len(want) {
				t.Errorf("LogsPage Total = %d, want %d", page.Total, len(want))
			}
		}},
		{"SeqBreaksTiesOnEqualID", func(t tb, s store.Store) {
			// Records of one execution may share the execution's id.
			task := newTask(1)
			persist(t, s, task)
			var want []store.ExecutionLog
			for seq := range 4 {
				want = append(want, logRecord(task.ID, 5, seq, "Information", fmt.Sprint("line ", seq)))
			}
			if err := s.SaveLogs(t.Context(), task.ID, []store.ExecutionLog{want[2], want[0], want[3], want[1]}); err != nil {
				t.Fatalf("SaveLogs: %v", err)
			}
			wantLogs(t, "Logs", logsOf(t, s, task.ID), want)
		}},
		{"SaveEmptyIsNoOp", func(t tb, s store.Store) {
			task := newTask(1)
			persist(t, s, task)
			for _, empty := range [][]store.ExecutionLog{nil, {}} {
				if err := s.SaveLogs(t.Context(), task.ID, empty); err != nil {
					t.Errorf("SaveLogs(empty): %v", err)
				}
			}
			if l := logsOf(t, s, task.ID); len(l) != 0 {
				t.Errorf("SaveLogs(empty) wrote %d logs", len(l))
			}
			wantRow(t, s, "after SaveLogs(empty)", task)
		}},
		{"PageOffsetLimitLevelAndTotal", func(t tb, s store.Store) {
			task := newTask(1)
			persist(t, s, task)
			levels := []string{"Information", "Warning", "Error", "information", "INFORMATION"}
			var all []store.ExecutionLog
			for i := range 130 {
				all = append(all, logRecord(task.ID, i, 0, levels[i%len(levels)], fmt.Sprint("line ", i)))
			}
			if err := s.SaveLogs(t.Context(), task.ID, all); err != nil {
				t.Fatalf("SaveLogs: %v", err)
			}
			var info, warn []store.ExecutionLog
			for _, l := range all {
				switch l.Level {
				case "Information", "information", "INFORMATION":
					info = append(info, l)
				case "Warning":
					warn = append(warn, l)
				}
			}
			for _, c := range []struct {
				name  string
				q     store.LogQuery
				want  []store.ExecutionLog
				total int
			}{
				{"default limit", store.LogQuery{}, all[:store.DefaultLogLimit], len(all)},
				{"offset and limit", store.LogQuery{Offset: 10, Limit: 5}, all[10:15], len(all)},
				{"offset near the end", store.LogQuery{Offset: 125, Limit: 50}, all[125:], len(all)},
				{"offset past the end", store.LogQuery{Offset: 500}, nil, len(all)},
				{"level ignores case", store.LogQuery{Level: "information", Limit: 1000}, info, len(info)},
				{"level upper case", store.LogQuery{Level: "WARNING", Limit: 1000}, warn, len(warn)},
				{"level is exact", store.LogQuery{Level: "Info", Limit: 1000}, nil, 0},
				{"level with offset", store.LogQuery{Level: "Warning", Offset: 3, Limit: 4}, warn[3:7], len(warn)},
			} {
				c.q.TaskID = task.ID
				page, err := s.LogsPage(t.Context(), c.q)
				if err != nil {
					t.Errorf("LogsPage(%s): %v", c.name, err)
					continue
				}
				wantLogs(t, "LogsPage("+c.name+")", page.Logs, c.want)
				if page.Total != c.total {
					t.Errorf("LogsPage(%s) Total = %d, want %d", c.name, page.Total, c.total)
				}
			}
		}},
		{"UnknownTask", func(t tb, s store.Store) {
			err := s.SaveLogs(t.Context(), tid(1), []store.ExecutionLog{logRecord(tid(1), 1, 0, "Information", "lost")})
			wantErr(t, "SaveLogs(unknown task)", err, store.ErrNotFound)
			// Reading the history of a missing task may report ErrNotFound
			// or nothing, but never logs.
			l, err := s.Logs(t.Context(), tid(1))
			if err != nil && !errors.Is(err, store.ErrNotFound) || len(l) != 0 {
				t.Errorf("Logs(unknown task) = %d logs, %v; want none and nil or ErrNotFound", len(l), err)
			}
			// The rejected logs must not appear once the task exists.
			persist(t, s, newTask(1))
			if l := logsOf(t, s, tid(1)); len(l) != 0 {
				t.Errorf("SaveLogs for a missing task kept %d logs", len(l))
			}
		}},
	}
}
