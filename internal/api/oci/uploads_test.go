package oci_test

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/berthtest"
	"github.com/berth-registry/berth/internal/config"
	"github.com/google/go-cmp/cmp"
	"github.com/opencontainers/go-digest"
)

var uploadLocation = regexp.MustCompile(`^/v2/([a-z0-9/._-]+)/blobs/uploads/([A-Za-z0-9-]+)$`)

// wantUploadHeaders checks what every upload session response carries and
// returns the Location.
func wantUploadHeaders(t testing.TB, r *response, repo, rng string) string {
	t.Helper()
	loc := r.Header.Get("Location")
	m := uploadLocation.FindStringSubmatch(loc)
	if m == nil || m[1] != repo {
		t.Fatalf("Location %q is not an upload URL of %s", loc, repo)
	}
	wantHeader(t, r, "Docker-Upload-UUID", m[2])
	wantHeader(t, r, "Range", rng)
	return loc
}

// uploadEntries lists the upload directories the blob store holds.
func (c *client) uploadEntries() []string {
	c.t.Helper()
	root, err := c.srv.Config.StoragePath()
	if err != nil {
		c.t.Fatal(err)
	}
	entries, err := os.ReadDir(filepath.Join(root, "uploads"))
	if err != nil {
		c.t.Fatalf("read uploads directory: %v", err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// wantNoUploadData fails if the blob store holds any upload data.
func (c *client) wantNoUploadData() {
	c.t.Helper()
	if got := c.uploadEntries(); len(got) != 0 {
		c.t.Errorf("upload data left in the blob store: %q", got)
	}
}

// wantNoUploadDataFor fails if the blob store holds data for the upload
// session at loc.
func (c *client) wantNoUploadDataFor(loc string) {
	c.t.Helper()
	id := uploadLocation.FindStringSubmatch(loc)[2]
	if slices.Contains(c.uploadEntries(), id) {
		c.t.Errorf("upload %s still has data in the blob store", id)
	}
}

// wantBlob fails unless repo serves exactly data under d.
func (c *client) wantBlob(repo string, d digest.Digest, data []byte) {
	c.t.Helper()
	r := c.do("GET", "/v2/"+repo+"/blobs/"+d.String(), nil)
	wantStatus(c.t, r, http.StatusOK)
	if !bytes.Equal(r.body, data) {
		c.t.Errorf("blob %s: got %d bytes, want %d (equal false)", d, len(r.body), len(data))
	}
	wantHeader(c.t, r, "Docker-Content-Digest", d.String())
}

// withQuery appends a query to a Location that may already have one.
func withQuery(loc, q string) string {
	if strings.Contains(loc, "?") {
		return loc + "&" + q
	}
	return loc + "?" + q
}

func TestUploadChunked(t *testing.T) {
	t.Parallel()
	c := startServer(t)
	const repo = "up/chunked"
	data := blobData(300)
	d := digest.FromBytes(data)

	r := c.do("POST", "/v2/"+repo+"/blobs/uploads/", nil)
	wantStatus(t, r, http.StatusAccepted)
	loc := wantUploadHeaders(t, r, repo, "0-0")
	wantHeader(t, r, "Content-Length", "0")

	chunks := []struct {
		from, to int // inclusive
	}{{0, 99}, {100, 249}}
	for _, ch := range chunks {
		r = c.do("PATCH", loc, data[ch.from:ch.to+1],
			"Content-Type", "application/octet-stream",
			"Content-Range", fmt.Sprintf("%d-%d", ch.from, ch.to))
		wantStatus(t, r, http.StatusAccepted)
		loc = wantUploadHeaders(t, r, repo, fmt.Sprintf("0-%d", ch.to))
	}

	r = c.do("GET", loc, nil)
	wantStatus(t, r, http.StatusNoContent)
	wantUploadHeaders(t, r, repo, "0-249")

	r = c.do("PUT", withQuery(loc, "digest="+d.String()), data[250:],
		"Content-Type", "application/octet-stream", "Content-Range", "250-299")
	wantStatus(t, r, http.StatusCreated)
	wantHeader(t, r, "Location", "/v2/"+repo+"/blobs/"+d.String())
	wantHeader(t, r, "Docker-Content-Digest", d.String())
	c.wantBlob(repo, d, data)

	wantError(t, c.do("GET", loc, nil), http.StatusNotFound, "BLOB_UPLOAD_UNKNOWN")
	wantError(t, c.do("PATCH", loc, []byte("x")), http.StatusNotFound, "BLOB_UPLOAD_UNKNOWN")
	c.wantNoUploadData()
}

func TestUploadRangeMismatch(t *testing.T) {
	t.Parallel()
	c := startServer(t)
	const repo = "up/range"
	data := blobData(300)
	loc := c.startUpload(repo)
	r := c.do("PATCH", loc, data[:100], "Content-Range", "0-99")
	wantStatus(t, r, http.StatusAccepted)

	tests := []struct {
		label, contentRange string
		body                []byte
		code                string
	}{
		{"gap after the held bytes", "200-299", data[200:], "BLOB_UPLOAD_INVALID"},
		{"chunk sent again", "0-99", data[:100], "BLOB_UPLOAD_INVALID"},
		{"overlaps the held bytes", "50-149", data[50:150], "BLOB_UPLOAD_INVALID"},
		{"length does not match the range", "100-199", data[100:150], "BLOB_UPLOAD_INVALID"},
		{"longer than the range", "100-109", data[100:150], "BLOB_UPLOAD_INVALID"},
		{"malformed range", "abc", data[100:150], "BLOB_UPLOAD_INVALID"},
		{"end before start", "150-100", data[100:150], "BLOB_UPLOAD_INVALID"},
	}
	for _, tt := range tests {
		t.Run(tt.label, func(t *testing.T) {
			r := c.with(t).do("PATCH", loc, tt.body, "Content-Range", tt.contentRange)
			wantError(t, r, http.StatusRequestedRangeNotSatisfiable, tt.code)
			// Where to resume is never lost.
			r = c.with(t).do("GET", loc, nil)
			wantStatus(t, r, http.StatusNoContent)
			wantUploadHeaders(t, r, repo, "0-99")
		})
	}
	t.Run("refusal says where to resume", func(t *testing.T) {
		r := c.with(t).do("PATCH", loc, data[200:], "Content-Range", "200-299")
		wantError(t, r, http.StatusRequestedRangeNotSatisfiable, "BLOB_UPLOAD_INVALID")
		wantUploadHeaders(t, r, repo, "0-99")
	})
	t.Run("resume completes with the right digest", func(t *testing.T) {
		c := c.with(t)
		r := c.do("PATCH", loc, data[100:], "Content-Range", "100-299")
		wantStatus(t, r, http.StatusAccepted)
		d := digest.FromBytes(data)
		wantStatus(t, c.do("PUT", withQuery(loc, "digest="+d.String()), nil), http.StatusCreated)
		c.wantBlob(repo, d, data)
	})
}

// TestUploadSameChunkConcurrently sends one chunk twice at once: exactly
// one is taken, the other is told where the upload stands.
func TestUploadSameChunkConcurrently(t *testing.T) {
	t.Parallel()
	c := startServer(t)
	data := blobData(64 << 10)
	loc := c.startUpload("up/race")
	const n = 4
	statuses := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			req, _ := http.NewRequest("PATCH", c.url(loc), bytes.NewReader(data))
			req.Header.Set("Content-Range", fmt.Sprintf("0-%d", len(data)-1))
			resp, err := c.hc.Do(req)
			if err != nil {
				t.Errorf("PATCH: %v", err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			statuses[i] = resp.StatusCode
		})
	}
	wg.Wait()
	counts := map[int]int{}
	for _, s := range statuses {
		counts[s]++
	}
	if diff := cmp.Diff(map[int]int{http.StatusAccepted: 1, http.StatusRequestedRangeNotSatisfiable: n - 1}, counts); diff != "" {
		t.Errorf("statuses (-want +got):\n%s", diff)
	}
	d := digest.FromBytes(data)
	wantStatus(t, c.do("PUT", withQuery(loc, "digest="+d.String()), nil), http.StatusCreated)
	c.wantBlob("up/race", d, data)
}

// TestUploadStreamed appends PATCH bodies without Content-Range, with and
// without a Content-Length.
func TestUploadStreamed(t *testing.T) {
	t.Parallel()
	c := startServer(t)
	const repo = "up/stream"
	data := blobData(5000)
	loc := c.startUpload(repo)

	r := c.do("PATCH", loc, data[:1000], "Content-Type", "application/octet-stream")
	wantStatus(t, r, http.StatusAccepted)
	loc = wantUploadHeaders(t, r, repo, "0-999")

	// Chunked transfer encoding: the length is not known up front.
	req, err := http.NewRequest("PATCH", c.url(loc), io.MultiReader(bytes.NewReader(data[1000:3000])))
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = -1
	r = c.send(req)
	wantStatus(t, r, http.StatusAccepted)
	loc = wantUploadHeaders(t, r, repo, "0-2999")

	// The rest comes with the PUT, without Content-Range.
	d := digest.FromBytes(data)
	r = c.do("PUT", withQuery(loc, "digest="+d.String()), data[3000:], "Content-Type", "application/octet-stream")
	wantStatus(t, r, http.StatusCreated)
	c.wantBlob(repo, d, data)
	c.wantNoUploadData()
}

func TestUploadCompleteRefused(t *testing.T) {
	t.Parallel()
	c := startServer(t)
	data := []byte("the content of the blob")
	d := digest.FromBytes(data)
	wrong := digest.FromString("other content")

	t.Run("without digest", func(t *testing.T) {
		c := c.with(t)
		loc := c.startUpload("up/complete")
		wantStatus(t, c.do("PATCH", loc, data), http.StatusAccepted)
		wantError(t, c.do("PUT", loc, nil), http.StatusBadRequest, "DIGEST_INVALID")
		wantError(t, c.do("PUT", withQuery(loc, "digest="), nil), http.StatusBadRequest, "DIGEST_INVALID")
		// The session is still usable.
		r := c.do("GET", loc, nil)
		wantStatus(t, r, http.StatusNoContent)
		wantHeader(t, r, "Range", fmt.Sprintf("0-%d", len(data)-1))
	})
	t.Run("malformed digest", func(t *testing.T) {
		c := c.with(t)
		loc := c.startUpload("up/complete")
		wantStatus(t, c.do("PATCH", loc, data), http.StatusAccepted)
		for _, bad := range []string{"sha256:xyz", "md5:d41d8cd98f00b204e9800998ecf8427e", "nope"} {
			wantError(t, c.do("PUT", withQuery(loc, "digest="+bad), nil), http.StatusBadRequest, "DIGEST_INVALID")
		}
	})
	t.Run("wrong digest", func(t *testing.T) {
		c := c.with(t)
		loc := c.startUpload("up/wrong")
		wantStatus(t, c.do("PATCH", loc, data), http.StatusAccepted)
		msg := wantError(t, c.do("PUT", withQuery(loc, "digest="+wrong.String()), nil), http.StatusBadRequest, "DIGEST_INVALID")
		if !strings.Contains(msg, wrong.String()) {
			t.Errorf("message %q does not name the digest given", msg)
		}
		wantError(t, c.do("GET", loc, nil), http.StatusNotFound, "BLOB_UPLOAD_UNKNOWN")
		wantError(t, c.do("PUT", withQuery(loc, "digest="+d.String()), nil), http.StatusNotFound, "BLOB_UPLOAD_UNKNOWN")
		for _, dg := range []digest.Digest{wrong, d} {
			wantError(t, c.do("HEAD", "/v2/up/wrong/blobs/"+dg.String(), nil), http.StatusNotFound, "BLOB_UNKNOWN")
		}
		c.wantNoUploadDataFor(loc)
	})
	t.Run("wrong digest with the last chunk", func(t *testing.T) {
		c := c.with(t)
		loc := c.startUpload("up/wrong2")
		wantError(t, c.do("PUT", withQuery(loc, "digest="+wrong.String()), data), http.StatusBadRequest, "DIGEST_INVALID")
		wantError(t, c.do("GET", loc, nil), http.StatusNotFound, "BLOB_UPLOAD_UNKNOWN")
		wantError(t, c.do("HEAD", "/v2/up/wrong2/blobs/"+d.String(), nil), http.StatusNotFound, "BLOB_UNKNOWN")
	})
}

func TestUploadComplete(t *testing.T) {
	t.Parallel()
	c := startServer(t)
	data := []byte("the content of the blob")
	d := digest.FromBytes(data)
	t.Run("zero bytes", func(t *testing.T) {
		c := c.with(t)
		empty := digest.FromBytes(nil)
		loc := c.startUpload("up/empty")
		r := c.do("PUT", withQuery(loc, "digest="+empty.String()), nil)
		wantStatus(t, r, http.StatusCreated)
		wantHeader(t, r, "Docker-Content-Digest", empty.String())
		r = c.do("HEAD", "/v2/up/empty/blobs/"+empty.String(), nil)
		wantStatus(t, r, http.StatusOK)
		wantHeader(t, r, "Content-Length", "0")
		c.wantBlob("up/empty", empty, []byte{})
	})
	t.Run("content already stored", func(t *testing.T) {
		c := c.with(t)
		c.pushBlob("up/first", data)
		loc := c.startUpload("up/second")
		wantStatus(t, c.do("PUT", withQuery(loc, "digest="+d.String()), data), http.StatusCreated)
		c.wantBlob("up/second", d, data)
		c.wantBlob("up/first", d, data)
	})
	t.Run("sha512", func(t *testing.T) {
		c := c.with(t)
		big := blobData(100_000)
		d512 := digest.SHA512.FromBytes(big)
		loc := c.startUpload("up/sha512")
		r := c.do("PATCH", loc, big[:40_000], "Content-Range", "0-39999")
		wantStatus(t, r, http.StatusAccepted)
		loc = r.Header.Get("Location")
		r = c.do("PUT", withQuery(loc, "digest="+d512.String()), big[40_000:], "Content-Range", "40000-99999")
		wantStatus(t, r, http.StatusCreated)
		wantHeader(t, r, "Docker-Content-Digest", d512.String())
		c.wantBlob("up/sha512", d512, big)
		// The same content is not known under its sha256.
		wantError(t, c.do("HEAD", "/v2/up/sha512/blobs/"+digest.FromBytes(big).String(), nil), http.StatusNotFound, "BLOB_UNKNOWN")
	})
	t.Run("wrong sha512", func(t *testing.T) {
		c := c.with(t)
		loc := c.startUpload("up/sha512")
		bad := digest.SHA512.FromString("something else")
		wantError(t, c.do("PUT", withQuery(loc, "digest="+bad.String()), data), http.StatusBadRequest, "DIGEST_INVALID")
		wantError(t, c.do("HEAD", "/v2/up/sha512/blobs/"+bad.String(), nil), http.StatusNotFound, "BLOB_UNKNOWN")
	})
}

func TestUploadMonolithic(t *testing.T) {
	t.Parallel()
	c := startServer(t)
	data := blobData(70_000)
	tests := []struct {
		label string
		dgst  digest.Digest
		body  []byte
	}{
		{"sha256", digest.FromBytes(data), data},
		{"sha512", digest.SHA512.FromBytes(data), data},
		{"zero bytes", digest.FromBytes(nil), []byte{}},
		{"zero bytes sha512", digest.SHA512.FromBytes(nil), []byte{}},
	}
	for _, tt := range tests {
		t.Run(tt.label, func(t *testing.T) {
			c := c.with(t)
			r := c.do("POST", "/v2/up/mono/blobs/uploads/?digest="+tt.dgst.String(), tt.body,
				"Content-Type", "application/octet-stream")
			wantStatus(t, r, http.StatusCreated)
			wantHeader(t, r, "Location", "/v2/up/mono/blobs/"+tt.dgst.String())
			wantHeader(t, r, "Docker-Content-Digest", tt.dgst.String())
			c.wantBlob("up/mono", tt.dgst, tt.body)
		})
	}
	t.Run("wrong digest", func(t *testing.T) {
		c := c.with(t)
		wrong := digest.FromString("not this")
		r := c.do("POST", "/v2/up/mono2/blobs/uploads/?digest="+wrong.String(), data)
		wantError(t, r, http.StatusBadRequest, "DIGEST_INVALID")
		wantError(t, c.do("HEAD", "/v2/up/mono2/blobs/"+wrong.String(), nil), http.StatusNotFound, "BLOB_UNKNOWN")
		wantError(t, c.do("HEAD", "/v2/up/mono2/blobs/"+digest.FromBytes(data).String(), nil), http.StatusNotFound, "BLOB_UNKNOWN")
		c.wantNoUploadData()
	})
	t.Run("malformed digest", func(t *testing.T) {
		r := c.with(t).do("POST", "/v2/up/mono2/blobs/uploads/?digest=sha256:nothex", data)
		wantError(t, r, http.StatusBadRequest, "DIGEST_INVALID")
	})
}

// TestUploadWrongRepository checks that an upload session is reachable only
// through the repository it was opened in.
func TestUploadWrongRepository(t *testing.T) {
	t.Parallel()
	c := startServer(t)
	data := []byte("data of repository a")
	d := digest.FromBytes(data)
	locA := c.startUpload("repo/a")
	wantStatus(t, c.do("PATCH", locA, data[:5], "Content-Range", "0-4"), http.StatusAccepted)
	c.startUpload("repo/b") // b exists too
	id := uploadLocation.FindStringSubmatch(locA)[2]

	for _, other := range []string{"repo/b", "repo/never"} {
		loc := "/v2/" + other + "/blobs/uploads/" + id
		tests := []struct {
			method, path string
			body         []byte
			hdr          []string
		}{
			{"GET", loc, nil, nil},
			{"PATCH", loc, data[5:], []string{"Content-Range", fmt.Sprintf("5-%d", len(data)-1)}},
			{"PUT", withQuery(loc, "digest="+d.String()), data[5:], nil},
			{"DELETE", loc, nil, nil},
		}
		for _, tt := range tests {
			t.Run(other+"/"+tt.method, func(t *testing.T) {
				r := c.with(t).do(tt.method, tt.path, tt.body, tt.hdr...)
				wantError(t, r, http.StatusNotFound, "BLOB_UPLOAD_UNKNOWN")
			})
		}
	}
	// Repository a's session is intact and completes.
	r := c.do("GET", locA, nil)
	wantStatus(t, r, http.StatusNoContent)
	wantHeader(t, r, "Range", "0-4")
	wantStatus(t, c.do("PUT", withQuery(locA, "digest="+d.String()), data[5:]), http.StatusCreated)
	c.wantBlob("repo/a", d, data)
	wantError(t, c.do("HEAD", "/v2/repo/b/blobs/"+d.String(), nil), http.StatusNotFound, "BLOB_UNKNOWN")
}

func TestUploadUnknownID(t *testing.T) {
	t.Parallel()
	c := startServer(t)
	c.startUpload("up/unknown")
	for _, id := range []string{"00000000-0000-0000-0000-000000000000", "not-a-session", "x"} {
		loc := "/v2/up/unknown/blobs/uploads/" + id
		for _, m := range []string{"GET", "PATCH", "DELETE"} {
			t.Run(id+"/"+m, func(t *testing.T) {
				wantError(t, c.with(t).do(m, loc, []byte("abc")), http.StatusNotFound, "BLOB_UPLOAD_UNKNOWN")
			})
		}
		t.Run(id+"/PUT", func(t *testing.T) {
			r := c.with(t).do("PUT", withQuery(loc, "digest="+digest.FromString("abc").String()), []byte("abc"))
			wantError(t, r, http.StatusNotFound, "BLOB_UPLOAD_UNKNOWN")
		})
	}
}

func TestUploadCancel(t *testing.T) {
	t.Parallel()
	c := startServer(t)
	data := blobData(10_000)
	loc := c.startUpload("up/cancel")
	wantStatus(t, c.do("PATCH", loc, data), http.StatusAccepted)
	if got := len(c.uploadEntries()); got != 1 {
		t.Fatalf("%d upload directories before cancel, want 1", got)
	}
	r := c.do("DELETE", loc, nil)
	wantStatus(t, r, http.StatusNoContent)
	wantError(t, c.do("GET", loc, nil), http.StatusNotFound, "BLOB_UPLOAD_UNKNOWN")
	wantError(t, c.do("PATCH", loc, data), http.StatusNotFound, "BLOB_UPLOAD_UNKNOWN")
	wantError(t, c.do("DELETE", loc, nil), http.StatusNotFound, "BLOB_UPLOAD_UNKNOWN")
	d := digest.FromBytes(data)
	wantError(t, c.do("PUT", withQuery(loc, "digest="+d.String()), nil), http.StatusNotFound, "BLOB_UPLOAD_UNKNOWN")
	wantError(t, c.do("HEAD", "/v2/up/cancel/blobs/"+d.String(), nil), http.StatusNotFound, "BLOB_UNKNOWN")
	c.wantNoUploadDataFor(loc)
	c.wantNoUploadData()
}

func TestUploadSizeLimit(t *testing.T) {
	t.Parallel()
	const limit = 1000
	c := startServer(t, func(cfg *config.Config) { cfg.HTTP.MaxBlobBytes = limit })
	over := blobData(limit + 1)
	exact := blobData(limit)

	t.Run("monolithic over the limit", func(t *testing.T) {
		c := c.with(t)
		d := digest.FromBytes(over)
		r := c.do("POST", "/v2/up/limit/blobs/uploads/?digest="+d.String(), over)
		wantError(t, r, http.StatusRequestEntityTooLarge, "SIZE_INVALID")
		wantError(t, c.do("HEAD", "/v2/up/limit/blobs/"+d.String(), nil), http.StatusNotFound, "BLOB_UNKNOWN")
		c.wantNoUploadData()
	})
	t.Run("monolithic at the limit", func(t *testing.T) {
		c := c.with(t)
		d := c.pushBlob("up/limit", exact)
		c.wantBlob("up/limit", d, exact)
	})
	t.Run("last chunk over the limit", func(t *testing.T) {
		c := c.with(t)
		loc := c.startUpload("up/limit")
		d := digest.FromBytes(over)
		r := c.do("PUT", withQuery(loc, "digest="+d.String()), over)
		wantError(t, r, http.StatusRequestEntityTooLarge, "SIZE_INVALID")
		wantError(t, c.do("HEAD", "/v2/up/limit/blobs/"+d.String(), nil), http.StatusNotFound, "BLOB_UNKNOWN")
		// Completing again without a body must not store what was refused.
		r = c.do("PUT", withQuery(loc, "digest="+d.String()), nil)
		if r.StatusCode == http.StatusCreated {
			t.Fatalf("after a last chunk refused with 413, a PUT without body commits the %d-byte blob over the %d-byte limit",
				len(over), limit)
		}
		wantError(t, c.do("HEAD", "/v2/up/limit/blobs/"+d.String(), nil), http.StatusNotFound, "BLOB_UNKNOWN")
	})
	t.Run("chunks that add up to more than the limit", func(t *testing.T) {
		c := c.with(t)
		loc := c.startUpload("up/limit")
		r := c.do("PATCH", loc, over[:600], "Content-Range", "0-599")
		wantStatus(t, r, http.StatusAccepted)
		r = c.do("PATCH", loc, over[600:], "Content-Range", fmt.Sprintf("600-%d", limit))
		wantError(t, r, http.StatusRequestEntityTooLarge, "SIZE_INVALID")
		r = c.do("GET", loc, nil)
		if r.StatusCode == http.StatusNoContent {
			if got := r.Header.Get("Range"); got != "0-599" {
				t.Fatalf("a PATCH refused with 413 still stored its bytes (session Range %s, limit %d bytes); "+
					"a PUT then commits a blob over http.max_blob_bytes", got, limit)
			}
		}
		d := digest.FromBytes(over)
		r = c.do("PUT", withQuery(loc, "digest="+d.String()), nil)
		if r.StatusCode < 400 {
			t.Errorf("PUT completed a %d-byte blob over the %d-byte limit: %d", len(over), limit, r.StatusCode)
		}
		wantError(t, c.do("HEAD", "/v2/up/limit/blobs/"+d.String(), nil), http.StatusNotFound, "BLOB_UNKNOWN")
	})
	t.Run("streamed over the limit", func(t *testing.T) {
		c := c.with(t)
		loc := c.startUpload("up/limit")
		r := c.do("PATCH", loc, over)
		wantError(t, r, http.StatusRequestEntityTooLarge, "SIZE_INVALID")
		d := digest.FromBytes(over)
		r = c.do("PUT", withQuery(loc, "digest="+d.String()), nil)
		if r.StatusCode < 400 {
			t.Fatalf("after a streamed PATCH refused with 413, PUT commits the %d-byte blob over the %d-byte limit (status %d)",
				len(over), limit, r.StatusCode)
		}
		wantError(t, c.do("HEAD", "/v2/up/limit/blobs/"+d.String(), nil), http.StatusNotFound, "BLOB_UNKNOWN")
	})
}

// TestUploadClientDisconnect sends part of a PATCH body over a raw TCP
// connection and hangs up: what arrived is kept, and the client can ask
// where to resume and finish the upload.
func TestUploadClientDisconnect(t *testing.T) {
	t.Parallel()
	c := startServer(t)
	data := blobData(256 << 10)
	const sent = 100_000
	for _, withRange := range []bool{false, true} {
		t.Run("Content-Range "+strconv.FormatBool(withRange), func(t *testing.T) {
			c := c.with(t)
			loc := c.startUpload("up/disconnect")
			auth := base64.StdEncoding.EncodeToString([]byte(berthtest.AdminUser + ":" + berthtest.AdminPassword))
			hdr := fmt.Sprintf("PATCH %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Basic %s\r\nContent-Type: application/octet-stream\r\nContent-Length: %d\r\n",
				loc, c.srv.Addr, auth, len(data))
			if withRange {
				hdr += fmt.Sprintf("Content-Range: 0-%d\r\n", len(data)-1)
			}
			status := sendPartial(t, c.srv.Addr, []byte(hdr+"\r\n"), data[:sent])
			t.Logf("answer to the cut request: %q", status)

			r := c.do("GET", loc, nil)
			wantStatus(t, r, http.StatusNoContent)
			if got, want := r.Header.Get("Range"), fmt.Sprintf("0-%d", sent-1); got != want {
				t.Fatalf("after the disconnect the upload holds %s, want %s", got, want)
			}
			r = c.do("PATCH", loc, data[sent:], "Content-Range", fmt.Sprintf("%d-%d", sent, len(data)-1))
			wantStatus(t, r, http.StatusAccepted)
			d := digest.FromBytes(data)
			wantStatus(t, c.do("PUT", withQuery(r.Header.Get("Location"), "digest="+d.String()), nil), http.StatusCreated)
			c.wantBlob("up/disconnect", d, data)
		})
	}
}

// sendPartial writes head and then body on a new connection to addr, ends
// its side of the connection before the body is complete, and returns the
// status line the server answers with, if any. Once the server has answered
// (or closed the connection) the request has been handled.
func sendPartial(t *testing.T, addr string, head, body []byte) string {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write(head); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Write(body); err != nil {
		t.Fatal(err)
	}
	if err := conn.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	// Bound the wait so a server that never answers fails the test
	// instead of hanging it.
	_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	answer, err := io.ReadAll(conn)
	if err != nil {
		t.Fatalf("waiting for the server to finish the cut request: %v", err)
	}
	line, _, _ := strings.Cut(string(answer), "\r\n")
	return line
}

// TestStorageFailureDoesNotLeak breaks an upload's data file behind the
// server's back: the client gets a 5xx that does not reveal the server's
// file system layout.
func TestStorageFailureDoesNotLeak(t *testing.T) {
	t.Parallel()
	c := startServer(t)
	loc := c.startUpload("leak/a")
	wantStatus(t, c.do("PATCH", loc, []byte("abc")), http.StatusAccepted)
	root, err := c.srv.Config.StoragePath()
	if err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(root, "uploads", uploadLocation.FindStringSubmatch(loc)[2], "data")
	if err := os.Remove(data); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(data, 0o755); err != nil {
		t.Fatal(err)
	}
	d := digest.FromString("abcdef")
	for _, r := range []*response{
		c.do("PATCH", loc, []byte("def")),
		c.do("PUT", withQuery(loc, "digest="+d.String()), []byte("def")),
	} {
		if r.StatusCode < 500 {
			t.Errorf("%s with broken storage: status %d, want a 5xx", r.Request.Method, r.StatusCode)
		}
		msg := errorBody(t, r).Errors[0].Message
		if strings.Contains(msg, root) || strings.Contains(msg, "/uploads/") {
			t.Fatalf("a %d %s error message reveals server paths: %q", r.StatusCode, errorBody(t, r).Errors[0].Code, msg)
		}
	}
}
