package filesystem

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-registry/berth/internal/blob"
	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/google/go-cmp/cmp"
	"github.com/opencontainers/go-digest"
)

// commit uploads p as one blob under dgst.
func commit(t *testing.T, s *Store, p []byte, dgst digest.Digest) {
	t.Helper()
	ctx := context.Background()
	w, err := s.NewWriter(ctx, "c-"+dgst.Encoded()[:12])
	if err != nil {
		t.Fatalf("NewWriter: %v", err)
	}
	defer w.Cancel(ctx)
	if _, err := w.Write(p); err != nil {
		t.Fatalf("Write: %v", err)
	}
	if _, err := w.Commit(ctx, dgst, int64(len(p))); err != nil {
		t.Fatalf("Commit: %v", err)
	}
}

// names lists the paths under dir, relative and with forward slashes.
func names(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	for _, line := range tree(t, dir) {
		out = append(out, strings.Fields(line)[0])
	}
	return out
}

func TestLayout(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t)
	data := []byte("layout")
	d256, d512 := digest.FromBytes(data), digest.SHA512.FromBytes(data)
	commit(t, s, data, d256)
	commit(t, s, data, d512)
	w, err := s.NewWriter(ctx, "open-upload")
	if err != nil {
		t.Fatalf("NewWriter: %v", err)
	}
	defer w.Close()

	h256, h512 := d256.Encoded(), d512.Encoded()
	want := []string{
		".",
		"blobs",
		"blobs/sha256",
		"blobs/sha256/" + h256[:2],
		"blobs/sha256/" + h256[:2] + "/" + h256,
		"blobs/sha512",
		"blobs/sha512/" + h512[:2],
		"blobs/sha512/" + h512[:2] + "/" + h512,
		"uploads",
		"uploads/open-upload",
		"uploads/open-upload/data",
	}
	if diff := cmp.Diff(want, names(t, s.Root())); diff != "" {
		t.Errorf("layout (-want +got):\n%s", diff)
	}
	for _, dgst := range []digest.Digest{d256, d512} {
		fi, err := os.Stat(s.mustPath(blobSpec{dgst}))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != 0o444 {
			t.Errorf("blob %s has mode %v, want -r--r--r--", dgst, fi.Mode())
		}
	}
}

// TestCommitKeepsStoredCopy: committing content that is stored already
// leaves the stored file itself in place (readers of it are undisturbed).
func TestCommitKeepsStoredCopy(t *testing.T) {
	s := newTestStore(t)
	data := []byte("stored once")
	dgst := digest.FromBytes(data)
	commit(t, s, data, dgst)
	before, err := os.Stat(s.mustPath(blobSpec{dgst}))
	if err != nil {
		t.Fatal(err)
	}
	commit(t, s, data, dgst)
	after, err := os.Stat(s.mustPath(blobSpec{dgst}))
	if err != nil {
		t.Fatal(err)
	}
	if !os.SameFile(before, after) {
		t.Error("committing stored content replaced the stored file")
	}
	if left := leftovers(t, s); len(left) > 0 {
		t.Errorf("leftovers: %q", left)
	}
}

// TestCommitReplacesWrongSizedCopy: a file at a digest path whose size
// cannot be that content's (damage from outside Berth) is replaced by a
// verified upload instead of being kept as a duplicate.
func TestCommitReplacesWrongSizedCopy(t *testing.T) {
	s := newTestStore(t)
	data := []byte("the real content")
	dgst := digest.FromBytes(data)
	p := s.mustPath(blobSpec{dgst})
	if err := mkdirDurable(filepath.Dir(filepath.Dir(p)), filepath.Dir(p)); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte("trunc"), 0o644); err != nil {
		t.Fatal(err)
	}
	commit(t, s, data, dgst)
	got, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Errorf("blob file holds %q, want %q", got, data)
	}
}

