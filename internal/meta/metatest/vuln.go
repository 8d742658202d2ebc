package metatest

import (
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/berth-registry/berth/internal/meta"
)

// RunVuln runs the conformance tests of meta.VulnStore on fresh stores from
// newStore (as Run), which must have that ability (directly or through
// meta.Unwrapper).
func RunVuln(t *testing.T, newStore func(t *testing.T) meta.Store) {
	tests := []test{
		{"PutAndLookUp", testVulnPutLookup},
		{"NewerReplacesOlder", testVulnModified},
		{"GenerationGrowsOnChange", testVulnGeneration},
		{"BatchIsAtomic", testVulnBatchAtomic},
		{"Sources", testVulnSources},
		{"MissingRecord", testVulnMissing},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, newStore(t))
		})
	}
}

// vulnStore returns the VulnStore of s or stops the test.
func vulnStore(t *testing.T, s meta.Store) meta.VulnStore {
	t.Helper()
	vs, ok := meta.VulnOf(s)
	if !ok {
		t.Fatalf("%T has no meta.VulnStore", s)
	}
	return vs
}

func vulnRec(id string, mod time.Duration, data string, pkgs ...meta.VulnPackage) meta.VulnRecord {
	return meta.VulnRecord{ID: id, Modified: at(mod), Packages: pkgs, Data: []byte(data)}
}

func mustPutVulns(t *testing.T, vs meta.VulnStore, source string, recs ...meta.VulnRecord) meta.VulnPutResult {
	t.Helper()
	res, err := vs.PutVulnRecords(t.Context(), source, recs)
	if err != nil {
		t.Fatalf("PutVulnRecords(%s): %v", source, err)
	}
	return res
}

func vulnsFor(t *testing.T, vs meta.VulnStore, pkgs ...meta.VulnPackage) []meta.VulnRecord {
	t.Helper()
	recs, err := vs.VulnsFor(t.Context(), pkgs)
	if err != nil {
		t.Fatalf("VulnsFor: %v", err)
	}
	return recs
}

func vulnGeneration(t *testing.T, vs meta.VulnStore) int64 {
	t.Helper()
	g, err := vs.VulnGeneration(t.Context())
	if err != nil {
		t.Fatalf("VulnGeneration: %v", err)
	}
	return g
}

var (
	debOpenSSL = meta.VulnPackage{Ecosystem: "Debian:12", Name: "openssl"}
	debZlib    = meta.VulnPackage{Ecosystem: "Debian:12", Name: "zlib"}
	goText     = meta.VulnPackage{Ecosystem: "Go", Name: "golang.org/x/text"}
)

func testVulnPutLookup(t *testing.T, s meta.Store) {
	vs := vulnStore(t, s)
	res := mustPutVulns(t, vs, "feed",
		vulnRec("DSA-2", 0, "two", debOpenSSL, debZlib, debZlib),
		vulnRec("DSA-1", 0, "one", debOpenSSL),
		vulnRec("GO-1", 0, "go", goText),
	)
	diff(t, "put result", meta.VulnPutResult{Added: 3}, res)

	got := vulnsFor(t, vs, debZlib, debOpenSSL, debOpenSSL, meta.VulnPackage{Ecosystem: "npm", Name: "openssl"})
	want := []meta.VulnRecord{
		vulnRec("DSA-1", 0, "one", debOpenSSL),
		vulnRec("DSA-2", 0, "two", debOpenSSL, debZlib),
	}
	diff(t, "VulnsFor(openssl, zlib)", want, got)
	for _, r := range got {
		wantUTC(t, "Modified of "+r.ID, r.Modified)
	}
	if got := vulnsFor(t, vs, meta.VulnPackage{Ecosystem: "Debian:11", Name: "openssl"}); len(got) != 0 {
		t.Errorf("VulnsFor(another release) = %v, want nothing", got)
	}
	if got := vulnsFor(t, vs); len(got) != 0 {
		t.Errorf("VulnsFor() = %v, want nothing", got)
	}

	rec, err := vs.VulnRecord(t.Context(), "DSA-2")
	if err != nil {
		t.Fatalf("VulnRecord: %v", err)
	}
	diff(t, "VulnRecord(DSA-2)", vulnRec("DSA-2", 0, "two", debOpenSSL, debZlib), *rec)
}

