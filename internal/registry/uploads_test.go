package registry_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/berth-registry/berth/internal/registry"
	"github.com/google/go-cmp/cmp"
	"github.com/opencontainers/go-digest"
)

func TestExpireUploads(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	start := func(repo string, data string) string {
		t.Helper()
		u, err := e.svc.StartUpload(ctx, repo)
		if err != nil {
			t.Fatal(err)
		}
		if data != "" {
			if _, err := e.svc.AppendUpload(ctx, repo, u.ID, -1, bytes.NewReader([]byte(data))); err != nil {
				t.Fatal(err)
			}
		}
		return u.ID
	}
	idle := start("exp/a", "some bytes")
	empty := start("exp/a", "")
	busy := start("exp/b", "first part")
	if got := len(e.uploadIDs(t)); got != 2 {
		t.Fatalf("%d uploads with data, want 2", got)
	}

	if n, err := e.svc.ExpireUploads(ctx, 100); err != nil || n != 0 {
		t.Fatalf("ExpireUploads before expiry = %d, %v; want 0", n, err)
	}
	e.clock.Advance(testExpiry - 10*time.Minute)
	// Activity moves the expiry of busy.
	if _, err := e.svc.AppendUpload(ctx, "exp/b", busy, -1, bytes.NewReader([]byte(", second part"))); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(20 * time.Minute)

	n, err := e.svc.ExpireUploads(ctx, 1)
	if err != nil || n != 1 {
		t.Fatalf("ExpireUploads(limit 1) = %d, %v; want 1", n, err)
	}
	n, err = e.svc.ExpireUploads(ctx, 100)
	if err != nil || n != 1 {
		t.Fatalf("second ExpireUploads = %d, %v; want the other expired session", n, err)
	}
	for _, id := range []string{idle, empty} {
		if _, err := e.svc.Upload(ctx, "exp/a", id); !errdefs.IsNotFound(err) {
			t.Errorf("expired upload %s: %v, want not found", id, err)
		}
		if _, err := e.svc.AppendUpload(ctx, "exp/a", id, -1, bytes.NewReader([]byte("x"))); !errdefs.IsNotFound(err) {
			t.Errorf("append to expired upload %s: %v, want not found", id, err)
		}
	}
	if diff := cmp.Diff([]string{busy}, e.uploadIDs(t)); diff != "" {
		t.Errorf("upload data after expiry (-want +got):\n%s", diff)
	}
	// The busy session still completes.
	want := []byte("first part, second part")
	if _, err := e.svc.CompleteUpload(ctx, "exp/b", busy, digest.FromBytes(want), -1, nil); err != nil {
		t.Fatalf("complete the live session: %v", err)
	}
	if n, err := e.svc.ExpireUploads(ctx, 100); err != nil || n != 0 {
		t.Errorf("ExpireUploads with nothing left = %d, %v", n, err)
	}
}

func TestSweepOrphanUploads(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	// Data without a session row: what a crash between a writer's creation
	// and its first saved state leaves.
	for _, id := range []string{"orphan-1", "orphan-2"} {
		w, err := e.blobs.NewWriter(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte("unacknowledged bytes")); err != nil {
			t.Fatal(err)
		}
		if err := w.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		w.Close()
	}
	u, err := e.svc.StartUpload(ctx, "sweep/a")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.AppendUpload(ctx, "sweep/a", u.ID, 0, bytes.NewReader([]byte("owned"))); err != nil {
		t.Fatal(err)
	}

	if n, err := e.svc.SweepOrphanUploads(ctx); err != nil || n != 0 {
		t.Fatalf("sweep of fresh data = %d, %v; want 0", n, err)
	}
	if got := len(e.uploadIDs(t)); got != 3 {
		t.Fatalf("fresh data swept: %d uploads left, want 3", got)
	}
	// Long enough that the orphans are stale; the session's own expiry is
	// not the sweep's business.
	e.clock.Advance(testExpiry + time.Minute)
	if n, err := e.svc.SweepOrphanUploads(ctx); err != nil || n != 2 {
		t.Fatalf("sweep = %d, %v; want the 2 orphans", n, err)
	}
	if diff := cmp.Diff([]string{u.ID}, e.uploadIDs(t)); diff != "" {
		t.Errorf("upload data after the sweep (-want +got):\n%s", diff)
	}
	want := []byte("owned")
	if _, err := e.svc.CompleteUpload(ctx, "sweep/a", u.ID, digest.FromBytes(want), -1, nil); err != nil {
		t.Errorf("the session's data was touched by the sweep: %v", err)
	}
}

