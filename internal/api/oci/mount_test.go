package oci_test

import (
	"net/http"
	"testing"

	"github.com/opencontainers/go-digest"
)

func TestMount(t *testing.T) {
	t.Parallel()
	c := startServer(t)
	data := []byte("a layer worth mounting")
	d := c.pushBlob("mount/src", data)
	c.pushBlob("mount/empty", []byte("something else"))
	unknown := digest.FromString("held by nobody")

	tests := []struct {
		label, target, query string
		mounted              bool
	}{
		{"from a repository holding it", "mount/dst1", "mount=" + d.String() + "&from=mount/src", true},
		{"into the repository holding it", "mount/src", "mount=" + d.String() + "&from=mount/src", true},
		{"from a repository without it", "mount/dst2", "mount=" + d.String() + "&from=mount/empty", false},
		{"from a repository that does not exist", "mount/dst3", "mount=" + d.String() + "&from=mount/none", false},
		{"from an invalid name", "mount/dst4", "mount=" + d.String() + "&from=Mount/Src", false},
		{"anonymous, held elsewhere", "mount/dst5", "mount=" + d.String(), true},
		{"anonymous, unknown blob", "mount/dst6", "mount=" + unknown.String(), false},
		{"unknown blob from a repository", "mount/dst7", "mount=" + unknown.String() + "&from=mount/src", false},
	}
	for _, tt := range tests {
		t.Run(tt.label, func(t *testing.T) {
			c := c.with(t)
			r := c.do("POST", "/v2/"+tt.target+"/blobs/uploads/?"+tt.query, nil)
			if tt.mounted {
				wantStatus(t, r, http.StatusCreated)
				wantHeader(t, r, "Location", "/v2/"+tt.target+"/blobs/"+d.String())
				wantHeader(t, r, "Docker-Content-Digest", d.String())
				if r.Header.Get("Docker-Upload-UUID") != "" {
					t.Error("a finished mount carries Docker-Upload-UUID")
				}
				c.wantBlob(tt.target, d, data)
				return
			}
			// The spec's fallback: an ordinary upload session.
			wantStatus(t, r, http.StatusAccepted)
			loc := wantUploadHeaders(t, r, tt.target, "0-0")
			wantError(t, c.do("HEAD", "/v2/"+tt.target+"/blobs/"+d.String(), nil), http.StatusNotFound, "BLOB_UNKNOWN")
			// The session works.
			wantStatus(t, c.do("PUT", withQuery(loc, "digest="+d.String()), data), http.StatusCreated)
			c.wantBlob(tt.target, d, data)
		})
	}
	t.Run("malformed digest", func(t *testing.T) {
		r := c.with(t).do("POST", "/v2/mount/dst8/blobs/uploads/?mount=sha256:zzz&from=mount/src", nil)
		wantError(t, r, http.StatusBadRequest, "DIGEST_INVALID")
	})
	t.Run("mounted blob can be used by a manifest", func(t *testing.T) {
		c := c.with(t)
		img := newImage(t, "mounted")
		c.pushBlobs("mount/base", img)
		for _, b := range append([][]byte{img.config}, img.layers...) {
			r := c.do("POST", "/v2/mount/derived/blobs/uploads/?mount="+digest.FromBytes(b).String()+"&from=mount/base", nil)
			wantStatus(t, r, http.StatusCreated)
		}
		c.pushManifest("mount/derived", "latest", img.mediaType(), img.manifest)
	})
}
