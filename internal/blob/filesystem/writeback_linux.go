//go:build linux

package filesystem

import (
	"os"

	"golang.org/x/sys/unix"
)

// startWriteback asks the kernel to start writing n bytes of f from off to
// disk now, without waiting for it: by the time Flush or Commit fsyncs, most
// of the data is on disk already, and the fsync waits for the rest only.
// It is a hint; a failure changes nothing that fsync does not catch.
func startWriteback(f *os.File, off, n int64) {
	_ = unix.SyncFileRange(int(f.Fd()), off, n, unix.SYNC_FILE_RANGE_WRITE)
}
