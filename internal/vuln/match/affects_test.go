package match

import (
	"bufio"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/google/osv-scalibr/semantic"

	"github.com/berth-registry/berth/internal/vuln/osv"
)

func ev(kind, v string) osv.Event {
	switch kind {
	case "i":
		return osv.Event{Introduced: v}
	case "f":
		return osv.Event{Fixed: v}
	case "la":
		return osv.Event{LastAffected: v}
	}
	return osv.Event{Limit: v}
}

func rng(typ string, evs ...osv.Event) osv.Range { return osv.Range{Type: typ, Events: evs} }

func TestAffects(t *testing.T) {
	tests := []struct {
		name, eco, version string
		affected           osv.Affected
		want               bool
		wantFix            string
	}{
		{"introduced zero, fixed above", "Debian:12", "3.0.19-1~deb12u2",
			osv.Affected{Ranges: []osv.Range{rng("ECOSYSTEM", ev("i", "0"), ev("f", "3.0.19-1~deb12u3"))}}, true, "3.0.19-1~deb12u3"},
		{"fixed in exactly this version", "Debian:12", "1:1.2.13.dfsg-1",
			osv.Affected{Ranges: []osv.Range{rng("ECOSYSTEM", ev("i", "0"), ev("f", "1:1.2.13.dfsg-1"))}}, false, ""},
		{"tilde sorts before the release", "Debian:12", "3.0.19-1~deb12u2",
			osv.Affected{Ranges: []osv.Range{rng("ECOSYSTEM", ev("i", "0"), ev("f", "3.0.19-1"))}}, true, "3.0.19-1"},
		{"epoch beats upstream version", "Debian:12", "1:1.2.13.dfsg-1",
			osv.Affected{Ranges: []osv.Range{rng("ECOSYSTEM", ev("i", "0"), ev("f", "9.9"))}}, false, ""},
		{"last_affected equal", "Debian:12", "2.36-9+deb12u14",
			osv.Affected{Ranges: []osv.Range{rng("ECOSYSTEM", ev("i", "2.36-1"), ev("la", "2.36-9+deb12u14"))}}, true, ""},
		{"last_affected below", "Debian:12", "2.36-9+deb12u14",
			osv.Affected{Ranges: []osv.Range{rng("ECOSYSTEM", ev("i", "2.36-1"), ev("la", "2.36-9+deb12u13"))}}, false, ""},
		{"below introduced", "Go", "v0.3.6",
			osv.Affected{Ranges: []osv.Range{rng("SEMVER", ev("i", "0.3.7"))}}, false, ""},
		{"second of two ranges in one range's events", "Go", "1.19.2",
			osv.Affected{Ranges: []osv.Range{rng("SEMVER", ev("i", "0"), ev("f", "1.18.9"), ev("i", "1.19.0-0"), ev("f", "1.19.4"))}}, true, "1.19.4"},
		{"between two ranges", "Go", "v1.18.10",
			osv.Affected{Ranges: []osv.Range{rng("SEMVER", ev("i", "1.19.0-0"), ev("f", "1.19.4"), ev("i", "0"), ev("f", "1.18.9"))}}, false, ""},
		{"limit bounds an open range", "npm", "2.0.0",
			osv.Affected{Ranges: []osv.Range{rng("SEMVER", ev("i", "1.0.0"), ev("l", "2.0.0"))}}, false, ""},
		{"inside a limit", "npm", "1.5.0",
			osv.Affected{Ranges: []osv.Range{rng("SEMVER", ev("i", "1.0.0"), ev("l", "2.0.0"))}}, true, ""},
		{"versions list only", "PyPI", "2.31.0",
			osv.Affected{Versions: []string{"2.30.0", "2.31.0"}}, true, ""},
		{"not in versions list", "PyPI", "2.31.1",
			osv.Affected{Versions: []string{"2.30.0", "2.31.0"}}, false, ""},
		{"PEP 440 ordering", "PyPI", "2.0.0rc1",
			osv.Affected{Ranges: []osv.Range{rng("ECOSYSTEM", ev("i", "0"), ev("f", "2.0.0"))}}, true, "2.0.0"},
		{"Maven ordering", "Maven", "1.30",
			osv.Affected{Ranges: []osv.Range{rng("ECOSYSTEM", ev("i", "0"), ev("f", "1.31"))}}, true, "1.31"},
		{"Alpine ordering", "Alpine:v3.20", "3.3.1-r0",
			osv.Affected{Ranges: []osv.Range{rng("ECOSYSTEM", ev("i", "0"), ev("f", "3.3.1-r1"))}}, true, "3.3.1-r1"},
		{"RPM ordering", "Red Hat", "1.1.1k-7.el8_6",
			osv.Affected{Ranges: []osv.Range{rng("ECOSYSTEM", ev("i", "0"), ev("f", "1:1.1.1k-8.el8_6"))}}, true, "1:1.1.1k-8.el8_6"},
		{"GIT ranges are ignored", "Go", "v1.0.0",
			osv.Affected{Ranges: []osv.Range{rng("GIT", ev("i", "0"))}}, false, ""},
		{"neither ranges nor versions: every version", "npm", "1.0.0",
			osv.Affected{}, true, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ok, fix := newInstalled(tc.eco, tc.version).affects(&tc.affected)
			if ok != tc.want || fix != tc.wantFix {
				t.Errorf("affects(%s %s) = %v, %q; want %v, %q", tc.eco, tc.version, ok, fix, tc.want, tc.wantFix)
			}
		})
	}
}