func testVulnModified(t *testing.T, s meta.Store) {
	vs := vulnStore(t, s)
	mustPutVulns(t, vs, "a", vulnRec("GHSA-1", time.Hour, "v2", debOpenSSL))

	res := mustPutVulns(t, vs, "b",
		vulnRec("GHSA-1", 0, "v1", debZlib), // older: kept out
		vulnRec("GHSA-2", 0, "x", goText),   // new
	)
	diff(t, "older record", meta.VulnPutResult{Added: 1, Unchanged: 1}, res)
	res = mustPutVulns(t, vs, "b", vulnRec("GHSA-1", time.Hour, "same", debZlib))
	diff(t, "equally new record", meta.VulnPutResult{Unchanged: 1}, res)
	rec, err := vs.VulnRecord(t.Context(), "GHSA-1")
	if err != nil {
		t.Fatalf("VulnRecord: %v", err)
	}
	diff(t, "after older and equal puts", vulnRec("GHSA-1", time.Hour, "v2", debOpenSSL), *rec)

	res = mustPutVulns(t, vs, "b", vulnRec("GHSA-1", 2*time.Hour, "v3", debZlib))
	diff(t, "newer record", meta.VulnPutResult{Replaced: 1}, res)
	if got := vulnsFor(t, vs, debOpenSSL); len(got) != 0 {
		t.Errorf("the replaced version's package still finds %v", got)
	}
	diff(t, "after newer put", []meta.VulnRecord{vulnRec("GHSA-1", 2*time.Hour, "v3", debZlib)}, vulnsFor(t, vs, debZlib))
}

func testVulnGeneration(t *testing.T, s meta.Store) {
	vs := vulnStore(t, s)
	if g := vulnGeneration(t, vs); g != 0 {
		t.Fatalf("generation of an empty store = %d, want 0", g)
	}
	mustPutVulns(t, vs, "a", vulnRec("A", 0, "a"), vulnRec("B", 0, "b"))
	if g := vulnGeneration(t, vs); g != 1 {
		t.Fatalf("generation after one changing batch = %d, want 1", g)
	}
	mustPutVulns(t, vs, "a", vulnRec("A", 0, "a"))
	mustPutVulns(t, vs, "a")
	if g := vulnGeneration(t, vs); g != 1 {
		t.Fatalf("generation after batches that changed nothing = %d, want 1", g)
	}
	mustPutVulns(t, vs, "a", vulnRec("A", time.Minute, "a2"))
	if g := vulnGeneration(t, vs); g != 2 {
		t.Fatalf("generation after a replacing batch = %d, want 2", g)
	}
}

func testVulnBatchAtomic(t *testing.T, s meta.Store) {
	vs := vulnStore(t, s)
	_, err := vs.PutVulnRecords(t.Context(), "a", []meta.VulnRecord{vulnRec("A", 0, "a", goText), vulnRec("", 0, "no id")})
	wantErr(t, "record without id", err, errdefs.ErrInvalid)
	if got := vulnsFor(t, vs, goText); len(got) != 0 {
		t.Errorf("a failed batch stored %v", got)
	}
	if g := vulnGeneration(t, vs); g != 0 {
		t.Errorf("a failed batch moved the generation to %d", g)
	}
}

func testVulnSources(t *testing.T, s meta.Store) {
	vs := vulnStore(t, s)
	mustPutVulns(t, vs, "debian", vulnRec("D1", time.Hour, "1"), vulnRec("D2", 3*time.Hour, "2"))
	mustPutVulns(t, vs, "go", vulnRec("G1", 2*time.Hour, "g"))
	got, err := vs.FinishVulnImport(t.Context(), "debian", at(10*time.Hour))
	if err != nil {
		t.Fatalf("FinishVulnImport: %v", err)
	}
	wantDeb := meta.VulnSource{Name: "debian", ImportedAt: at(10 * time.Hour), NewestModified: at(3 * time.Hour), Records: 2}
	diff(t, "FinishVulnImport(debian)", wantDeb, got)

	// A newer version of D2 from another source moves the record there.
	mustPutVulns(t, vs, "go", vulnRec("D2", 4*time.Hour, "moved"))
	if _, err := vs.FinishVulnImport(t.Context(), "go", at(11*time.Hour)); err != nil {
		t.Fatalf("FinishVulnImport(go): %v", err)
	}
	// An empty source is listed with no newest time.
	if _, err := vs.FinishVulnImport(t.Context(), "empty", at(12*time.Hour)); err != nil {
		t.Fatalf("FinishVulnImport(empty): %v", err)
	}
	list, err := vs.VulnSources(t.Context())
	if err != nil {
		t.Fatalf("VulnSources: %v", err)
	}
	want := []meta.VulnSource{
		wantDeb, // as of its own last import
		{Name: "empty", ImportedAt: at(12 * time.Hour)},
		{Name: "go", ImportedAt: at(11 * time.Hour), NewestModified: at(4 * time.Hour), Records: 2},
	}
	diff(t, "VulnSources", want, list)
	for _, src := range list {
		wantUTC(t, "ImportedAt of "+src.Name, src.ImportedAt)
	}
}

func testVulnMissing(t *testing.T, s meta.Store) {
	vs := vulnStore(t, s)
	_, err := vs.VulnRecord(t.Context(), "CVE-0000-0000")
	wantErr(t, "VulnRecord(missing)", err, errdefs.ErrNotFound)
	list, err := vs.VulnSources(t.Context())
	if err != nil || len(list) != 0 {
		t.Errorf("VulnSources of an empty store = %v, %v; want nothing", list, err)
	}
}
