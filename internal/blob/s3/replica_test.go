package s3

import (
	"bytes"
	"context"
	"io"
	"slices"
	"testing"

	"github.com/berth-registry/berth/internal/blob"
	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/berth-registry/berth/internal/s3test"
	"github.com/google/go-cmp/cmp"
	"github.com/opencontainers/go-digest"
)

// TestReplicaResume uploads a blob the way a chunked push does, one PATCH
// at a time, each PATCH on the other of two Store instances (replicas
// with different part sizes) sharing only the bucket and the saved state:
// open, write, Flush, State, Close. Chunks are of many sizes, so parts,
// tails and part boundaries mix. The commit copies nothing: afterwards
// exactly one data object and one index object exist.
func TestReplicaResume(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := s3test.NewBucket(t)
	replicas := []*Store{
		openTestStore(t, b.URL, Options{PartSize: MinPartSize}),
		openTestStore(t, b.URL, Options{PartSize: MinPartSize + 1<<20}),
	}
	data := randomData(13<<20+4321, 1)
	chunks := []int{1, 4093, 100_003, 777_777, 3<<20 + 1, 64 << 10, 5<<20 + 3}
	id := newUploadID()
	var state []byte
	off, patches := 0, 0
	for ; off < len(data); patches++ {
		s := replicas[patches%2]
		var w blob.Writer
		var err error
		if state == nil {
			w, err = s.NewWriter(ctx, id)
		} else {
			w, err = s.ResumeWriter(ctx, id, state)
		}
		if err != nil {
			t.Fatalf("PATCH %d at %d: open writer: %v", patches, off, err)
		}
		if w.Size() != int64(off) {
			t.Fatalf("PATCH %d: writer at %d, want %d", patches, w.Size(), off)
		}
		end := min(off+chunks[patches%len(chunks)], len(data))
		// As the registry does: io.Copy from the request body.
		if _, err := io.Copy(w, bytes.NewReader(data[off:end])); err != nil {
			t.Fatalf("PATCH %d: write: %v", patches, err)
		}
		state = saveAndClose(t, w)
		off = end
	}
	if patches < 10 {
		t.Fatalf("only %d PATCHes; the test wants many", patches)
	}
	s := replicas[patches%2]
	w, err := s.ResumeWriter(ctx, id, state)
	if err != nil {
		t.Fatalf("resume to commit: %v", err)
	}
	defer w.Cancel(ctx)
	dgst := digest.FromBytes(data)
	if _, err := w.Commit(ctx, dgst, int64(len(data))); err != nil {
		t.Fatalf("Commit after %d PATCHes: %v", patches, err)
	}
	want := []string{indexKeyRel(dgst), "data/" + id}
	slices.Sort(want)
	if diff := cmp.Diff(want, bucketContents(t, s)); diff != "" {
		t.Errorf("bucket after Commit (-want +got):\n%s", diff)
	}
	checkIndex(t, s, dgst, id, int64(len(data)))
	for i, r := range replicas {
		if got := readAll(t, r, dgst); !bytes.Equal(got, data) {
			t.Errorf("replica %d reads %d bytes that differ from the %d written", i, len(got), len(data))
		}
	}
}

// TestDedupe commits the same content through two replicas: the first
// data object stays, the second upload's is deleted, and one index names
// the first.
func TestDedupe(t *testing.T) {
	tests := []struct {
		name string
		size int
	}{
		{"single PUT", 300_001},
		{"multipart", 2*MinPartSize + 17},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := s3test.NewBucket(t)
			a := openTestStore(t, b.URL, Options{PartSize: MinPartSize})
			c := openTestStore(t, b.URL, Options{PartSize: MinPartSize})
			data := randomData(tc.size, uint64(10+i))
			dgst, first := storeBlob(t, a, data, 32<<10)
			if _, second := storeBlob(t, c, data, 32<<10); second == first {
				t.Fatal("two uploads got the same id")
			}
			want := []string{indexKeyRel(dgst), "data/" + first}
			slices.Sort(want)
			if diff := cmp.Diff(want, bucketContents(t, a)); diff != "" {
				t.Errorf("bucket after two commits of the same content (-want +got):\n%s", diff)
			}
			checkIndex(t, a, dgst, first, int64(len(data)))
			checkContent(t, c, dgst, data)
		})
	}
}

