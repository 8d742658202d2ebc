//go:build !unix

package filesystem

import (
	"errors"
	"os"
)

// errLocked reports that another writer holds the lock.
var errLocked = errors.New("locked by another writer")

// lockExclusive does nothing on systems without flock: there, two writers
// resumed on the same upload at once are not detected (Berth's supported
// platforms are all unix).
func lockExclusive(f *os.File) error { return nil }
