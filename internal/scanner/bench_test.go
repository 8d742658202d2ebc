package scanner

import (
	"archive/tar"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/blob/filesystem"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/meta/sqlite"
	"github.com/berth-registry/berth/internal/registry"
	"github.com/berth-registry/berth/internal/scan/inventory"
	"github.com/berth-registry/berth/internal/scan/layers/layertest"
	"github.com/berth-registry/berth/internal/vuln"
	"github.com/berth-registry/berth/internal/vuln/osv"
	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// Shape of the stored re-match benchmark (the same as package match's, but
// through the whole service: read stored inventories, match, encode, write
// back): 10,000 reports of 300 packages drawn from 3,000 Debian and 1,000
// npm packages, against 10,000 records.
const (
	rmReports = 10_000
	rmPerImg  = 300
	rmDebian  = 3_000
	rmNPM     = 1_000
)

func benchStore(b *testing.B) (*sqlite.Store, *Service) {
	b.Helper()
	dir := b.TempDir()
	m, err := sqlite.Open(context.Background(), filepath.Join(dir, "berth.db"), sqlite.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { m.Close() })
	blobs, err := filesystem.New(filepath.Join(dir, "storage"), filesystem.Options{})
	if err != nil {
		b.Fatal(err)
	}
	svc, err := New(Config{Store: m, Registry: registry.New(m, blobs, registry.Options{})})
	if err != nil {
		b.Fatal(err)
	}
	return m, svc
}

func putRecord(b *testing.B, vs meta.VulnStore, raw string) {
	b.Helper()
	r, err := osv.Parse([]byte(raw))
	if err != nil {
		b.Fatal(err)
	}
	data, err := osv.Encode([]byte(raw))
	if err != nil {
		b.Fatal(err)
	}
	if _, err := vs.PutVulnRecords(b.Context(), "bench", []meta.VulnRecord{{ID: r.ID, Modified: r.Modified, Packages: r.Packages(), Data: data}}); err != nil {
		b.Fatal(err)
	}
}

// rmRecords stores a Debian record per source package and a GHSA-like one
// per npm package.
func rmRecords(b *testing.B, vs meta.VulnStore) {
	b.Helper()
	var batch []meta.VulnRecord
	add := func(raw string) {
		r, err := osv.Parse([]byte(raw))
		if err != nil {
			b.Fatal(err)
		}
		data, err := osv.Encode([]byte(raw))
		if err != nil {
			b.Fatal(err)
		}
		batch = append(batch, meta.VulnRecord{ID: r.ID, Modified: r.Modified, Packages: r.Packages(), Data: data})
		if len(batch) == 500 {
			if _, err := vs.PutVulnRecords(b.Context(), "bench", batch); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	for i := range rmDebian {
		pkg := fmt.Sprintf(`{"ecosystem":"Debian:12","name":"src%d"}`, i)
		add(fmt.Sprintf(`{"id":"DSA-%d-1","modified":"2026-11-01T00:00:00Z","aliases":["CVE-2026-%d"],"affected":[{"package":%s,"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"1.%d-2~deb12u1"}]}]}]}`, i, i, pkg, i))
		add(fmt.Sprintf(`{"id":"DEBIAN-CVE-2026-%d","modified":"2026-11-01T00:00:00Z","aliases":["CVE-2026-%d"],"severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H"}],"affected":[{"package":%s,"versions":["1.%d-1"]}]}`, i, i, pkg, i))
	}
	for i := range rmNPM {
		add(fmt.Sprintf(`{"id":"GHSA-%d","modified":"2026-11-01T00:00:00Z","severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N"}],"affected":[{"package":{"ecosystem":"npm","name":"pkg%d"},"ranges":[{"type":"SEMVER","events":[{"introduced":"1.0.0"},{"fixed":"1.%d.5"}]}]}]}`, i, i, i))
	}
	if _, err := vs.PutVulnRecords(b.Context(), "bench", batch); err != nil {
		b.Fatal(err)
	}
}

// rmInventories stores rmReports finished reports, each with a stored
// inventory of rmPerImg packages.
func rmInventories(b *testing.B, s *Service) {
	b.Helper()
	ctx := b.Context()
	rnd := rand.New(rand.NewPCG(1, 2))
	long := make([]vuln.Package, 50_000)
	for i := range long {
		n := rnd.IntN(rmDebian + rmNPM)
		rev := 1 + rnd.IntN(2)
		if n < rmDebian {
			long[i] = vuln.Package{Ecosystem: "Debian:12", Name: fmt.Sprintf("lib%d", n), SourceName: fmt.Sprintf("src%d", n),
				Version: fmt.Sprintf("1.%d-%d", n, rev), Location: "var/lib/dpkg/status"}
		} else {
			n -= rmDebian
			long[i] = vuln.Package{Ecosystem: "npm", Name: fmt.Sprintf("pkg%d", n), Version: fmt.Sprintf("1.%d.%d", n, 3*rev),
				Location: "app/package-lock.json"}
		}
	}
	reqs := make([]meta.ScanRequest, rmReports)
	for i := range reqs {
		reqs[i] = meta.ScanRequest{Digest: digest.FromString(fmt.Sprint("image", i)), Repository: "bench/app"}
	}
	now := time.Now()
	if _, err := s.scans.QueueScans(ctx, reqs, false, now); err != nil {
		b.Fatal(err)
	}
	jobs, err := s.scans.ClaimScans(ctx, "bench", rmReports, time.Hour, now)
	if err != nil || len(jobs) != rmReports {
		b.Fatalf("claimed %d: %v", len(jobs), err)
	}
	for _, j := range jobs {
		off := rnd.IntN(len(long) - rmPerImg)
		inv := &storedInventory{Version: inventoryVersion, Results: []*inventory.Result{{
			Manifest: j.Digest.String(), Packages: long[off : off+rmPerImg],
		}}}
		body, err := encode(inv)
		if err != nil {
			b.Fatal(err)
		}
		res, err := encode(buildResult(inv, nil))
		if err != nil {
			b.Fatal(err)
		}
		if err := s.scans.FinishScan(ctx, meta.ScanResult{Digest: j.Digest, Owner: "bench", Status: meta.ScanDone,
			Scanner: BuiltinScanner, FinishedAt: now, Inventory: body, Report: res}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRematchStored10k times Service.Rematch over 10,000 stored
// reports after a data update: every report is read, matched, re-encoded
// and written back. The target is under 10 s per operation.
func BenchmarkRematchStored10k(b *testing.B) {
	_, s := benchStore(b)
	rmRecords(b, s.vulns)
	rmInventories(b, s)
	b.ResetTimer()
	var st RematchStats
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		// A new record moves the generation, so every report is stale.
		putRecord(b, s.vulns, fmt.Sprintf(`{"id":"BENCH-%d","modified":"2026-11-02T00:00:00Z","affected":[{"package":{"ecosystem":"npm","name":"pkg1"},"versions":["1.1.3"]}]}`, i))
		b.StartTimer()
		var err error
		if st, err = s.Rematch(b.Context(), nil); err != nil {
			b.Fatal(err)
		}
		if st.Reports != rmReports {
			b.Fatalf("re-matched %d reports, want %d", st.Reports, rmReports)
		}
	}
	b.ReportMetric(float64(st.Reports), "reports")
}

// benchImageMB is the generated image's size: 100 MiB, or
// BERTH_BENCH_IMAGE_MB (1024 for the 1 GB memory figure).
func benchImageMB(b *testing.B) int64 {
	mb := int64(100)
	if v := os.Getenv("BERTH_BENCH_IMAGE_MB"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			b.Fatalf("BERTH_BENCH_IMAGE_MB=%q: want a positive number", v)
		}
		mb = n
	}
	return mb
}

// BenchmarkScanJob times one whole scan job on an image built from this
// machine's dpkg database and os-release plus incompressible filler files
// (benchImageMB in total, 4 layers): claim, flatten from the registry's
// blob store, inventory, secrets, hygiene, match, store, SBOM referrers. It
// reports the packages found and the peak live heap.
func BenchmarkScanJob(b *testing.B) {
	status, err := os.ReadFile("/var/lib/dpkg/status")
	if err != nil {
		b.Skip("no dpkg database on this machine")
	}
	osRelease, err := os.ReadFile("/etc/os-release")
	if err != nil {
		b.Skip("no os-release on this machine")
	}
	m, s := benchStore(b)
	s.cfg.PushSBOMs = true
	if err := m.CreateProject(b.Context(), &meta.Project{Name: "bench"}); err != nil {
		b.Fatal(err)
	}
	ls := layertest.NewStore(b)
	descs := []v1.Descriptor{ls.Layer(b, layertest.Gzip,
		layertest.File{Path: "etc/os-release", Body: osRelease}, layertest.File{Path: "var/lib/dpkg/status", Body: status})}
	size := benchImageMB(b) << 20
	rng := rand.New(rand.NewChaCha8([32]byte{7}))
	const fillLayers = 4
	for l := range fillLayers {
		descs = append(descs, ls.LayerFunc(b, layertest.Gzip, func(tw *tar.Writer) error {
			for i, written := 0, int64(0); written < size/fillLayers; i++ {
				n := int64(64<<10) << rng.IntN(6) // 64 KiB … 2 MiB
				if err := tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("fill%d/f%d", l, i), Mode: 0o644, Size: n, Typeflag: tar.TypeReg}); err != nil {
					return err
				}
				buf := make([]byte, n)
				for j := range buf {
					buf[j] = byte(rng.Uint32())
				}
				if _, err := tw.Write(buf); err != nil {
					return err
				}
				written += n
			}
			return nil
		}))
	}
	desc := ls.Image(b, v1.Image{}, descs...)
	dgst := pushLayout(b, s.reg, ls, "bench/app", "1", desc)
	runtime.GC()
	b.SetBytes(size)
	b.ResetTimer()
	var peak uint64
	var pkgs int
	for b.Loop() {
		if _, err := s.scans.QueueScans(b.Context(), []meta.ScanRequest{{Digest: dgst, Repository: "bench/app"}}, true, time.Now()); err != nil {
			b.Fatal(err)
		}
		stop := layertest.PeakHeap()
		n, err := s.Work(b.Context(), 1)
		peak = max(peak, stop())
		if err != nil || n != 1 {
			b.Fatalf("worked %d: %v", n, err)
		}
		rep, err := s.scans.GetScanReport(b.Context(), dgst, false)
		if err != nil || rep.Status != meta.ScanDone {
			b.Fatalf("report %+v, %v", rep, err)
		}
	}
	b.StopTimer()
	rep, err := s.Report(b.Context(), "bench/app", "1")
	if err != nil {
		b.Fatal(err)
	}
	for _, p := range rep.Result.Platforms {
		pkgs += p.Packages
	}
	b.ReportMetric(float64(pkgs), "packages")
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
}

// pushLayout copies the image desc from ls into repo:tag.
func pushLayout(b *testing.B, reg *registry.Service, ls *layertest.Store, repo, tag string, desc v1.Descriptor) digest.Digest {
	b.Helper()
	read := func(d digest.Digest) []byte {
		body, err := os.ReadFile(filepath.Join(ls.Dir, "sha256", d.Encoded()))
		if err != nil {
			b.Fatal(err)
		}
		return body
	}
	body := read(desc.Digest)
	var man v1.Manifest
	if err := json.Unmarshal(body, &man); err != nil {
		b.Fatal(err)
	}
	for _, d := range append([]v1.Descriptor{man.Config}, man.Layers...) {
		f, err := os.Open(filepath.Join(ls.Dir, "sha256", d.Digest.Encoded()))
		if err != nil {
			b.Fatal(err)
		}
		_, err = reg.PutBlob(b.Context(), repo, d.Digest, f)
		f.Close()
		if err != nil {
			b.Fatal(err)
		}
	}
	res, err := reg.PutManifest(b.Context(), registry.ManifestPut{Repository: repo, Reference: tag, ContentType: desc.MediaType, Body: body})
	if err != nil {
		b.Fatal(err)
	}
	return res.Digest
}
