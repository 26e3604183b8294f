//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package sqlitestore

import (
	"errors"
	"io/fs"
	"os"
)

// Without flock (Windows, Plan 9, ...) no process can prove another one
// ended: the lock files are kept for the layout's sake, no node is ever
// reported Gone, and the rows of a dead node come back once their leases
// expire.

var errLockHeld = errors.New("lock held")

func lockFile(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
}

func unlockNodeFile(f *os.File, remove bool) error {
	err := f.Close()
	if remove {
		if rerr := os.Remove(f.Name()); !errors.Is(rerr, fs.ErrNotExist) {
			err = errors.Join(err, rerr)
		}
	}
	return err
}

func probeNodeFile(string) (bool, error) { return false, nil }

func removeStaleNodeFile(string) {}
