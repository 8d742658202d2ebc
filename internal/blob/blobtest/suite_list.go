package blobtest

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/blob"
	"github.com/opencontainers/go-digest"
)

// testListUploads holds a driver that offers blob.UploadLister to listing
// exactly the uploads that hold data: open or closed ones, not committed,
// cancelled or aborted ones.
func testListUploads(t *testing.T, h Harness) {
	l, ok := h.Store.(blob.UploadLister)
	if !ok {
		t.Skip("driver does not implement blob.UploadLister")
	}
	ctx := context.Background()
	list := func() []string {
		t.Helper()
		var ids []string
		err := l.ListUploads(ctx, func(id string, mod time.Time) error {
			if mod.IsZero() || time.Since(mod) > time.Hour {
				t.Errorf("upload %s: modification time %v is not recent", id, mod)
			}
			ids = append(ids, id)
			return nil
		})
		if err != nil {
			t.Fatalf("ListUploads: %v", err)
		}
		slices.Sort(ids)
		return ids
	}
	if got := list(); len(got) != 0 {
		t.Fatalf("empty store lists uploads %v", got)
	}
	open := func(p []byte) (blob.Writer, string) {
		id := newID()
		w, err := h.Store.NewWriter(ctx, id)
		if err != nil {
			t.Fatalf("NewWriter: %v", err)
		}
		writeChunks(t, w, p, chunk)
		return w, id
	}
	p := testData(3*chunk, 7)
	wOpen, idOpen := open(p)
	wClosed, idClosed := open(p)
	if err := wClosed.Close(); err != nil {
		t.Fatal(err)
	}
	wDone, _ := open(p)
	if _, err := wDone.Commit(ctx, digest.FromBytes(p), int64(len(p))); err != nil {
		t.Fatal(err)
	}
	wCancelled, _ := open(p)
	if err := wCancelled.Cancel(ctx); err != nil {
		t.Fatal(err)
	}
	want := []string{idOpen, idClosed}
	slices.Sort(want)
	if got := list(); !slices.Equal(got, want) {
		t.Errorf("ListUploads = %v, want the open and the closed upload %v", got, want)
	}
	if err := h.Store.AbortUpload(ctx, idClosed, nil); err != nil {
		t.Fatal(err)
	}
	if err := wOpen.Cancel(ctx); err != nil {
		t.Fatal(err)
	}
	if got := list(); len(got) != 0 {
		t.Errorf("after abort and cancel, ListUploads = %v, want none", got)
	}
}
