package cli

import (
	"encoding/json"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-registry/berth/internal/blob/filesystem"
	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/berth-registry/berth/internal/gc"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/meta/sqlite"
	"github.com/opencontainers/go-digest"
)

// seedGarbage writes, in the embedded layout of dataDir, one blob whose
// record no manifest references and no lease holds, and returns its digest.
func seedGarbage(t *testing.T, dataDir string, data []byte) digest.Digest {
	t.Helper()
	ctx := t.Context()
	m, err := sqlite.Open(ctx, filepath.Join(dataDir, "berth.db"), sqlite.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	b, err := filesystem.New(filepath.Join(dataDir, "storage"), filesystem.Options{})
	if err != nil {
		t.Fatal(err)
	}
	w, err := b.NewWriter(ctx, "seed")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	d := digest.FromBytes(data)
	if _, err := w.Commit(ctx, d, int64(len(data))); err != nil {
		t.Fatal(err)
	}
	if err := m.PutBlob(ctx, meta.Blob{Digest: d, Size: int64(len(data))}); err != nil {
		t.Fatal(err)
	}
	return d
}

func TestGCCommand(t *testing.T) {
	dir := t.TempDir()
	data := []byte("garbage bytes")
	d := seedGarbage(t, dir, data)

	code, out, errOut := run(t, "gc", "--data-dir", dir, "--dry-run", "-o", "json")
	if code != 0 {
		t.Fatalf("gc --dry-run: exit %d: %s", code, errOut)
	}
	var dry gc.Report
	if err := json.Unmarshal([]byte(out), &dry); err != nil {
		t.Fatalf("decode %q: %v", out, err)
	}
	if !dry.DryRun || dry.Deleted != 1 || dry.Bytes != int64(len(data)) || len(dry.Digests) != 1 || dry.Digests[0] != d {
		t.Errorf("dry run report = %+v, want one blob of %d bytes (%s)", dry, len(data), d)
	}

	code, out, errOut = run(t, "gc", "--data-dir", dir)
	if code != 0 {
		t.Fatalf("gc: exit %d: %s", code, errOut)
	}
	if !strings.Contains(out, "reclaimed 1 blobs") || !strings.Contains(out, d.String()) {
		t.Errorf("gc output = %q, want one reclaimed blob naming %s", out, d)
	}
	b, err := filesystem.New(filepath.Join(dir, "storage"), filesystem.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Stat(t.Context(), d); !errdefs.IsNotFound(err) {
		t.Errorf("bytes after gc: Stat = %v, want not found", err)
	}

	code, out, _ = run(t, "gc", "--data-dir", dir, "--dry-run")
	if code != 0 || !strings.Contains(out, "would reclaim 0 blobs") {
		t.Errorf("dry run after gc: exit %d, %q", code, out)
	}
	if code, _, _ := run(t, "gc", "--data-dir", dir, "-o", "yaml"); code != 2 {
		t.Errorf("gc -o yaml: exit %d, want 2", code)
	}
}
