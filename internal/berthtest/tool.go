package berthtest

import (
	"os/exec"
	"testing"
)

// Tool returns the path of the external program name (conformance, crane,
// oras, regctl, skopeo, ...) found on PATH. When it is missing the test is
// skipped, or fails if RequireTools reports true (scripts/test.sh sets it
// after installing every tool), so a full run never passes by skipping.
func Tool(t testing.TB, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	if RequireTools() {
		t.Fatalf("%s is not on PATH (%v); scripts/test.sh installs it into .tools/bin", name, err)
	}
	t.Skipf("%s is not on PATH; run scripts/test.sh, which installs the pinned test tools into .tools/bin and puts them on PATH", name)
	return ""
}