// TestDebianOrderingMatchesDpkg checks the Debian ordering matching uses
// against dpkg itself, when dpkg is installed.
func TestDebianOrderingMatchesDpkg(t *testing.T) {
	pairs := [][2]string{
		{"3.0.19-1~deb12u2", "3.0.19-1~deb12u3"},
		{"3.0.19-1~deb12u2", "3.0.19-1"},
		{"1:1.2.13.dfsg-1", "1.2.13.dfsg-2"},
		{"2.36-9+deb12u14", "2.36-9+deb12u9"},
		{"5.2.15-2+b8", "5.2.15-2"},
		{"1.0~rc1", "1.0"},
		{"1.0", "1.0-0"},
		{"1.0a", "1.0+"},
		{"2:1.0", "1:9.9"},
		{"1.2.3-1", "1.2.3-1"},
		{"0.9.8zh-1", "0.9.8-1"},
		{"1.0.0~~", "1.0.0~"},
	}
	// And real versions: pairs from this machine's package list.
	if real := dpkgVersions("/var/lib/dpkg/status"); len(real) > 1 {
		step := max(1, len(real)/30)
		for i := 0; i+1 < len(real); i += step {
			pairs = append(pairs, [2]string{real[i], real[i+1]})
		}
	}
	dpkg, err := exec.LookPath("dpkg")
	for _, p := range pairs {
		t.Run(p[0]+" vs "+p[1], func(t *testing.T) {
			a, err1 := semantic.ParseDebianVersion(p[0])
			if err1 != nil {
				t.Fatalf("parse %s: %v", p[0], err1)
			}
			got, err1 := a.CompareStr(p[1])
			if err1 != nil {
				t.Fatalf("compare: %v", err1)
			}
			if err != nil {
				t.Skip("dpkg not installed; nothing to cross-check against")
			}
			want := 0
			for _, c := range []struct {
				op string
				v  int
			}{{"lt", -1}, {"gt", 1}} {
				if exec.Command(dpkg, "--compare-versions", p[0], c.op, p[1]).Run() == nil {
					want = c.v
				}
			}
			if got != want {
				t.Errorf("semantic says %d, dpkg --compare-versions says %d", got, want)
			}
		})
	}
}

// dpkgVersions returns the Version fields of a dpkg status file, or nothing
// if it cannot be read.
func dpkgVersions(path string) []string {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "Version: "); ok {
			out = append(out, v)
		}
	}
	return out
}