// TestStaleParts: a request that resumes from an older state and writes a
// whole part rewrites a part the newer state names. Resuming from the
// newer state afterwards is ErrConflict; a writer resumed from the newer
// state before the rewrite fails its Commit with ErrInvalid (S3 refuses the
// part's old ETag). Either way nothing wrong is stored, and the stale
// request's own upload commits its own bytes.
func TestStaleParts(t *testing.T) {
	tests := []struct {
		name string
		// resumeFirst resumes the newer state before the stale request
		// writes, so the rewrite is only seen at Commit.
		resumeFirst bool
		// headLen is the size of the older state. Without a tail in it
		// (a whole part), resuming from the newer state does not remove
		// what the stale request resumes from.
		headLen int
	}{
		{"resume after the rewrite", false, MinPartSize + 1000},
		{"commit after the rewrite", true, MinPartSize},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			b := s3test.NewBucket(t)
			a := openTestStore(t, b.URL, Options{PartSize: MinPartSize})
			c := openTestStore(t, b.URL, Options{PartSize: MinPartSize})
			head := randomData(tc.headLen, uint64(20+i))
			newer := randomData(MinPartSize+2000, uint64(30+i))
			stale := randomData(MinPartSize+3000, uint64(40+i))
			id := newUploadID()
			w, err := a.NewWriter(ctx, id)
			if err != nil {
				t.Fatalf("NewWriter: %v", err)
			}
			writeAll(t, w, head, 64<<10)
			older := saveAndClose(t, w)
			w = resume(t, a, id, older)
			writeAll(t, w, newer, 64<<10)
			current := saveAndClose(t, w)

			var early blob.Writer
			if tc.resumeFirst {
				early = resume(t, a, id, current)
				defer early.Close()
			}
			sw := resume(t, c, id, older)
			defer sw.Cancel(ctx)
			writeAll(t, sw, stale, 64<<10) // rewrites part 2
			if err := sw.Flush(ctx); err != nil {
				t.Fatalf("stale Flush: %v", err)
			}

			want := slices.Concat(head, newer)
			dgst := digest.FromBytes(want)
			if tc.resumeFirst {
				_, err := early.Commit(ctx, dgst, int64(len(want)))
				if !errdefs.IsInvalid(err) {
					t.Fatalf("Commit of the newer state after the rewrite = %v, want ErrInvalid", err)
				}
			} else {
				_, err := a.ResumeWriter(ctx, id, current)
				if !errdefs.IsConflict(err) {
					t.Fatalf("ResumeWriter from the newer state after the rewrite = %v, want ErrConflict", err)
				}
			}
			if _, err := a.Stat(ctx, dgst); !errdefs.IsNotFound(err) {
				t.Errorf("Stat of the newer content = %v, want ErrNotFound", err)
			}
			staleData := slices.Concat(head, stale)
			staleDgst := digest.FromBytes(staleData)
			if _, err := sw.Commit(ctx, staleDgst, int64(len(staleData))); err != nil {
				t.Fatalf("Commit of the stale request's upload: %v", err)
			}
			checkContent(t, a, staleDgst, staleData)
			if left := leftovers(t, a); len(left) != 0 {
				t.Errorf("leftovers after the stale upload's Commit: %q", left)
			}
		})
	}
}

// resume reopens upload id from state on s.
func resume(t *testing.T, s *Store, id string, state []byte) blob.Writer {
	t.Helper()
	w, err := s.ResumeWriter(context.Background(), id, state)
	if err != nil {
		t.Fatalf("ResumeWriter: %v", err)
	}
	return w
}

// TestSecondWriter: an upload id is taken once its marker exists, on any
// replica; an open writer is exclusive within its Store.
func TestSecondWriter(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := s3test.NewBucket(t)
	a := openTestStore(t, b.URL, Options{})
	c := openTestStore(t, b.URL, Options{})
	id := newUploadID()
	w, err := a.NewWriter(ctx, id)
	if err != nil {
		t.Fatalf("NewWriter: %v", err)
	}
	writeAll(t, w, []byte("hello"), 5)
	if err := w.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	st, err := w.State()
	if err != nil {
		t.Fatalf("State: %v", err)
	}
	for name, s := range map[string]*Store{"same replica": a, "other replica": c} {
		if _, err := s.NewWriter(ctx, id); !errdefs.IsAlreadyExists(err) {
			t.Errorf("NewWriter of an open upload on the %s = %v, want ErrAlreadyExists", name, err)
		}
	}
	if _, err := a.ResumeWriter(ctx, id, st); !errdefs.IsConflict(err) {
		t.Errorf("ResumeWriter of an upload open in the same Store = %v, want ErrConflict", err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	w = resume(t, a, id, st)
	if err := w.Cancel(ctx); err != nil {
		t.Fatalf("Cancel: %v", err)
	}
	w, err = c.NewWriter(ctx, id)
	if err != nil {
		t.Fatalf("NewWriter after Cancel: %v", err)
	}
	if err := w.Cancel(ctx); err != nil {
		t.Fatalf("Cancel: %v", err)
	}
	if got := bucketContents(t, a); len(got) != 0 {
		t.Errorf("bucket after Cancel holds %q", got)
	}
}
