//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package sqlitestore

import (
	"errors"
	"io/fs"
	"os"
	"syscall"
)

// A node's liveness is an exclusive flock on its lock file, held by an open
// descriptor for as long as the node is joined. flock locks belong to the
// open file description, not the process: the kernel drops one when its
// last descriptor closes, which the death of the process does whatever
// killed it, and a descriptor opened anew conflicts with it even within the
// same process. Go opens files close-on-exec, so a child process never
// inherits, and never prolongs, a node's lock.

// errLockHeld says another open file holds the lock.
var errLockHeld = errors.New("lock held")

// lockFile opens (creating) and locks path, or returns errLockHeld.
func lockFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	if err := flock(f, syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, err
	}
	// A leaving node or a cleaner may have removed the file between the
	// open and the lock: the lock would then be on a name nobody finds. The
	// path must still name the file that is locked; if not, try again.
	fi, err := f.Stat()
	if err == nil {
		var pi os.FileInfo
		if pi, err = os.Stat(path); (err == nil && !os.SameFile(fi, pi)) || errors.Is(err, fs.ErrNotExist) {
			err = errLockHeld
		}
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// unlockNodeFile releases a lock lockFile took, removing the file first
// when remove is set: removed while still locked, so nobody can lock it in
// between and then find it gone.
func unlockNodeFile(f *os.File, remove bool) error {
	var err error
	if remove {
		if err = os.Remove(f.Name()); errors.Is(err, fs.ErrNotExist) {
			err = nil
		}
	}
	return errors.Join(err, f.Close())
}

// probeNodeFile reports whether the lock of path is free, that is whether
// the process that held it has ended. A missing file proves nothing (it was
// removed, perhaps under a live holder) and reports false.
func probeNodeFile(path string) (gone bool, err error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer f.Close() // releases the probe's own lock at once
	switch err := flock(f, syscall.LOCK_EX|syscall.LOCK_NB); {
	case errors.Is(err, errLockHeld):
		return false, nil
	case err != nil:
		return false, err
	}
	return true, nil
}

// removeStaleNodeFile removes the lock file of a node that left from
// another process, if no process holds it. Best effort: a file left behind
// costs a few bytes and is reused by the next node with that id.
func removeStaleNodeFile(path string) {
	f, err := lockFile(path)
	if err != nil {
		return
	}
	unlockNodeFile(f, true)
}

// flock applies how to f, retrying an interrupted call; a lock another
// open file holds is errLockHeld.
func flock(f *os.File, how int) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) {
		for {
			if ferr = syscall.Flock(int(fd), how); ferr != syscall.EINTR {
				return
			}
		}
	}); err != nil {
		return err
	}
	if errors.Is(ferr, syscall.EWOULDBLOCK) {
		return errLockHeld
	}
	return ferr
}
