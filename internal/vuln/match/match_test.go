package match

import (
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/meta/sqlite"
	"github.com/berth-registry/berth/internal/vuln"
	"github.com/berth-registry/berth/internal/vuln/osv"
)

// newStore opens a fresh SQLite store in a temporary directory.
func newStore(tb testing.TB) *sqlite.Store {
	tb.Helper()
	s, err := sqlite.Open(tb.Context(), filepath.Join(tb.TempDir(), "meta.db"), sqlite.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		tb.Fatalf("open store: %v", err)
	}
	tb.Cleanup(func() { _ = s.Close() })
	return s
}

// fixtureStore is a store holding every record of ../testdata.
func fixtureStore(t *testing.T) *sqlite.Store {
	t.Helper()
	s := newStore(t)
	if _, err := osv.Import(t.Context(), s, "../testdata", osv.Options{Source: "fixtures"}); err != nil {
		t.Fatalf("import fixtures: %v", err)
	}
	return s
}

// Packages as this machine's Debian 12 /var/lib/dpkg/status lists them,
// and language packages at versions with published advisories.
var (
	libssl3 = vuln.Package{Ecosystem: "Debian:12", Name: "libssl3", Version: "3.0.19-1~deb12u2", SourceName: "openssl", Location: "var/lib/dpkg/status"}
	openssl = vuln.Package{Ecosystem: "Debian:12", Name: "openssl", Version: "3.0.19-1~deb12u2", Location: "var/lib/dpkg/status"}
	zlib1g  = vuln.Package{Ecosystem: "Debian:12", Name: "zlib1g", Version: "1:1.2.13.dfsg-1", SourceName: "zlib"}
	libc6   = vuln.Package{Ecosystem: "Debian:12", Name: "libc6", Version: "2.36-9+deb12u14", SourceName: "glibc"}
	bash    = vuln.Package{Ecosystem: "Debian:12", Name: "bash", Version: "5.2.15-2+b8"}
	xtext   = vuln.Package{Ecosystem: "Go", Name: "golang.org/x/text", Version: "v0.3.6", Location: "usr/bin/app"}
	xtextOK = vuln.Package{Ecosystem: "Go", Name: "golang.org/x/text", Version: "v0.3.7", Location: "usr/bin/other"}
	xnet    = vuln.Package{Ecosystem: "Go", Name: "golang.org/x/net", Version: "v0.3.0", Location: "usr/bin/app"}
	stdlib  = vuln.Package{Ecosystem: "Go", Name: "stdlib", Version: "go1.19.3", Location: "usr/bin/app"}
	snake   = vuln.Package{Ecosystem: "Maven", Name: "org.yaml:snakeyaml", Version: "1.30"}
	small   = vuln.Package{Ecosystem: "crates.io", Name: "smallvec", Version: "1.6.0"}
	reqs    = vuln.Package{Ecosystem: "PyPI", Name: "requests", Version: "2.31.0"}
	reqsOK  = vuln.Package{Ecosystem: "PyPI", Name: "requests", Version: "2.31.1"}
)

