package oci_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/config"
	"github.com/opencontainers/go-digest"
)

// TestUploadExpiryJob runs the server's periodic expiry job with a short
// interval and checks that an abandoned session and its data go away while
// a completed blob stays. The wait is bounded; nothing is timed.
func TestUploadExpiryJob(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("waits for the background job")
	}
	c := startServer(t, func(cfg *config.Config) {
		cfg.Uploads.ExpireAfter = time.Second
		cfg.Uploads.ExpiryInterval = 100 * time.Millisecond
	})
	data := blobData(4096)
	loc := c.startUpload("exp/job")
	r := c.do("PATCH", loc, data)
	wantStatus(t, r, http.StatusAccepted)
	kept := c.pushBlob("exp/job", []byte("a finished blob"))
	if got := len(c.uploadEntries()); got != 1 {
		t.Fatalf("%d upload directories, want 1", got)
	}

	deadline := time.Now().Add(30 * time.Second)
	for {
		r = c.do("GET", loc, nil)
		if r.StatusCode == http.StatusNotFound {
			break
		}
		wantStatus(t, r, http.StatusNoContent)
		if time.Now().After(deadline) {
			t.Fatal("the upload session was not expired within 30s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	wantError(t, r, http.StatusNotFound, "BLOB_UPLOAD_UNKNOWN")
	c.wantNoUploadData()
	wantError(t, c.do("PATCH", loc, data), http.StatusNotFound, "BLOB_UPLOAD_UNKNOWN")
	d := digest.FromBytes(data)
	wantError(t, c.do("PUT", withQuery(loc, "digest="+d.String()), nil), http.StatusNotFound, "BLOB_UPLOAD_UNKNOWN")
	c.wantBlob("exp/job", kept, []byte("a finished blob"))
}
