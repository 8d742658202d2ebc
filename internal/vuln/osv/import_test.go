package osv

import (
	"archive/zip"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/meta/sqlite"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// newStore opens a fresh SQLite store in a temporary directory.
func newStore(t *testing.T) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "meta.db"),
		sqlite.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

var fixedNow = time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)

func mustImport(t *testing.T, s meta.VulnStore, path string, opts Options) *Report {
	t.Helper()
	if opts.Now == nil {
		opts.Now = func() time.Time { return fixedNow }
	}
	rep, err := Import(t.Context(), s, path, opts)
	if err != nil {
		t.Fatalf("Import(%s): %v", path, err)
	}
	return rep
}

// record returns the JSON text of a small record.
func record(id, modified, eco, name string) string {
	return `{"id":"` + id + `","modified":"` + modified + `","affected":[{"package":{"ecosystem":"` + eco +
		`","name":"` + name + `"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"}]}]}]}`
}

func TestImportDirectory(t *testing.T) {
	s := newStore(t)
	rep := mustImport(t, s, "../testdata", Options{Source: "fixtures"})
	if rep.Added != 10 || rep.Read != 10 || rep.SkippedCount != 0 || rep.Generation != 1 {
		t.Fatalf("report = %+v; want 10 read and added, none skipped, generation 1", rep)
	}
	want := SourceState{ImportedAt: fixedNow,
		NewestModified: time.Date(2026, 11, 3, 0, 0, 0, 0, time.UTC), Records: 10}
	if d := cmp.Diff(want, rep.Data); d != "" {
		t.Errorf("source (-want +got):\n%s", d)
	}
	recs, err := s.VulnsFor(t.Context(), []meta.VulnPackage{{Ecosystem: "Go", Name: "golang.org/x/text"}, {Ecosystem: "PyPI", Name: "requests"}})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, r := range recs {
		ids = append(ids, r.ID)
		if _, err := FromStored(r); err != nil {
			t.Errorf("stored %s does not parse back: %v", r.ID, err)
		}
	}
	if d := cmp.Diff([]string{"BERTH-PYSEC-0005", "GO-2021-0113"}, ids); d != "" {
		t.Errorf("records found (-want +got):\n%s", d)
	}

	// The same data again changes nothing and keeps the generation.
	rep = mustImport(t, s, "../testdata", Options{Source: "fixtures"})
	if rep.Unchanged != 10 || rep.Changed() || rep.Generation != 1 {
		t.Errorf("re-import report = %+v; want 10 unchanged, generation 1", rep)
	}
}

