package layers_test

import (
	"archive/tar"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"sort"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/berth-registry/berth/internal/scan/layers"
	"github.com/berth-registry/berth/internal/scan/layers/layertest"
	"github.com/google/go-cmp/cmp"
	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

type F = layertest.File

func keepAll(string, fs.FileInfo) bool { return true }

// contents lists every path of fsys with "->target" for symlinks, "/" for
// directories and the content of readable files.
func contents(t *testing.T, fsys fs.FS) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == "." {
			return nil
		}
		switch {
		case d.IsDir():
			out[p] = "/"
		case d.Type()&fs.ModeSymlink != 0:
			out[p] = "->"
		default:
			b, err := fs.ReadFile(fsys, p)
			if errors.Is(err, layers.ErrNotKept) {
				out[p] = "(not kept)"
				return nil
			}
			if err != nil {
				return err
			}
			out[p] = string(b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func flatten(t *testing.T, s *layertest.Store, desc v1.Descriptor, opts layers.Options) *layers.Image {
	t.Helper()
	img, err := layers.Flatten(context.Background(), s.Opener(), desc, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = img.Close() })
	return img
}

func TestFlattenWhiteouts(t *testing.T) {
	for _, c := range []struct {
		name string
		c    layertest.Compression
	}{{"gzip", layertest.Gzip}, {"zstd", layertest.Zstd}, {"plain", layertest.Plain}} {
		t.Run(c.name, func(t *testing.T) {
			s := layertest.NewStore(t)
			base := s.Layer(t, c.c,
				F{Path: "etc/", Type: tar.TypeDir, Mode: 0o755},
				F{Path: "etc/deleted", Body: []byte("gone")},
				F{Path: "etc/replaced", Body: []byte("old")},
				F{Path: "var/opq/old", Body: []byte("hidden")},
				F{Path: "var/opq/sub/deep", Body: []byte("hidden too")},
				F{Path: "var/keep/x", Body: []byte("x")},
				F{Path: "tree/a/b", Body: []byte("b")},
			)
			upper := s.Layer(t, c.c,
				layertest.Whiteout("etc/deleted"),
				F{Path: "etc/replaced", Body: []byte("new")},
				F{Path: "var/opq/new", Body: []byte("fresh")},
				layertest.Opaque("var/opq"),
				layertest.Whiteout("tree"),
				F{Path: "./odd/../../escape", Body: []byte("clean")},
			)
			img := flatten(t, s, s.Image(t, v1.Image{}, base, upper), layers.Options{Keep: keepAll})
			want := map[string]string{
				"etc": "/", "etc/replaced": "new",
				"var": "/", "var/opq": "/", "var/opq/new": "fresh",
				"var/keep": "/", "var/keep/x": "x",
				"escape": "clean",
			}
			if diff := cmp.Diff(want, contents(t, img.FS)); diff != "" {
				t.Errorf("filesystem (-want +got):\n%s", diff)
			}
			if err := fstest.TestFS(img.FS, "etc/replaced", "var/opq/new", "var/keep/x"); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestFlattenSymlinksAndHardlinks(t *testing.T) {
	s := layertest.NewStore(t)
	base := s.Layer(t, layertest.Gzip,
		F{Path: "usr/lib/os-release", Body: []byte("ID=debian\n")},
		F{Path: "etc/os-release", Link: "../usr/lib/os-release"},
		F{Path: "lib", Link: "usr/lib"},
		F{Path: "bin/real", Body: []byte("ELF")},
		F{Path: "bin/hard", Type: tar.TypeLink, Link: "bin/real"},
	)
	upper := s.Layer(t, layertest.Gzip, F{Path: "lib/added", Body: []byte("through link")})
	img := flatten(t, s, s.Image(t, v1.Image{}, base, upper), layers.Options{Keep: keepAll})
	tests := []struct{ path, want string }{
		{"etc/os-release", "ID=debian\n"},
		{"usr/lib/added", "through link"},
		{"lib/added", "through link"},
		{"bin/hard", "ELF"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			b, err := fs.ReadFile(img.FS, tt.path)
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != tt.want {
				t.Errorf("got %q, want %q", b, tt.want)
			}
		})
	}
	if fi, err := img.FS.Lstat("etc/os-release"); err != nil || fi.Mode()&fs.ModeSymlink == 0 {
		t.Errorf("Lstat(etc/os-release) = %v, %v; want a symlink", fi, err)
	}
}

func TestFlattenKeepLimits(t *testing.T) {
	s := layertest.NewStore(t)
	l := s.Layer(t, layertest.Gzip,
		F{Path: "small", Body: []byte("1234")},
		F{Path: "big", Body: []byte(strings.Repeat("x", 100))},
		F{Path: "ignored", Body: []byte("not asked for")},
	)
	keep := func(p string, _ fs.FileInfo) bool { return p != "ignored" }
	img := flatten(t, s, s.Image(t, v1.Image{}, l), layers.Options{Keep: keep, MaxFileSize: 10})
	want := map[string]string{"small": "1234", "big": "(not kept)", "ignored": "(not kept)"}
	if diff := cmp.Diff(want, contents(t, img.FS)); diff != "" {
		t.Errorf("filesystem (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"big"}, img.Skipped); diff != "" {
		t.Errorf("Skipped (-want +got):\n%s", diff)
	}
	if img.UncompressedSize != 4+100+13 {
		t.Errorf("UncompressedSize = %d, want %d", img.UncompressedSize, 4+100+13)
	}
	if img.FS.Kept("ignored") || !img.FS.Kept("small") {
		t.Error("Kept disagrees with what was kept")
	}
}

func TestFlattenVisitSeesDeletedFiles(t *testing.T) {
	s := layertest.NewStore(t)
	l1 := s.Layer(t, layertest.Gzip, F{Path: "secret", Body: []byte("s3cr3t")}, F{Path: "kept", Body: []byte("k")})
	l2 := s.Layer(t, layertest.Gzip, layertest.Whiteout("secret"))
	var seen []string
	visit := func(_ context.Context, f layers.LayerFile, r io.Reader) error {
		b, err := io.ReadAll(r)
		seen = append(seen, f.Layer.Encoded()[:6]+":"+f.Path+"="+string(b))
		return err
	}
	keep := func(p string, _ fs.FileInfo) bool { return p == "kept" }
	flatten(t, s, s.Image(t, v1.Image{}, l1, l2), layers.Options{Keep: keep, Visit: visit})
	want := []string{l1.Digest.Encoded()[:6] + ":secret=s3cr3t", l1.Digest.Encoded()[:6] + ":kept=k"}
	if diff := cmp.Diff(want, seen); diff != "" {
		t.Errorf("visited (-want +got):\n%s", diff)
	}
}

func TestPlatforms(t *testing.T) {
	s := layertest.NewStore(t)
	l := s.Layer(t, layertest.Gzip, F{Path: "f", Body: []byte("x")})
	amd := s.Image(t, v1.Image{Platform: v1.Platform{OS: "linux", Architecture: "amd64"}}, l)
	arm := s.Image(t, v1.Image{Platform: v1.Platform{OS: "linux", Architecture: "arm64"}}, l)
	att := s.Image(t, v1.Image{}, l)
	att.Platform = &v1.Platform{OS: "unknown", Architecture: "unknown"}
	inner := s.Index(t, arm)
	inner.Platform = nil
	idx := s.Index(t, amd, att, inner)

	tests := []struct {
		name string
		desc v1.Descriptor
		want []string
	}{
		{"image", amd, []string{"linux/amd64"}},
		{"index with attestation and nested index", idx, []string{"linux/amd64", "linux/arm64"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := layers.Platforms(context.Background(), s.Opener(), tt.desc)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, d := range got {
				img := flatten(t, s, d, layers.Options{})
				names = append(names, img.Platform.OS+"/"+img.Platform.Architecture)
			}
			sort.Strings(names)
			if diff := cmp.Diff(tt.want, names); diff != "" {
				t.Errorf("platforms (-want +got):\n%s", diff)
			}
		})
	}
	if _, err := layers.Flatten(context.Background(), s.Opener(), idx, layers.Options{}); !errdefs.IsInvalid(err) {
		t.Errorf("Flatten(index) = %v, want an invalid error", err)
	}
}

func TestFlattenErrors(t *testing.T) {
	s := layertest.NewStore(t)
	missing := s.Layer(t, layertest.Gzip, F{Path: "f", Body: []byte("x")})
	missing.Digest = digest.Digest("sha256:" + strings.Repeat("0", 64))
	notTar := s.Put(t, v1.MediaTypeImageLayerGzip, []byte("this is not a tar stream at all, not even close........"))
	tests := []struct {
		name  string
		layer v1.Descriptor
		class error
	}{
		{"missing layer", missing, errdefs.ErrNotFound},
		{"not a tar", notTar, errdefs.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := layers.Flatten(context.Background(), s.Opener(), s.Image(t, v1.Image{}, tt.layer), layers.Options{})
			if !errors.Is(err, tt.class) {
				t.Errorf("err = %v, want class %v", err, tt.class)
			}
		})
	}
}

func TestFlattenLeavesNoFiles(t *testing.T) {
	s := layertest.NewStore(t)
	good := s.Layer(t, layertest.Gzip, F{Path: "a", Body: []byte("kept")})
	bad := s.Put(t, v1.MediaTypeImageLayerGzip, []byte("\x1f\x8b broken gzip"))
	tests := []struct {
		name    string
		layers  []v1.Descriptor
		ctx     func() context.Context
		wantErr bool
	}{
		{"closed after success", []v1.Descriptor{good}, context.Background, false},
		{"failed layer", []v1.Descriptor{good, bad}, context.Background, true},
		{"cancelled", []v1.Descriptor{good}, func() context.Context {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return ctx
		}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tmp := t.TempDir()
			img, err := layers.Flatten(tt.ctx(), s.Opener(), s.Image(t, v1.Image{}, tt.layers...), layers.Options{Keep: keepAll, TempDir: tmp})
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if err == nil {
				if b, err := fs.ReadFile(img.FS, "a"); err != nil || string(b) != "kept" {
					t.Fatalf("ReadFile(a) = %q, %v", b, err)
				}
				if err := img.Close(); err != nil {
					t.Fatal(err)
				}
			}
			left, err := os.ReadDir(tmp)
			if err != nil {
				t.Fatal(err)
			}
			if len(left) != 0 {
				t.Errorf("%d entries left in the temp dir", len(left))
			}
		})
	}
}
