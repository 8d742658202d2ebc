//go:build unix

package filesystem

import (
	"errors"
	"os"
	"syscall"
)

// errLocked reports that another writer holds the lock.
var errLocked = errors.New("locked by another writer")

// lockExclusive takes an exclusive advisory lock on f without waiting. It
// returns errLocked if another open file (in this or any other process on
// the host) holds it. Closing f releases the lock.
func lockExclusive(f *os.File) error {
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, syscall.EWOULDBLOCK):
			return errLocked
		case errors.Is(err, syscall.EINTR):
			continue
		default:
			return &os.PathError{Op: "flock", Path: f.Name(), Err: err}
		}
	}
}
