package blobtest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/berth-registry/berth/internal/blob"
	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/google/go-cmp/cmp"
	"github.com/opencontainers/go-digest"
)

// resumeAt reopens upload id from state and checks it continues at want.
func resumeAt(t testing.TB, s blob.Store, id string, state []byte, want int64) blob.Writer {
	t.Helper()
	w, err := s.ResumeWriter(context.Background(), id, state)
	if err != nil {
		t.Fatalf("ResumeWriter at %d: %v", want, err)
	}
	if w.ID() != id || w.Size() != want {
		w.Close()
		t.Fatalf("resumed writer: ID() = %q, Size() = %d; want %q, %d", w.ID(), w.Size(), id, want)
	}
	return w
}

// testResume: an upload written over several sessions, each ending with
// Flush, State and Close, commits to the digest of all its data.
func testResume(t *testing.T, h Harness) {
	data := testData(300_001, 10)
	tests := []struct {
		name string
		// cuts are the offsets at which a session ends; the last session
		// runs to the end of data and commits.
		cuts []int
		alg  digest.Algorithm
		// writeLen is the size of each Write.
		writeLen int
	}{
		{"odd boundaries", []int{1, 4095, 65_537, 200_003}, digest.SHA256, 1009},
		{"empty sessions", []int{0, 0, 17, 17}, digest.SHA256, chunk},
		{"many small sessions", []int{3, 10, 100, 1000, 1001, 9999, 50_000, 123_457, 299_999}, digest.SHA256, 333},
		{"sha512 after resume", []int{7, 150_001}, digest.SHA512, chunk},
		{"all data then commit in a new session", []int{len(data)}, digest.SHA256, 64 << 10},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			w, err := h.Store.NewWriter(ctx, newID())
			if err != nil {
				t.Fatalf("NewWriter: %v", err)
			}
			id, from := w.ID(), 0
			for _, cut := range tc.cuts {
				writeChunks(t, w, data[from:cut], tc.writeLen)
				st := saveState(t, w)
				if err := w.Close(); err != nil {
					t.Fatalf("Close at %d: %v", cut, err)
				}
				w, from = resumeAt(t, h.Store, id, st, int64(cut)), cut
			}
			defer w.Cancel(ctx)
			writeChunks(t, w, data[from:], tc.writeLen)
			dgst := tc.alg.FromBytes(data)
			info, err := w.Commit(ctx, dgst, int64(len(data)))
			if err != nil {
				t.Fatalf("Commit after %d sessions: %v", len(tc.cuts)+1, err)
			}
			if diff := cmp.Diff(blob.Info{Digest: dgst, Size: int64(len(data))}, info); diff != "" {
				t.Errorf("Commit Info (-want +got):\n%s", diff)
			}
			checkStored(t, h.Store, dgst, data)
			checkNoLeftovers(t, h, "Commit of a resumed upload")
		})
	}
}

// testResumeTruncates: data written after the last saved state (a crash
// after the write, before the state was stored) is discarded on resume, so
// the upload continues exactly where the state says.
func testResumeTruncates(t *testing.T, h Harness) {
	head, lost, tail := testData(50_000, 11), testData(30_001, 12), testData(20_003, 13)
	tests := []struct {
		name  string
		flush bool // whether the lost bytes were flushed before the "crash"
	}{
		{"flushed", true},
		{"not flushed", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			w, err := h.Store.NewWriter(ctx, newID())
			if err != nil {
				t.Fatalf("NewWriter: %v", err)
			}
			writeChunks(t, w, head, chunk)
			st := saveState(t, w)
			writeChunks(t, w, lost, chunk)
			if tc.flush {
				saveState(t, w) // saved nowhere: the crash comes first
			}
			if err := w.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			w = resumeAt(t, h.Store, w.ID(), st, int64(len(head)))
			defer w.Cancel(ctx)
			writeChunks(t, w, tail, chunk)
			want := slices.Concat(head, tail)
			dgst := digest.FromBytes(want)
			if _, err := w.Commit(ctx, dgst, int64(len(want))); err != nil {
				t.Fatalf("Commit: %v", err)
			}
			checkStored(t, h.Store, dgst, want)
			checkNoLeftovers(t, h, "Commit")
		})
	}
}

// testResumeShorter: a state that is ahead of the data the driver holds is
// ErrConflict, and the upload can still be aborted cleanly.
func testResumeShorter(t *testing.T, h Harness) {
	ctx := context.Background()
	w, err := h.Store.NewWriter(ctx, newID())
	if err != nil {
		t.Fatalf("NewWriter: %v", err)
	}
	id := w.ID()
	writeChunks(t, w, testData(10_000, 14), chunk)
	early := saveState(t, w)
	writeChunks(t, w, testData(10_000, 15), chunk)
	late := saveState(t, w)
	if err := w.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	// Resuming from the early state discards the later data ...
	w = resumeAt(t, h.Store, id, early, 10_000)
	if err := w.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	// ... so the late state now points past the end of it.
	w, err = h.Store.ResumeWriter(ctx, id, late)
	if err == nil {
		w.Close()
	}
	wantClass(t, err, errdefs.ErrConflict, "ResumeWriter with a state ahead of the data")
	if err := h.Store.AbortUpload(ctx, id, early); err != nil {
		t.Fatalf("AbortUpload: %v", err)
	}
	checkNoLeftovers(t, h, "AbortUpload")
}

