//go:build !linux

package filesystem

import (
	"os"
	"testing"
)

// asOtherUser runs fn where file permission bits apply: as an ordinary
// user. Run by root (which ignores them) the test is skipped on this OS.
func asOtherUser(t *testing.T, fn func()) {
	t.Helper()
	if os.Geteuid() == 0 {
		t.Skip("permission tests need a non-root user on this OS")
	}
	fn()
}
