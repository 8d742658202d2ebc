package match

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/vuln"
	"github.com/berth-registry/berth/internal/vuln/osv"
)

// Shape of the re-match benchmark: 10,000 stored inventories of 300
// packages, drawn from 4,000 Debian and npm packages at two versions each,
// against 10,000 records.
const (
	benchInventories = 10_000
	benchPerImage    = 300
	benchDebian      = 3_000
	benchNPM         = 1_000
	benchChunk       = 2_000 // inventories per MatchMany call
)

// benchRecords stores three Debian records per source package (one fixed
// above half the installed versions, one fixed below, one listing
// versions) and one GHSA-like record with a CVSS vector per npm package.
func benchRecords(b *testing.B, s meta.VulnStore) {
	b.Helper()
	mod := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	var batch []meta.VulnRecord
	add := func(id, raw string) {
		r, err := osv.Parse([]byte(raw))
		if err != nil {
			b.Fatalf("%s: %v", id, err)
		}
		data, err := osv.Encode([]byte(raw))
		if err != nil {
			b.Fatal(err)
		}
		batch = append(batch, meta.VulnRecord{ID: id, Modified: mod, Packages: r.Packages(), Data: data})
		if len(batch) == 500 {
			if _, err := s.PutVulnRecords(b.Context(), "bench", batch); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	for i := range benchDebian {
		pkg := fmt.Sprintf(`{"ecosystem":"Debian:12","name":"src%d"}`, i)
		add(fmt.Sprintf("DSA-%d-1", i), fmt.Sprintf(`{"id":"DSA-%d-1","modified":"2026-11-01T00:00:00Z","aliases":["CVE-2026-%d"],"affected":[{"package":%s,"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"1.%d-2~deb12u1"}]}]}]}`, i, i, pkg, i))
		add(fmt.Sprintf("DLA-%d-1", i), fmt.Sprintf(`{"id":"DLA-%d-1","modified":"2026-11-01T00:00:00Z","affected":[{"package":%s,"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"1.%d-1~deb11u1"}]}]}]}`, i, pkg, i))
		add(fmt.Sprintf("DEBIAN-CVE-2026-%d", i), fmt.Sprintf(`{"id":"DEBIAN-CVE-2026-%d","modified":"2026-11-01T00:00:00Z","aliases":["CVE-2026-%d"],"severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H"}],"affected":[{"package":%s,"versions":["1.%d-1"]}]}`, i, i, pkg, i))
	}
	for i := range benchNPM {
		add(fmt.Sprintf("GHSA-%d", i), fmt.Sprintf(`{"id":"GHSA-%d","modified":"2026-11-01T00:00:00Z","severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N"}],"database_specific":{"severity":"MODERATE"},"affected":[{"package":{"ecosystem":"npm","name":"pkg%d"},"ranges":[{"type":"SEMVER","events":[{"introduced":"1.0.0"},{"fixed":"1.%d.5"}]}]}]}`, i, i, i))
	}
	if _, err := s.PutVulnRecords(b.Context(), "bench", batch); err != nil {
		b.Fatal(err)
	}
}

// benchInventoriesOf returns the inventories as overlapping windows of one
// long random list of packages, so 3M package entries need little memory.
func benchInventoriesOf() [][]vuln.Package {
	rnd := rand.New(rand.NewPCG(1, 2))
	long := make([]vuln.Package, 50_000)
	for i := range long {
		n := rnd.IntN(benchDebian + benchNPM)
		rev := 1 + rnd.IntN(2)
		if n < benchDebian {
			long[i] = vuln.Package{Ecosystem: "Debian:12", Name: fmt.Sprintf("lib%d", n), SourceName: fmt.Sprintf("src%d", n),
				Version: fmt.Sprintf("1.%d-%d", n, rev), Location: "var/lib/dpkg/status"}
		} else {
			n -= benchDebian
			long[i] = vuln.Package{Ecosystem: "npm", Name: fmt.Sprintf("pkg%d", n), Version: fmt.Sprintf("1.%d.%d", n, 3*rev),
				Location: "app/package-lock.json"}
		}
	}
	invs := make([][]vuln.Package, benchInventories)
	for i := range invs {
		off := rnd.IntN(len(long) - benchPerImage)
		invs[i] = long[off : off+benchPerImage]
	}
	return invs
}

// BenchmarkRematch10k re-matches 10,000 stored inventories of 300 packages
// against the store with a cold Matcher (as after a data update), in chunks
// of 2,000 inventories. The target is under 10 s per operation.
func BenchmarkRematch10k(b *testing.B) {
	s := newStore(b)
	benchRecords(b, s)
	invs := benchInventoriesOf()
	b.ReportAllocs()
	b.ResetTimer()
	var findings int
	for b.Loop() {
		m := New(s)
		findings = 0
		for start := 0; start < len(invs); start += benchChunk {
			res, err := m.MatchMany(b.Context(), invs[start:min(start+benchChunk, len(invs))])
			if err != nil {
				b.Fatal(err)
			}
			for _, fs := range res {
				findings += len(fs)
			}
		}
	}
	b.ReportMetric(float64(findings), "findings")
}