// writeZip builds a zip archive at path with the given entries, in order.
func writeZip(t *testing.T, path string, entries [][2]string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(f)
	for _, e := range entries {
		w, err := zw.Create(e[0])
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(w, e[1]); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestImportZip(t *testing.T) {
	s := newStore(t)
	// A stored version that the zip's older copy must not replace.
	if _, err := s.PutVulnRecords(t.Context(), "earlier", []meta.VulnRecord{{
		ID: "DSA-3", Modified: time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC), Data: []byte(record("DSA-3", "2026-06-01T00:00:00Z", "Debian:12", "old")),
	}}); err != nil {
		t.Fatal(err)
	}
	zipPath := filepath.Join(t.TempDir(), "all.zip")
	writeZip(t, zipPath, [][2]string{
		{"DSA-1.json", record("DSA-1", "2026-01-01T00:00:00Z", "Debian:12", "openssl")},
		{"old/DSA-1.json", record("DSA-1", "2025-12-01T00:00:00Z", "Debian:12", "openssl")}, // same batch, older
		{"DSA-2.json", record("DSA-2", "2026-01-01T00:00:00Z", "Debian:12", "curl")},
		{"again/DSA-2.json", record("DSA-2", "2026-02-01T00:00:00Z", "Debian:12", "libcurl")},
		{"DSA-3.json", record("DSA-3", "2026-01-01T00:00:00Z", "Debian:12", "zlib")},
		{"README.txt", "not a record"},
		{"broken.json", `{"id": "X",`},
		{"noid.json", `{"modified":"2026-01-01T00:00:00Z"}`},
	})
	var progress []Progress
	rep := mustImport(t, s, zipPath, Options{Source: "Debian", BatchSize: 2, Progress: func(p Progress) { progress = append(progress, p) }})

	want := &Report{
		Source: "Debian", Read: 7, Added: 2, Replaced: 1, Unchanged: 2, SkippedCount: 3,
		Skipped:    []Skip{{Entry: "README.txt"}, {Entry: "broken.json"}, {Entry: "noid.json"}},
		Generation: 3, // the put above, and each of two batches that changed something
		Data:       SourceState{ImportedAt: fixedNow, NewestModified: time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC), Records: 2},
	}
	if d := cmp.Diff(want, rep, cmpopts.IgnoreFields(Skip{}, "Reason")); d != "" {
		t.Errorf("report (-want +got):\n%s", d)
	}
	for _, sk := range rep.Skipped {
		if sk.Reason == "" {
			t.Errorf("skip of %s has no reason", sk.Entry)
		}
	}
	if len(progress) == 0 || progress[len(progress)-1].Total != 8 {
		t.Errorf("progress = %+v; want reports with Total 8", progress)
	}
	// The newer duplicate inside the zip won, with its own package index.
	got, err := s.VulnsFor(t.Context(), []meta.VulnPackage{{Ecosystem: "Debian:12", Name: "curl"}, {Ecosystem: "Debian:12", Name: "libcurl"}, {Ecosystem: "Debian:12", Name: "zlib"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].ID != "DSA-2" || got[0].Packages[0].Name != "libcurl" {
		t.Errorf("VulnsFor = %+v; want only DSA-2 by libcurl", got)
	}
}

func TestImportArrayFile(t *testing.T) {
	s := newStore(t)
	path := filepath.Join(t.TempDir(), "list.json")
	text := "\n [" + record("GHSA-1", "2026-01-01T00:00:00Z", "PyPI", "Django") + ", 42, " +
		record("GHSA-2", "2026-01-02T00:00:00.5Z", "npm", "left-pad") + "]"
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	rep := mustImport(t, s, path, Options{})
	if rep.Source != "list.json" || rep.Added != 2 || rep.SkippedCount != 1 || rep.Skipped[0].Entry != "list.json[1]" {
		t.Fatalf("report = %+v; want source list.json, 2 added, list.json[1] skipped", rep)
	}
	recs, err := s.VulnsFor(t.Context(), []meta.VulnPackage{{Ecosystem: "PyPI", Name: "django"}})
	if err != nil || len(recs) != 1 {
		t.Fatalf("PyPI names are not indexed normalized: %v, %v", recs, err)
	}
}

func TestImportErrors(t *testing.T) {
	s := newStore(t)
	_, err := Import(t.Context(), s, filepath.Join(t.TempDir(), "missing.zip"), Options{})
	if !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("missing path: error = %v, want ErrNotFound", err)
	}
	bad := filepath.Join(t.TempDir(), "bad.zip")
	if err := os.WriteFile(bad, []byte("PK\x03\x04 truncated"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = Import(t.Context(), s, bad, Options{})
	if !errors.Is(err, errdefs.ErrInvalid) || !strings.Contains(err.Error(), "zip") {
		t.Errorf("truncated zip: error = %v, want ErrInvalid about the zip", err)
	}
}

func TestImportSkipsOversizedAndOtherFiles(t *testing.T) {
	s := newStore(t)
	dir := t.TempDir()
	files := map[string]string{
		"small.json":     record("A", "2026-01-01T00:00:00Z", "Go", "a"),
		"big.json":       record("B", "2026-01-01T00:00:00Z", "Go", "b-with-a-much-longer-name-than-the-limit-allows"),
		"notes.txt":      "ignored",
		"sub/empty.json": "  ",
	}
	for name, text := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	rep := mustImport(t, s, dir, Options{MaxRecordSize: int64(len(files["small.json"]))})
	got := map[string]bool{}
	for _, sk := range rep.Skipped {
		got[sk.Entry] = true
	}
	if rep.Added != 1 || rep.Read != 3 || rep.SkippedCount != 2 || !got["big.json"] || !got["sub/empty.json"] {
		t.Errorf("report = %+v; want small.json added, big.json and sub/empty.json skipped, notes.txt not read", rep)
	}
}

func TestEncodeDecode(t *testing.T) {
	raw := []byte(record("A", "2026-01-01T00:00:00Z", "Go", "x"))
	enc, err := Encode(raw)
	if err != nil {
		t.Fatal(err)
	}
	for _, data := range [][]byte{enc, raw} {
		got, err := Decode(data)
		if err != nil || string(got) != string(raw) {
			t.Errorf("Decode = %q, %v; want the record", got, err)
		}
	}
}
