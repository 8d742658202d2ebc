package filesystem

import (
	"os"
	"runtime"
	"syscall"
	"testing"
)

// nobody is the uid and gid the permission tests act as when run by root.
const nobody = 65534

// asOtherUser runs fn where file permission bits apply. Run by an ordinary
// user it simply calls fn. Run by root, which ignores permission bits, it
// calls fn on an OS thread whose filesystem uid and gid are nobody's: Linux
// checks file access against those per thread, so the store meets real
// EACCES errors from the kernel. The thread stays locked and dies with its
// goroutine, taking the changed ids with it. fn must report failures with
// t.Error, not t.Fatal.
func asOtherUser(t *testing.T, fn func()) {
	t.Helper()
	if os.Geteuid() != 0 {
		fn()
		return
	}
	failed := make(chan string, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread() // never unlocked, see above
		// setfsuid and setfsgid return the previous id and no error;
		// calling again reports whether the change took.
		syscall.RawSyscall(syscall.SYS_SETFSGID, nobody, 0, 0)
		syscall.RawSyscall(syscall.SYS_SETFSUID, nobody, 0, 0)
		gid, _, _ := syscall.RawSyscall(syscall.SYS_SETFSGID, nobody, 0, 0)
		uid, _, _ := syscall.RawSyscall(syscall.SYS_SETFSUID, nobody, 0, 0)
		if uid != nobody || gid != nobody {
			failed <- "could not switch the filesystem ids to nobody"
			return
		}
		fn()
	}()
	<-done
	select {
	case msg := <-failed:
		t.Fatal(msg)
	default:
	}
}
