package sqlitestore_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/evertask/evertask/store/sqlitestore"
)

func TestPendingMigrations(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "p.db")
	all, err := sqlitestore.PendingMigrations(t.Context(), path)
	if err != nil || len(all) != migrationFiles(t) || all[0] != "001_init" {
		t.Fatalf("PendingMigrations of a missing file = %v, %v; want all %d from 001_init", all, err, migrationFiles(t))
	}
	if m, _ := filepath.Glob(path + "*"); len(m) != 0 {
		t.Fatalf("PendingMigrations created %v", m)
	}
	s := open(t, path)
	s.Close()
	if p, err := sqlitestore.PendingMigrations(t.Context(), path); err != nil || len(p) != 0 {
		t.Fatalf("PendingMigrations after Open = %v, %v; want none", p, err)
	}
}

func TestPauseSurvivesReopen(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "pause.db")
	s := open(t, path)
	if err := s.PauseQueue(t.Context(), "mail", time.Unix(1700000000, 0)); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = open(t, path)
	p, err := s.PausedQueues(t.Context())
	if err != nil || len(p) != 1 || p[0].Queue != "mail" || !p[0].PausedAt.Equal(time.Unix(1700000000, 0)) {
		t.Fatalf("PausedQueues after reopen = %v, %v; want mail paused at its time", p, err)
	}
}