// failingReader returns data, then err.
type failingReader struct {
	data []byte
	err  error
}

func (r *failingReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, r.err
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

func TestAppendUploadKeepsWhatArrived(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	data := bytes.Repeat([]byte("0123456789"), 10_000)
	u, err := e.svc.StartUpload(ctx, "append/a")
	if err != nil {
		t.Fatal(err)
	}
	cut := errors.New("connection reset")
	got, err := e.svc.AppendUpload(ctx, "append/a", u.ID, 0, &failingReader{data: data[:40_000], err: cut})
	if !errors.Is(err, cut) {
		t.Fatalf("append with a failing body = %v, want the body's error", err)
	}
	if got == nil || got.Offset != 40_000 {
		t.Fatalf("append returned %+v, want the session at offset 40000", got)
	}
	if u2, err := e.svc.Upload(ctx, "append/a", u.ID); err != nil || u2.Offset != 40_000 {
		t.Fatalf("stored session %+v, %v; want offset 40000", u2, err)
	}

	t.Run("chunk at the wrong offset", func(t *testing.T) {
		for _, start := range []int64{0, 39_999, 40_001} {
			_, err := e.svc.AppendUpload(ctx, "append/a", u.ID, start, bytes.NewReader(data[start:]))
			var re *registry.RangeError
			if !errors.As(err, &re) || re.Offset != 40_000 || re.Start != start || !errdefs.IsConflict(err) {
				t.Errorf("append at %d = %v, want a RangeError at offset 40000 of class conflict", start, err)
			}
		}
	})
	t.Run("cancelled request keeps what arrived", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		r := &cancellingReader{data: data[40_000:50_000], cancel: cancel}
		got, err := e.svc.AppendUpload(cctx, "append/a", u.ID, 40_000, io.MultiReader(r, bytes.NewReader(data[50_000:])))
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("append under a cancelled context = %v, want context.Canceled", err)
		}
		if got == nil || got.Offset != 50_000 {
			t.Fatalf("append returned %+v, want the session at 50000", got)
		}
	})
	t.Run("resume completes", func(t *testing.T) {
		if _, err := e.svc.AppendUpload(ctx, "append/a", u.ID, 50_000, bytes.NewReader(data[50_000:])); err != nil {
			t.Fatal(err)
		}
		b, err := e.svc.CompleteUpload(ctx, "append/a", u.ID, digest.FromBytes(data), -1, nil)
		if err != nil || b.Size != int64(len(data)) {
			t.Fatalf("complete = %+v, %v", b, err)
		}
		if got := e.uploadIDs(t); len(got) != 0 {
			t.Errorf("upload data left after completion: %q", got)
		}
	})
}

// cancellingReader returns its data, cancelling the request's context once
// it is all read.
type cancellingReader struct {
	data   []byte
	cancel context.CancelFunc
}

