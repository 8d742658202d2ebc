package oci_test

import (
	"bytes"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
)

// blobData returns n deterministic, non-repeating-looking bytes.
func blobData(n int) []byte {
	b := make([]byte, n)
	x := uint32(2463534242)
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x)
	}
	return b
}

func TestBlobHeadGet(t *testing.T) {
	t.Parallel()
	c := startServer(t)
	data := blobData(1000)
	d := c.pushBlob("blobs/a", data)
	etag := `"` + d.String() + `"`
	for _, m := range []string{"HEAD", "GET"} {
		t.Run(m, func(t *testing.T) {
			r := c.with(t).do(m, "/v2/blobs/a/blobs/"+d.String(), nil)
			wantStatus(t, r, http.StatusOK)
			wantHeader(t, r, "Docker-Content-Digest", d.String())
			wantHeader(t, r, "Content-Length", "1000")
			wantHeader(t, r, "Accept-Ranges", "bytes")
			wantHeader(t, r, "ETag", etag)
			wantHeader(t, r, "Docker-Distribution-API-Version", "registry/2.0")
			want := data
			if m == "HEAD" {
				want = nil
			}
			if !bytes.Equal(r.body, want) {
				t.Errorf("body is %d bytes, want %d (equal: false)", len(r.body), len(want))
			}
		})
	}
}

func TestBlobRange(t *testing.T) {
	t.Parallel()
	c := startServer(t)
	data := blobData(1000)
	d := c.pushBlob("blobs/range", data)
	path := "/v2/blobs/range/blobs/" + d.String()
	tests := []struct {
		rng          string
		status       int
		contentRange string
		want         []byte
	}{
		{"bytes=0-9", http.StatusPartialContent, "bytes 0-9/1000", data[:10]},
		{"bytes=100-199", http.StatusPartialContent, "bytes 100-199/1000", data[100:200]},
		{"bytes=999-999", http.StatusPartialContent, "bytes 999-999/1000", data[999:]},
		{"bytes=990-", http.StatusPartialContent, "bytes 990-999/1000", data[990:]},
		{"bytes=-10", http.StatusPartialContent, "bytes 990-999/1000", data[990:]},
		{"bytes=-5000", http.StatusPartialContent, "bytes 0-999/1000", data}, // suffix longer than the blob
		{"bytes=900-5000", http.StatusPartialContent, "bytes 900-999/1000", data[900:]},
		{"bytes=1000-", http.StatusRequestedRangeNotSatisfiable, "bytes */1000", nil},
		{"bytes=2000-3000", http.StatusRequestedRangeNotSatisfiable, "bytes */1000", nil},
		// Malformed: refused (RFC 9110 would also allow ignoring them).
		{"bytes=9-0", http.StatusRequestedRangeNotSatisfiable, "", nil},
		{"bytes=x-y", http.StatusRequestedRangeNotSatisfiable, "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.rng, func(t *testing.T) {
			r := c.with(t).do("GET", path, nil, "Range", tt.rng)
			wantStatus(t, r, tt.status)
			wantHeader(t, r, "Content-Range", tt.contentRange)
			if tt.want == nil {
				return
			}
			wantHeader(t, r, "Content-Length", strconv.Itoa(len(tt.want)))
			if !bytes.Equal(r.body, tt.want) {
				t.Errorf("body: %d bytes, want %d; equal false", len(r.body), len(tt.want))
			}
		})
	}
}

func TestBlobConditional(t *testing.T) {
	t.Parallel()
	c := startServer(t)
	d := c.pushBlob("blobs/cond", []byte("conditional content"))
	path := "/v2/blobs/cond/blobs/" + d.String()
	etag := `"` + d.String() + `"`
	tests := []struct {
		method, match string
		status        int
	}{
		{"GET", etag, http.StatusNotModified},
		{"GET", `"sha256:0000", ` + etag, http.StatusNotModified},
		{"GET", "*", http.StatusNotModified},
		{"GET", `"something-else"`, http.StatusOK},
		{"HEAD", etag, http.StatusNotModified},
		{"HEAD", `"something-else"`, http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.match, func(t *testing.T) {
			r := c.with(t).do(tt.method, path, nil, "If-None-Match", tt.match)
			wantStatus(t, r, tt.status)
			wantHeader(t, r, "ETag", etag)
			if tt.status == http.StatusNotModified && len(r.body) != 0 {
				t.Errorf("304 with a body: %q", r.body)
			}
		})
	}
}

