package sync_test

import (
	"archive/zip"
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/meta/sqlite"
)

// openStore opens a fresh SQLite metadata store under t.TempDir.
func openStore(t *testing.T) *sqlite.Store {
	t.Helper()
	m, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "berth.db"), sqlite.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// vulnStore returns the vulnerability ability of m.
func vulnStore(t *testing.T, m meta.Store) meta.VulnStore {
	t.Helper()
	vs, ok := meta.VulnOf(m)
	if !ok {
		t.Fatal("the SQLite store has no VulnStore")
	}
	return vs
}

// testdataRecords returns the repository's real OSV records by file name.
func testdataRecords(t *testing.T) map[string][]byte {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join("..", "testdata", "osv", "*.json"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no OSV testdata: %v", err)
	}
	out := map[string][]byte{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.Base(p)] = b
	}
	return out
}

// record is a minimal OSV record with id, modified at modified.
func record(id string, modified time.Time) []byte {
	return fmt.Appendf(nil, `{"id":%q,"modified":%q,"affected":[]}`, id, modified.UTC().Format(time.RFC3339))
}

// zipOf builds a zip archive of files, in name order.
func zipOf(t *testing.T, files map[string][]byte) []byte {
	t.Helper()
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, n := range names {
		w, err := zw.Create(n)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(files[n]); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// with returns a copy of files plus name → data.
func with(files map[string][]byte, name string, data []byte) map[string][]byte {
	out := maps.Clone(files)
	out[name] = data
	return out
}

// sourceRecords returns how many records the store attributes to source,
// and whether it knows the source at all.
func sourceRecords(t *testing.T, vs meta.VulnStore, source string) (int64, bool) {
	t.Helper()
	srcs, err := vs.VulnSources(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range srcs {
		if s.Name == source {
			return s.Records, true
		}
	}
	return 0, false
}

// tempDirEmpty fails t if dir holds anything: spooled files must be
// removed.
func tempDirEmpty(t *testing.T, dir string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 0 {
		t.Errorf("temp dir holds %d leftovers, first %s", len(ents), ents[0].Name())
	}
}