func (r *cancellingReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		r.cancel()
		return 0, io.EOF
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

func TestCompleteUploadMismatch(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	data := []byte("what was really sent")
	u, err := e.svc.StartUpload(ctx, "mismatch/a")
	if err != nil {
		t.Fatal(err)
	}
	claimed := digest.FromString("what the client claims")
	_, err = e.svc.CompleteUpload(ctx, "mismatch/a", u.ID, claimed, -1, bytes.NewReader(data))
	var dm *registry.DigestMismatchError
	if !errors.As(err, &dm) || dm.Expected != claimed || !errdefs.IsInvalid(err) {
		t.Fatalf("complete with a wrong digest = %v, want a DigestMismatchError for %s", err, claimed)
	}
	if _, err := e.svc.Upload(ctx, "mismatch/a", u.ID); !errdefs.IsNotFound(err) {
		t.Errorf("session after a mismatch: %v, want not found", err)
	}
	if got := e.uploadIDs(t); len(got) != 0 {
		t.Errorf("data left after a mismatch: %q", got)
	}
	for _, d := range []digest.Digest{claimed, digest.FromBytes(data)} {
		if _, err := e.svc.StatBlob(ctx, "mismatch/a", d); !errdefs.IsNotFound(err) {
			t.Errorf("StatBlob(%s) after a mismatch = %v, want not found", d, err)
		}
		if _, err := e.blobs.Stat(ctx, d); !errdefs.IsNotFound(err) {
			t.Errorf("blob store holds %s after a mismatch: %v", d, err)
		}
	}
}

func TestPutBlobFailureLeavesNothing(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, func(o *registry.Options) { o.MaxBlobBytes = 100 })
	tests := []struct {
		label string
		body  io.Reader
		dgst  digest.Digest
		class error
	}{
		{"body fails", &failingReader{data: []byte("partial"), err: io.ErrUnexpectedEOF}, digest.FromString("partial and more"), io.ErrUnexpectedEOF},
		{"digest mismatch", bytes.NewReader([]byte("abc")), digest.FromString("abd"), errdefs.ErrInvalid},
		{"over the limit", bytes.NewReader(make([]byte, 101)), digest.FromBytes(make([]byte, 101)), errdefs.ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.label, func(t *testing.T) {
			_, err := e.svc.PutBlob(ctx, "put/a", tt.dgst, tt.body)
			if !errors.Is(err, tt.class) {
				t.Errorf("PutBlob = %v, want %v", err, tt.class)
			}
			if _, err := e.svc.StatBlob(ctx, "put/a", tt.dgst); !errdefs.IsNotFound(err) {
				t.Errorf("StatBlob after a failed put = %v", err)
			}
			if got := e.uploadIDs(t); len(got) != 0 {
				t.Errorf("upload data left behind: %q", got)
			}
		})
	}
}

func TestConcurrentAppend(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	u, err := e.svc.StartUpload(ctx, "race/a")
	if err != nil {
		t.Fatal(err)
	}
	chunk := bytes.Repeat([]byte("x"), 32<<10)
	const n = 6
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			_, errs[i] = e.svc.AppendUpload(ctx, "race/a", u.ID, 0, bytes.NewReader(chunk))
		})
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		var re *registry.RangeError
		switch {
		case err == nil:
			ok++
		case errors.As(err, &re) && re.Offset == int64(len(chunk)):
		default:
			t.Errorf("unexpected error: %v", err)
		}
	}
	if ok != 1 {
		t.Errorf("%d appends at offset 0 succeeded, want exactly 1", ok)
	}
	if _, err := e.svc.CompleteUpload(ctx, "race/a", u.ID, digest.FromBytes(chunk), -1, nil); err != nil {
		t.Errorf("complete after the race: %v", err)
	}
}

// TestAppendUploadSizeLimit checks that a chunk refused for size leaves the
// session as it was, so the limit cannot be passed by completing the upload
// afterwards.
func TestAppendUploadSizeLimit(t *testing.T) {
	ctx := context.Background()
	const limit = 100
	e := newEnv(t, func(o *registry.Options) { o.MaxBlobBytes = limit })
	u, err := e.svc.StartUpload(ctx, "limit/a")
	if err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("y"), 150)
	if _, err := e.svc.AppendUpload(ctx, "limit/a", u.ID, 0, bytes.NewReader(data[:60])); err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.AppendUpload(ctx, "limit/a", u.ID, 60, bytes.NewReader(data[60:]))
	if !errors.Is(err, errdefs.ErrTooLarge) {
		t.Fatalf("append past the limit = %v, want ErrTooLarge", err)
	}
	got, err := e.svc.Upload(ctx, "limit/a", u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Offset > limit {
		t.Fatalf("AppendUpload refused with ErrTooLarge but saved %d bytes (limit %d); CompleteUpload then stores them", got.Offset, limit)
	}
	if got.Offset != 60 {
		t.Errorf("session offset %d after the refused chunk, want 60", got.Offset)
	}
	if _, err := e.svc.CompleteUpload(ctx, "limit/a", u.ID, digest.FromBytes(data[:limit+1]), -1, nil); err == nil {
		t.Errorf("completed an upload over the limit")
	}
}
