package match

import (
	"bufio"
	"os"
	"strings"
	"testing"

	"github.com/google/osv-scalibr/semantic"

	"github.com/berth-registry/berth/internal/vuln"
)

// dpkgPackages reads the installed packages of a dpkg status file, with
// their source package names ("Source: name (version)" keeps the name).
func dpkgPackages(t *testing.T, path string) []vuln.Package {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Skipf("no dpkg status here: %v", err)
	}
	defer f.Close()
	var out []vuln.Package
	cur := vuln.Package{Ecosystem: "Debian:12", Location: path}
	flush := func() {
		if cur.Name != "" && cur.Version != "" {
			out = append(out, cur)
		}
		cur = vuln.Package{Ecosystem: "Debian:12", Location: path}
	}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		key, val, _ := strings.Cut(line, ": ")
		switch {
		case line == "":
			flush()
		case key == "Package":
			cur.Name = val
		case key == "Version":
			cur.Version = val
		case key == "Source":
			cur.SourceName, _, _ = strings.Cut(val, " ")
		}
	}
	flush()
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestMatchThisMachinesDpkgStatus matches every package of this machine's
// Debian 12 package list against the fixtures: every version must parse in
// the Debian ordering, and the hand-written records pinned to this
// machine's versions must be found through the binary packages' sources.
func TestMatchThisMachinesDpkgStatus(t *testing.T) {
	pkgs := dpkgPackages(t, "/var/lib/dpkg/status")
	if len(pkgs) < 10 {
		t.Skipf("only %d packages in the dpkg status", len(pkgs))
	}
	for _, p := range pkgs {
		if _, err := semantic.ParseDebianVersion(p.Version); err != nil {
			t.Errorf("%s %s does not parse as a Debian version: %v", p.Name, p.Version, err)
		}
	}
	got, err := New(fixtureStore(t)).Match(t.Context(), pkgs)
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]string{} // package → finding id
	for _, f := range got {
		found[f.Package.Name] = f.ID
	}
	pinned := map[string]vuln.Package{"libssl3": libssl3, "libc6": libc6, "zlib1g": zlib1g, "bash": bash}
	want := map[string]string{"libssl3": "BERTH-CVE-2099-0001", "libc6": "BERTH-DSA-0003"}
	for _, p := range pkgs {
		pin, ok := pinned[p.Name]
		if !ok {
			continue
		}
		if p.Version != pin.Version {
			t.Logf("%s is now %s, not the pinned %s; not checked", p.Name, p.Version, pin.Version)
			continue
		}
		if found[p.Name] != want[p.Name] {
			t.Errorf("%s %s: finding %q, want %q", p.Name, p.Version, found[p.Name], want[p.Name])
		}
	}
}
