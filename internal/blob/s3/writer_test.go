package s3

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"

	"github.com/berth-registry/berth/internal/errdefs"
)

// TestWriterRules covers the writer's promises that the conformance suite
// does not reach: ReadFrom (what io.Copy uses) honours the writer's
// context, State refuses unflushed data, a finished writer refuses work,
// and an upload that would need more than S3's 10,000 parts is
// ErrTooLarge.
func TestWriterRules(t *testing.T) {
	s, _ := newTestStore(t, Options{PartSize: MinPartSize})
	tests := []struct {
		name string
		// run does something with a fresh writer opened with ctx and
		// returns the error to check; cancel cancels ctx.
		run  func(ctx context.Context, cancel context.CancelFunc, w *writer) error
		want error
	}{
		{"ReadFrom after the context is done", func(ctx context.Context, cancel context.CancelFunc, w *writer) error {
			cancel()
			_, err := io.Copy(w, bytes.NewReader(make([]byte, 100_000)))
			return err
		}, context.Canceled},
		{"State before Flush", func(ctx context.Context, cancel context.CancelFunc, w *writer) error {
			writeAll(t, w, []byte("unflushed"), 100)
			_, err := w.State()
			return err
		}, errdefs.ErrConflict},
		{"Write after Close", func(ctx context.Context, cancel context.CancelFunc, w *writer) error {
			mustDo(t, "Close", w.Close())
			_, err := w.Write([]byte("late"))
			return err
		}, errdefs.ErrConflict},
		{"Flush after Close", func(ctx context.Context, cancel context.CancelFunc, w *writer) error {
			mustDo(t, "Close", w.Close())
			return w.Flush(ctx)
		}, errdefs.ErrConflict},
		{"more than 10,000 parts", func(ctx context.Context, cancel context.CancelFunc, w *writer) error {
			w.st.Parts = make([]part, maxParts) // as if they were uploaded
			_, err := w.Write(make([]byte, MinPartSize+1))
			return err
		}, errdefs.ErrTooLarge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			bw, err := s.NewWriter(ctx, newUploadID())
			if err != nil {
				t.Fatalf("NewWriter: %v", err)
			}
			w := bw.(*writer)
			err = tc.run(ctx, cancel, w)
			if !errors.Is(err, tc.want) {
				t.Errorf("got %v, want an error of class %v", err, tc.want)
			}
			if err := s.AbortUpload(context.Background(), w.id, nil); err != nil {
				t.Fatalf("AbortUpload: %v", err)
			}
		})
	}
	if left := leftovers(t, s); len(left) != 0 {
		t.Errorf("leftovers: %q", left)
	}
}
