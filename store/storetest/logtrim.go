package storetest

import (
	"fmt"
	"time"

	"github.com/evertask/evertask/store"
)

func logTrimmerChecks() []check {
	return []check{
		{"KeepsTheNewestInLogOrder", func(t tb, s store.Store) {
			task, other := newTask(1), newTask(2)
			persist(t, s, task, other)
			var all []store.ExecutionLog
			// Saved out of order, as in OrderedByIDThenSeqAcrossSaves: the
			// newest are the last by (ID, Seq), not the last saved.
			for _, batch := range [][]int{{30, 31}, {10, 12}, {20}} {
				var logs []store.ExecutionLog
				for _, id := range batch {
					logs = append(logs, logRecord(task.ID, id, 0, "Information", fmt.Sprint("log ", id)))
				}
				if err := s.SaveLogs(t.Context(), task.ID, logs); err != nil {
					t.Fatalf("SaveLogs: %v", err)
				}
			}
			for _, id := range []int{10, 12, 20, 30, 31} {
				all = append(all, logRecord(task.ID, id, 0, "Information", fmt.Sprint("log ", id)))
			}
			if err := s.SaveLogs(t.Context(), other.ID, []store.ExecutionLog{logRecord(other.ID, 1, 0, "Information", "other")}); err != nil {
				t.Fatalf("SaveLogs: %v", err)
			}
			lt := s.(store.LogTrimmer)
			n, err := lt.TrimLogs(t.Context(), task.ID, 5)
			if err != nil || n != 0 {
				t.Errorf("TrimLogs to the count it has = %d, %v; want 0, nil", n, err)
			}
			n, err = lt.TrimLogs(t.Context(), task.ID, 2)
			if err != nil || n != 3 {
				t.Errorf("TrimLogs(keep 2) of 5 = %d, %v; want 3, nil", n, err)
			}
			wantLogs(t, "logs after TrimLogs(keep 2)", logsOf(t, s, task.ID), all[3:])
			if got := logsOf(t, s, other.ID); len(got) != 1 {
				t.Errorf("TrimLogs of one task changed another's logs: %d left", len(got))
			}
			page, err := s.LogsPage(t.Context(), store.LogQuery{TaskID: task.ID})
			if err != nil || page.Total != 2 {
				t.Errorf("LogsPage after TrimLogs: total %d, %v; want 2", page.Total, err)
			}
			if n, err := lt.TrimLogs(t.Context(), task.ID, 0); err != nil || n != 2 {
				t.Errorf("TrimLogs(keep 0) = %d, %v; want 2, nil", n, err)
			}
			if n, err := lt.TrimLogs(t.Context(), tid(99), 1); err != nil || n != 0 {
				t.Errorf("TrimLogs of a missing task = %d, %v; want 0, nil", n, err)
			}
			_, err = lt.TrimLogs(t.Context(), task.ID, -1)
			wantErr(t, "TrimLogs(keep -1)", err, store.ErrInvalid)
		}},
		{"TrimmedLogsLeaveRetentionAlone", func(t tb, s store.Store) {
			if _, ok := s.(store.Retainer); !ok {
				t.Skipf("%T is not a store.Retainer", s)
			}
			task := historyRow(t, s, 1, "", 300, 200, 100)
			if n, err := s.(store.LogTrimmer).TrimLogs(t.Context(), task.ID, 1); err != nil || n != 2 {
				t.Fatalf("TrimLogs(keep 1) = %d, %v; want 2", n, err)
			}
			// The trimmed logs must not be counted again by a later purge.
			res := purge(t, s, store.RetentionPolicy{LogAge: time.Hour})
			if res.Logs != 1 {
				t.Errorf("Purge after TrimLogs deleted %d logs, want the 1 left", res.Logs)
			}
		}},
	}
}
