package s3

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/berth-registry/berth/internal/s3test"
	"github.com/opencontainers/go-digest"
)

// TestRedirect: with Redirect on, RedirectURL gives presigned URLs that a
// plain net/http client can GET and HEAD, valid for the configured time;
// with it off (the default) there is no URL.
func TestRedirect(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := s3test.NewBucket(t)
	on := openTestStore(t, b.URL, Options{Redirect: true, RedirectExpiry: 90 * time.Second})
	off := openTestStore(t, b.URL, Options{})
	data := randomData(MinPartSize+77, 70) // multipart, so the data object was completed
	dgst, _ := storeBlob(t, on, data, 1<<20)

	for _, method := range []string{http.MethodGet, http.MethodHead} {
		t.Run(method, func(t *testing.T) {
			u, err := on.RedirectURL(ctx, dgst, method)
			if err != nil || u == "" {
				t.Fatalf("RedirectURL(%s) = %q, %v; want a URL", method, u, err)
			}
			parsed, err := url.Parse(u)
			if err != nil {
				t.Fatalf("parse %q: %v", u, err)
			}
			if got := parsed.Query().Get("X-Amz-Expires"); got != "90" {
				t.Errorf("URL expires after %q seconds, want 90", got)
			}
			req, _ := http.NewRequestWithContext(ctx, method, u, nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatalf("%s %s: %v", method, u, err)
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatalf("read body: %v", err)
			}
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("%s: status %s: %s", method, resp.Status, body)
			}
			if got := resp.Header.Get("Content-Length"); got != strconv.Itoa(len(data)) {
				t.Errorf("Content-Length %q, want %d", got, len(data))
			}
			if got := resp.Header.Get("Content-Encoding"); got != "" {
				t.Errorf("Content-Encoding %q, want none", got)
			}
			if method == http.MethodGet && !bytes.Equal(body, data) {
				t.Errorf("GET returned %d bytes that differ from the %d stored", len(body), len(data))
			}
		})
	}
	t.Run("off by default", func(t *testing.T) {
		if u, err := off.RedirectURL(ctx, dgst, http.MethodGet); u != "" || err != nil {
			t.Errorf("RedirectURL with Redirect off = %q, %v; want \"\", nil", u, err)
		}
	})
	t.Run("other method", func(t *testing.T) {
		if u, err := on.RedirectURL(ctx, dgst, http.MethodPut); u != "" || err != nil {
			t.Errorf("RedirectURL(PUT) = %q, %v; want \"\", nil", u, err)
		}
	})
	t.Run("missing", func(t *testing.T) {
		_, err := on.RedirectURL(ctx, digest.FromString("absent"), http.MethodGet)
		if !errdefs.IsNotFound(err) {
			t.Errorf("RedirectURL of a missing blob = %v, want ErrNotFound", err)
		}
	})
	t.Run("malformed", func(t *testing.T) {
		for _, s := range []*Store{on, off} {
			if _, err := s.RedirectURL(ctx, "sha256:nope", http.MethodGet); !errdefs.IsInvalid(err) {
				t.Errorf("RedirectURL of a malformed digest = %v, want ErrInvalid", err)
			}
		}
	})
}