func TestMatchFixtures(t *testing.T) {
	m := New(fixtureStore(t))
	inv := []vuln.Package{libssl3, openssl, zlib1g, libc6, bash, xtext, xtextOK, xnet, stdlib, snake, small, reqs, reqsOK}
	got, err := m.Match(t.Context(), inv)
	if err != nil {
		t.Fatal(err)
	}
	// Two records of one CVE merge: the first id names the finding, the
	// worst severity and the fix that fixes both win.
	dsa1 := vuln.Finding{ID: "BERTH-CVE-2099-0001", Aliases: []string{"BERTH-DSA-0001", "CVE-2099-0001"},
		FixedVersion: "3.0.20-1", Severity: vuln.SeverityCritical, CVSS: 9.8,
		Summary: "openssl: the same flaw as BERTH-DSA-0001 as a second feed describes it"}
	go1144 := vuln.Finding{ID: "GO-2022-1144", Aliases: []string{"CVE-2022-41717", "GHSA-xrjj-mj9h-534m"},
		Summary: "Excessive memory growth in net/http and golang.org/x/net/http2"}
	with := func(f vuln.Finding, p vuln.Package, fixed string) vuln.Finding {
		f.Package = p
		if fixed != "" {
			f.FixedVersion = fixed
		}
		return f
	}
	want := []vuln.Finding{
		with(go1144, xnet, "0.4.0"),
		with(vuln.Finding{ID: "GO-2021-0113", Aliases: []string{"CVE-2021-38561", "GHSA-ppp9-7jff-5vj2"}}, xtext, "0.3.7"),
		with(vuln.Finding{ID: "BERTH-DSA-0003", Severity: vuln.SeverityHigh, CVSS: 7.8,
			Summary: "glibc: affected up to and including this machine's version, no fix yet"}, libc6, ""),
		with(dsa1, libssl3, ""),
		with(dsa1, openssl, ""),
		with(vuln.Finding{ID: "GHSA-3mc7-4q67-w48m", Aliases: []string{"CVE-2022-25857"}, Severity: vuln.SeverityHigh, CVSS: 7.5,
			Summary: "Uncontrolled Resource Consumption in snakeyaml"}, snake, "1.31"),
		with(vuln.Finding{ID: "BERTH-PYSEC-0005", Severity: vuln.SeverityMedium, Summary: "Requests: listed versions only"}, reqs, ""),
		with(vuln.Finding{ID: "RUSTSEC-2021-0003", Aliases: []string{"CVE-2021-25900", "GHSA-43w2-9j62-hq99"}, Severity: vuln.SeverityCritical, CVSS: 9.8,
			Summary: "Buffer overflow in SmallVec::insert_many"}, small, "1.6.1"),
		with(go1144, stdlib, "1.19.4"),
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("findings (-want +got):\n%s", d)
	}
}

func TestMatchManyAndUpdates(t *testing.T) {
	s := newStore(t)
	m := New(s)
	put := func(id, modified, fixed string) {
		t.Helper()
		raw := `{"id":"` + id + `","modified":"` + modified + `","affected":[{"package":{"ecosystem":"npm","name":"lodash"},` +
			`"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"` + fixed + `"}]}]}]}`
		r, err := osv.Parse([]byte(raw))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.PutVulnRecords(t.Context(), "test", []meta.VulnRecord{{ID: id, Modified: r.Modified, Packages: r.Packages(), Data: []byte(raw)}}); err != nil {
			t.Fatal(err)
		}
	}
	old := vuln.Package{Ecosystem: "npm", Name: "lodash", Version: "4.17.15"}
	newer := vuln.Package{Ecosystem: "npm", Name: "lodash", Version: "4.17.21"}
	invs := [][]vuln.Package{{old}, {newer}, nil, {old, newer}}
	count := func() []int {
		t.Helper()
		res, err := m.MatchMany(t.Context(), invs)
		if err != nil {
			t.Fatal(err)
		}
		n := make([]int, len(res))
		for i, fs := range res {
			n[i] = len(fs)
		}
		return n
	}
	if d := cmp.Diff([]int{0, 0, 0, 0}, count()); d != "" {
		t.Errorf("empty store (-want +got):\n%s", d)
	}
	put("GHSA-1", "2026-01-01T00:00:00Z", "4.17.19")
	if d := cmp.Diff([]int{1, 0, 0, 1}, count()); d != "" {
		t.Errorf("after a record (-want +got):\n%s", d)
	}
	// A newer version of the record reaches the same Matcher (its parsed
	// cache must notice the change).
	put("GHSA-1", "2026-02-01T00:00:00Z", "4.17.22")
	if d := cmp.Diff([]int{1, 1, 0, 2}, count()); d != "" {
		t.Errorf("after the record changed (-want +got):\n%s", d)
	}
}

func TestMatchBrokenStoredRecord(t *testing.T) {
	s := newStore(t)
	if _, err := s.PutVulnRecords(t.Context(), "test", []meta.VulnRecord{{ID: "X", Modified: time.Now(),
		Packages: []meta.VulnPackage{{Ecosystem: "npm", Name: "x"}}, Data: []byte("{not json")}}); err != nil {
		t.Fatal(err)
	}
	if _, err := New(s).Match(t.Context(), []vuln.Package{{Ecosystem: "npm", Name: "x", Version: "1.0.0"}}); err == nil {
		t.Error("a stored record that does not parse was ignored")
	}
}
