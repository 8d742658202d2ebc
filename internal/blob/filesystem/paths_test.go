package filesystem

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-registry/berth/internal/blob"
	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/google/go-cmp/cmp"
	"github.com/opencontainers/go-digest"
)

func TestPathFor(t *testing.T) {
	const root = "/data/blobs"
	hex256 := strings.Repeat("ab", 32)
	hex512 := strings.Repeat("9c", 64)
	tests := []struct {
		spec pathSpec
		want string
	}{
		{blobsRootSpec{}, "/data/blobs/blobs"},
		{uploadsRootSpec{}, "/data/blobs/uploads"},
		{blobSpec{digest.Digest("sha256:" + hex256)}, "/data/blobs/blobs/sha256/ab/" + hex256},
		{blobSpec{digest.Digest("sha512:" + hex512)}, "/data/blobs/blobs/sha512/9c/" + hex512},
		{uploadDirSpec{"4f1c-upload_1.a"}, "/data/blobs/uploads/4f1c-upload_1.a"},
		{uploadDataSpec{"4f1c-upload_1.a"}, "/data/blobs/uploads/4f1c-upload_1.a/data"},
	}
	for _, tc := range tests {
		got, err := pathFor(root, tc.spec)
		if err != nil {
			t.Errorf("pathFor(%#v): %v", tc.spec, err)
			continue
		}
		if diff := cmp.Diff(filepath.FromSlash(tc.want), got); diff != "" {
			t.Errorf("pathFor(%#v) (-want +got):\n%s", tc.spec, diff)
		}
	}
}

// trickIDs try to name something other than one directory under uploads/.
var trickIDs = []string{
	"", ".", "..", "../x", "../../etc/passwd", "a/b", "a/../../b", "/abs", "/",
	`a\b`, `..\x`, "a\x00b", "\x00", ".hidden", "-rf", "_x", "a b", "a\nb",
	"é", "a:b", "~", strings.Repeat("a", blob.MaxUploadIDLen+1),
}

func TestValidateIDRejectsPathTricks(t *testing.T) {
	for _, id := range trickIDs {
		if err := validateID(id); !errdefs.IsInvalid(err) {
			t.Errorf("validateID(%q) = %v, want an ErrInvalid error", id, err)
		}
	}
}

func TestValidateIDAccepts(t *testing.T) {
	for _, id := range []string{
		"a", "0", "4e6f3c1a-9b2d-4c55-8a7e-2f1d0c9b8a77", "NB2HI4DTHIXS6ZLYMFWXA3DF",
		"bG9uZy1pZC13aXRo_LXVuZGVy", "a.b_c-d", "a..b", strings.Repeat("z", blob.MaxUploadIDLen),
	} {
		if err := validateID(id); err != nil {
			t.Errorf("validateID(%q) = %v, want nil", id, err)
		}
	}
}

// TestStoreRefusesPathTricks sends every trick id and malformed digest
// through the Store's methods and checks that each is ErrInvalid and that
// nothing was created anywhere.
func TestStoreRefusesPathTricks(t *testing.T) {
	ctx := context.Background()
	parent := t.TempDir()
	s, err := New(filepath.Join(parent, "store"), Options{})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	before := tree(t, parent)
	st, err := blob.EncodeState(blob.NewHasher(), nil)
	if err != nil {
		t.Fatalf("EncodeState: %v", err)
	}
	for _, id := range trickIDs {
		_, err := s.NewWriter(ctx, id)
		wantInvalid(t, err, "NewWriter(%q)", id)
		_, err = s.ResumeWriter(ctx, id, st)
		wantInvalid(t, err, "ResumeWriter(%q)", id)
		wantInvalid(t, s.AbortUpload(ctx, id, nil), "AbortUpload(%q)", id)
	}
	hex := strings.Repeat("a", 64)
	for _, dgst := range []digest.Digest{
		digest.Digest("sha256:../../../" + hex[9:]),
		digest.Digest("sha256:/" + hex[1:]),
		digest.Digest("../../sha256:" + hex),
		digest.Digest("/tmp:" + hex),
		digest.Digest("sha256:" + hex[1:] + "\x00"),
		digest.Digest("sha256:" + strings.ToUpper(hex)),
		digest.Digest("sha256:" + hex + "/.."),
		digest.Digest("md5:" + hex[:32]),
	} {
		_, err := s.Stat(ctx, dgst)
		wantInvalid(t, err, "Stat(%q)", dgst)
		_, err = s.Open(ctx, dgst)
		wantInvalid(t, err, "Open(%q)", dgst)
		wantInvalid(t, s.Delete(ctx, dgst), "Delete(%q)", dgst)
		w, err := s.NewWriter(ctx, "commit-trick")
		if err != nil {
			t.Fatalf("NewWriter: %v", err)
		}
		_, err = w.Commit(ctx, dgst, 0)
		wantInvalid(t, err, "Commit(%q)", dgst)
		if err := w.Cancel(ctx); err != nil {
			t.Fatalf("Cancel: %v", err)
		}
	}
	if diff := cmp.Diff(before, tree(t, parent)); diff != "" {
		t.Errorf("refused calls changed the filesystem (-before +after):\n%s", diff)
	}
}

func wantInvalid(t *testing.T, err error, format string, args ...any) {
	t.Helper()
	if !errdefs.IsInvalid(err) {
		t.Errorf("%s = %v, want an ErrInvalid error", fmt.Sprintf(format, args...), err)
	}
}

// tree lists every path under dir (relative, with forward slashes) with
// its type and permissions.
func tree(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		out = append(out, filepath.ToSlash(rel)+" "+fi.Mode().String())
		return nil
	})
	if err != nil {
		t.Fatalf("walk %s: %v", dir, err)
	}
	return out
}