// TestResumeAfterRestart: an upload flushed by one Store (process) is
// resumed and committed by another on the same root, from the saved state
// alone, even though the first never closed its writer (it crashed).
func TestResumeAfterRestart(t *testing.T) {
	ctx := context.Background()
	root := filepath.Join(t.TempDir(), "blobs")
	first, err := New(root, Options{})
	if err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("0123456789"), 10_000)
	w, err := first.NewWriter(ctx, "survivor")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(data[:33_333]); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	st, err := w.State()
	if err != nil {
		t.Fatal(err)
	}
	// The crash: data after the saved state reached the file, nothing
	// else, and the process's descriptors (and its lock) are gone.
	if _, err := w.Write(data[33_333:50_000]); err != nil {
		t.Fatal(err)
	}
	if err := w.(*writer).f.Close(); err != nil {
		t.Fatal(err)
	}

	second, err := New(root, Options{})
	if err != nil {
		t.Fatal(err)
	}
	dgst := digest.FromBytes(data)
	if _, err := second.Stat(ctx, dgst); !errdefs.IsNotFound(err) {
		t.Fatalf("Stat before commit = %v, want ErrNotFound", err)
	}
	r, err := second.ResumeWriter(ctx, "survivor", st)
	if err != nil {
		t.Fatalf("ResumeWriter on a new Store: %v", err)
	}
	defer r.Cancel(ctx)
	if _, err := r.Write(data[33_333:]); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Commit(ctx, dgst, int64(len(data))); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	if _, err := first.Stat(ctx, dgst); err != nil {
		t.Errorf("Stat on the first Store: %v", err)
	}
	if left := leftovers(t, first); len(left) > 0 {
		t.Errorf("leftovers: %q", left)
	}
}

func TestNewWriterExistingID(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t)
	w, err := s.NewWriter(ctx, "same")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Cancel(ctx)
	if _, err := w.Write([]byte("first")); err != nil {
		t.Fatal(err)
	}
	_, err = s.NewWriter(ctx, "same")
	if !errdefs.IsAlreadyExists(err) {
		t.Fatalf("second NewWriter with the same id = %v, want ErrAlreadyExists", err)
	}
	if w.Size() != 5 {
		t.Errorf("first writer's Size() = %d after the refused NewWriter, want 5", w.Size())
	}
	if _, err := os.Stat(s.mustPath(uploadDataSpec{"same"})); err != nil {
		t.Errorf("the first upload's data is gone: %v", err)
	}
}

// TestWriterAfterEnd: once closed, committed or cancelled, a writer refuses
// further use with ErrConflict, while Close and Cancel do nothing.
func TestWriterAfterEnd(t *testing.T) {
	ctx := context.Background()
	data := []byte("ended")
	dgst := digest.FromBytes(data)
	tests := []struct {
		name string
		end  func(w blob.Writer) error
	}{
		{"Close", func(w blob.Writer) error { return w.Close() }},
		{"Cancel", func(w blob.Writer) error { return w.Cancel(ctx) }},
		{"Commit", func(w blob.Writer) error {
			_, err := w.Commit(ctx, dgst, int64(len(data)))
			return err
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newTestStore(t)
			w, err := s.NewWriter(ctx, "u1")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := w.Write(data); err != nil {
				t.Fatal(err)
			}
			if err := tc.end(w); err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			_, err = w.Write(data)
			wantConflict(t, err, "Write")
			wantConflict(t, w.Flush(ctx), "Flush")
			_, err = w.Commit(ctx, dgst, int64(len(data)))
			wantConflict(t, err, "Commit")
			if err := w.Close(); err != nil {
				t.Errorf("Close = %v, want nil", err)
			}
			if err := w.Cancel(ctx); err != nil {
				t.Errorf("Cancel = %v, want nil", err)
			}
			// Cancel after Close must not have discarded the kept data.
			_, err = os.Stat(s.mustPath(uploadDataSpec{"u1"}))
			if kept := err == nil; kept != (tc.name == "Close") {
				t.Errorf("upload data exists = %v after %s and Cancel", kept, tc.name)
			}
		})
	}
}

func wantConflict(t *testing.T, err error, what string) {
	t.Helper()
	if !errdefs.IsConflict(err) {
		t.Errorf("%s on an ended writer = %v, want ErrConflict", what, err)
	}
}

// TestOpenReturnsFile: Open hands out the *os.File so net/http can use
// sendfile.
func TestOpenReturnsFile(t *testing.T) {
	s := newTestStore(t)
	data := []byte("served by the kernel")
	dgst := digest.FromBytes(data)
	commit(t, s, data, dgst)
	r, err := s.Open(context.Background(), dgst)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, ok := r.(*os.File); !ok {
		t.Errorf("Open returned %T, want *os.File", r)
	}
}

// TestDeleteKeepsOpenReaders: a reader opened before Delete reads the whole
// blob, so GC never cuts a download short.
func TestDeleteKeepsOpenReaders(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t)
	data := bytes.Repeat([]byte("x"), 100_000)
	dgst := digest.FromBytes(data)
	commit(t, s, data, dgst)
	r, err := s.Open(ctx, dgst)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := s.Delete(ctx, dgst); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(got, data) {
		t.Errorf("read after Delete: %d bytes, %v; want all %d", len(got), err, len(data))
	}
}