// TestBlobNotInRepository checks that a blob is served only by the
// repositories it was pushed or mounted to: knowing a digest is not enough.
func TestBlobNotInRepository(t *testing.T) {
	t.Parallel()
	c := startServer(t)
	d := c.pushBlob("owner/private", []byte("secret layer"))
	c.pushBlob("other/existing", []byte("something else"))
	unknown := digest.FromString("never pushed")
	tests := []struct {
		label, repo string
		dgst        digest.Digest
	}{
		{"existing repository without the blob", "other/existing", d},
		{"repository that does not exist", "nobody/here", d},
		{"unknown digest", "owner/private", unknown},
		{"sha512 of nothing pushed", "owner/private", digest.SHA512.FromString("x")},
	}
	for _, tt := range tests {
		t.Run(tt.label, func(t *testing.T) {
			for _, m := range []string{"GET", "HEAD"} {
				r := c.with(t).do(m, "/v2/"+tt.repo+"/blobs/"+tt.dgst.String(), nil)
				wantError(t, r, http.StatusNotFound, "BLOB_UNKNOWN")
				if got := r.Header.Get("Docker-Content-Digest"); got != "" {
					t.Errorf("%s: Docker-Content-Digest %q on a 404", m, got)
				}
			}
		})
	}
}

func TestBlobMalformedDigest(t *testing.T) {
	t.Parallel()
	c := startServer(t)
	c.pushBlob("blobs/bad", []byte("x"))
	for _, d := range []string{
		"sha256:xyz",
		"sha256:" + strings.Repeat("A", 64),
		"sha256:" + strings.Repeat("0", 63),
		"md5:d41d8cd98f00b204e9800998ecf8427e",
		"notadigest",
		"sha256",
	} {
		t.Run(d, func(t *testing.T) {
			for _, m := range []string{"GET", "HEAD", "DELETE"} {
				r := c.with(t).do(m, "/v2/blobs/bad/blobs/"+d, nil)
				wantError(t, r, http.StatusBadRequest, "DIGEST_INVALID")
			}
		})
	}
}

func TestBlobDelete(t *testing.T) {
	t.Parallel()
	c := startServer(t)
	img := c.pushImage("blobs/del", "v1", "delete")
	loose := c.pushBlob("blobs/del", []byte("not referenced by anything"))
	// The same content held by another repository must survive the delete.
	c.pushBlob("blobs/keep", []byte("not referenced by anything"))
	cfg := digest.FromBytes(img.config)

	t.Run("referenced by a manifest", func(t *testing.T) {
		r := c.with(t).do("DELETE", "/v2/blobs/del/blobs/"+cfg.String(), nil)
		msg := wantError(t, r, http.StatusConflict, "DENIED")
		if !strings.Contains(msg, img.digest.String()) {
			t.Errorf("message %q does not name the manifest %s", msg, img.digest)
		}
		wantStatus(t, c.with(t).do("HEAD", "/v2/blobs/del/blobs/"+cfg.String(), nil), http.StatusOK)
	})
	t.Run("unreferenced", func(t *testing.T) {
		path := "/v2/blobs/del/blobs/" + loose.String()
		wantStatus(t, c.with(t).do("DELETE", path, nil), http.StatusAccepted)
		wantError(t, c.with(t).do("HEAD", path, nil), http.StatusNotFound, "BLOB_UNKNOWN")
		wantError(t, c.with(t).do("GET", path, nil), http.StatusNotFound, "BLOB_UNKNOWN")
		wantError(t, c.with(t).do("DELETE", path, nil), http.StatusNotFound, "BLOB_UNKNOWN")
		r := c.with(t).do("GET", "/v2/blobs/keep/blobs/"+loose.String(), nil)
		wantStatus(t, r, http.StatusOK)
	})
	t.Run("after the manifest is deleted", func(t *testing.T) {
		wantStatus(t, c.with(t).do("DELETE", "/v2/blobs/del/manifests/"+img.digest.String(), nil), http.StatusAccepted)
		path := "/v2/blobs/del/blobs/" + cfg.String()
		wantStatus(t, c.with(t).do("DELETE", path, nil), http.StatusAccepted)
		wantError(t, c.with(t).do("GET", path, nil), http.StatusNotFound, "BLOB_UNKNOWN")
	})
	t.Run("unknown repository", func(t *testing.T) {
		r := c.with(t).do("DELETE", "/v2/nobody/blobs/"+loose.String(), nil)
		wantError(t, r, http.StatusNotFound, "BLOB_UNKNOWN")
	})
}