// testResumeMissing: resuming an upload whose data is gone (never started,
// aborted, committed) is ErrNotFound.
func testResumeMissing(t *testing.T, h Harness) {
	ctx := context.Background()
	data := testData(5000, 16)
	// Every case gets a real state of a real upload, so drivers that keep
	// their own state (a multipart upload id) see a well-formed one.
	tests := []struct {
		name string
		// end finishes upload w (with saved state st) in some way and
		// returns the id to resume.
		end func(t *testing.T, w blob.Writer, st []byte) string
	}{
		{"never started", func(t *testing.T, w blob.Writer, st []byte) string {
			if err := w.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			t.Cleanup(func() { h.Store.AbortUpload(ctx, w.ID(), st) })
			return newID()
		}},
		{"aborted", func(t *testing.T, w blob.Writer, st []byte) string {
			if err := w.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			if err := h.Store.AbortUpload(ctx, w.ID(), st); err != nil {
				t.Fatalf("AbortUpload: %v", err)
			}
			return w.ID()
		}},
		{"committed", func(t *testing.T, w blob.Writer, st []byte) string {
			if _, err := w.Commit(ctx, digest.FromBytes(data), int64(len(data))); err != nil {
				t.Fatalf("Commit: %v", err)
			}
			return w.ID()
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w, err := h.Store.NewWriter(ctx, newID())
			if err != nil {
				t.Fatalf("NewWriter: %v", err)
			}
			writeChunks(t, w, data, chunk)
			st := saveState(t, w)
			id := tc.end(t, w, st)
			r, err := h.Store.ResumeWriter(ctx, id, st)
			if err == nil {
				r.Close()
			}
			wantClass(t, err, errdefs.ErrNotFound, fmt.Sprintf("ResumeWriter of a %s upload", tc.name))
		})
	}
}

// testAbortUpload: AbortUpload discards an upload's data with or without
// its last state, and is not an error for an upload without data.
func testAbortUpload(t *testing.T, h Harness) {
	ctx := context.Background()
	data := testData(40_000, 17)
	tests := []struct {
		name      string
		withState bool
		// close is false to abort while the writer is still open (another
		// request may hold it when the session expires).
		close bool
		// done aborts with a context that is already done.
		done bool
	}{
		{"with state", true, true, false},
		{"without state", false, true, false},
		{"writer still open", true, false, false},
		{"with a done context", true, true, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w, err := h.Store.NewWriter(ctx, newID())
			if err != nil {
				t.Fatalf("NewWriter: %v", err)
			}
			writeChunks(t, w, data, chunk)
			st := saveState(t, w)
			if tc.close {
				if err := w.Close(); err != nil {
					t.Fatalf("Close: %v", err)
				}
			} else {
				defer w.Close()
			}
			checkHasLeftovers(t, h, "an upload")
			var abortState []byte
			if tc.withState {
				abortState = st
			}
			abortCtx, cancel := context.WithCancel(ctx)
			if tc.done {
				cancel()
			}
			defer cancel()
			for i := range 2 {
				if err := h.Store.AbortUpload(abortCtx, w.ID(), abortState); err != nil {
					t.Fatalf("AbortUpload #%d: %v", i+1, err)
				}
			}
			checkNoLeftovers(t, h, "AbortUpload")
			_, err = h.Store.ResumeWriter(ctx, w.ID(), st)
			wantClass(t, err, errdefs.ErrNotFound, "ResumeWriter after AbortUpload")
		})
	}
	t.Run("unknown id", func(t *testing.T) {
		if err := h.Store.AbortUpload(ctx, newID(), nil); err != nil {
			t.Fatalf("AbortUpload of an upload that never existed: %v", err)
		}
	})
}

// testStaleState: a request that resumes from a stale state (read before a
// newer request saved its own) rewrites the data after that point. The
// newer state must then never commit bytes that do not match the digest:
// ResumeWriter may refuse it (ErrConflict), Commit may refuse it
// (ErrInvalid), or the driver may have kept the newer data intact; what is
// stored under a digest always matches it.
func testStaleState(t *testing.T, h Harness) {
	head, newer := testData(40_000, 30), testData(20_000, 31)
	want := slices.Concat(head, newer)
	dgst := digest.FromBytes(want)
	tests := []struct {
		name     string
		staleLen int
	}{
		{"stale request writes less", 10_000},
		{"stale request writes as much", len(newer)},
		{"stale request writes more", 30_000},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			w, err := h.Store.NewWriter(ctx, newID())
			if err != nil {
				t.Fatalf("NewWriter: %v", err)
			}
			id := w.ID()
			defer h.Store.AbortUpload(ctx, id, nil)
			writeChunks(t, w, head, chunk)
			older := saveState(t, w)
			writeChunks(t, w, newer, chunk)
			current := saveState(t, w)
			if err := w.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			// The stale request, from the older state.
			w = resumeAt(t, h.Store, id, older, int64(len(head)))
			writeChunks(t, w, testData(tc.staleLen, uint64(40+i)), chunk)
			saveState(t, w)
			if err := w.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}

			w, err = h.Store.ResumeWriter(ctx, id, current)
			if err != nil {
				if !errors.Is(err, errdefs.ErrConflict) {
					t.Fatalf("ResumeWriter from the current state: got %v, want success or ErrConflict", err)
				}
				return
			}
			defer w.Cancel(ctx)
			_, err = w.Commit(ctx, dgst, int64(len(want)))
			switch {
			case err == nil:
				checkStored(t, h.Store, dgst, want)
			case errors.Is(err, errdefs.ErrInvalid):
				checkNotStored(t, h.Store, dgst)
			default:
				t.Fatalf("Commit from the current state: got %v, want success or ErrInvalid", err)
			}
		})
	}
}