func TestNew(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		root  string
		class error
	}{
		{"empty root", "", errdefs.ErrInvalid},
		{"root is a file", file, errdefs.ErrUnavailable},
		{"root below a file", filepath.Join(file, "blobs"), errdefs.ErrUnavailable},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.root, Options{})
			if !errors.Is(err, tc.class) {
				t.Fatalf("New(%q) = %v, want an error of class %q", tc.root, err, tc.class)
			}
			if tc.root != "" && !strings.Contains(err.Error(), tc.root) {
				t.Errorf("error %q does not name the directory %s", err, tc.root)
			}
		})
	}

	t.Run("reopen keeps blobs", func(t *testing.T) {
		root := filepath.Join(dir, "reopened")
		s, err := New(root, Options{})
		if err != nil {
			t.Fatal(err)
		}
		data := []byte("kept")
		dgst := digest.FromBytes(data)
		commit(t, s, data, dgst)
		again, err := New(root, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if info, err := again.Stat(context.Background(), dgst); err != nil || info.Size != 4 {
			t.Errorf("Stat after reopening = %+v, %v", info, err)
		}
	})
}

// TestOneWriterPerUpload: while one writer has an upload open, resuming it
// again (a second request racing the first) is ErrConflict and disturbs
// nothing; once the first is closed, the upload resumes normally.
func TestOneWriterPerUpload(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t)
	w, err := s.NewWriter(ctx, "busy")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("0123456789")); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	st, err := w.State()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("abc")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ResumeWriter(ctx, "busy", st); !errdefs.IsConflict(err) {
		t.Fatalf("ResumeWriter while another writer is open = %v, want ErrConflict", err)
	}
	fi, err := os.Stat(s.mustPath(uploadDataSpec{"busy"}))
	if err != nil || fi.Size() != 13 {
		t.Fatalf("data after the refused resume: %v, %v; want 13 bytes untouched", fi, err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	r, err := s.ResumeWriter(ctx, "busy", st)
	if err != nil {
		t.Fatalf("ResumeWriter after Close: %v", err)
	}
	defer r.Cancel(ctx)
	if r.Size() != 10 {
		t.Errorf("resumed at %d, want 10", r.Size())
	}
}

// TestRewoundUploadIsReread: once ResumeWriter truncated an upload, it is
// marked rewound for good, and a later writer's Commit verifies the bytes
// on disk rather than trusting the hash state it was handed.
func TestRewoundUploadIsReread(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t)
	marker := s.mustPath(uploadRewoundSpec{"u"})
	hasMarker := func() bool {
		t.Helper()
		_, err := os.Stat(marker)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			t.Fatal(err)
		}
		return err == nil
	}
	// writeSave writes p, flushes and returns the state.
	writeSave := func(w blob.Writer, p string) []byte {
		t.Helper()
		if _, err := w.Write([]byte(p)); err != nil {
			t.Fatal(err)
		}
		if err := w.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		st, err := w.State()
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	w, err := s.NewWriter(ctx, "u")
	if err != nil {
		t.Fatal(err)
	}
	older := writeSave(w, "head-")
	current := writeSave(w, "tail")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if hasMarker() {
		t.Fatal("rewound marker exists before any truncation")
	}

	// A stale request resumes from the older state: "tail" becomes "TAIL".
	stale, err := s.ResumeWriter(ctx, "u", older)
	if err != nil {
		t.Fatal(err)
	}
	writeSave(stale, "TAIL")
	if err := stale.Close(); err != nil {
		t.Fatal(err)
	}
	if !hasMarker() {
		t.Fatal("no rewound marker after a truncating resume")
	}

	// The current state resumes without truncating (the length matches),
	// but its hash describes "head-tail" while the data is "head-TAIL".
	r, err := s.ResumeWriter(ctx, "u", current)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Cancel(ctx)
	dgst := digest.FromString("head-tail")
	if _, err := r.Commit(ctx, dgst, 9); !errdefs.IsInvalid(err) {
		t.Fatalf("Commit of data the hash state does not describe = %v, want ErrInvalid", err)
	}
	if _, err := s.Stat(ctx, dgst); !errdefs.IsNotFound(err) {
		t.Errorf("Stat after the refused Commit = %v, want ErrNotFound", err)
	}
}
