package errcode_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/berth-registry/berth/internal/api/errcode"
	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/google/go-cmp/cmp"
)

func TestFrom(t *testing.T) {
	tests := []struct {
		label  string
		err    error
		code   string
		status int
		msg    string
	}{
		{"not found", errdefs.NotFound("repository x not found"), "NAME_UNKNOWN", 404, "repository x not found"},
		{"invalid", errdefs.Invalid("bad field"), "MANIFEST_INVALID", 400, "bad field"},
		{"denied", errdefs.Denied("read only"), "DENIED", 403, "read only"},
		{"conflict", errdefs.Conflict("in use"), "DENIED", 409, "in use"},
		{"too large", errdefs.TooLarge("over 4 MiB"), "SIZE_INVALID", 413, "over 4 MiB"},
		{"unsupported", errdefs.Unsupported("schema 1"), "UNSUPPORTED", 405, "schema 1"},
		// Details of an unavailable backend (paths, database errors) go to the log only.
		{"unavailable", errdefs.Unavailable("database down"), "UNAVAILABLE", 503, "service unavailable, retry later"},
		{"already exists", errdefs.AlreadyExists("upload id taken"), "DENIED", 409, "upload id taken"},
		{"wrapped with context", fmt.Errorf("put manifest a:b: %w", errdefs.NotFound("tag b")), "NAME_UNKNOWN", 404,
			"put manifest a:b: tag b"},
		{"deferred Wrapf", wrapped(errdefs.Invalid("no config")), "MANIFEST_INVALID", 400, "parse: no config"},
		{"errdefs.Wrap keeps the class", errdefs.Wrap(errdefs.ErrUnavailable, errors.New("EIO"), "read blob"),
			"UNAVAILABLE", 503, "service unavailable, retry later"},
		{"unclassed", errors.New("nil pointer somewhere"), "UNKNOWN", 500, "internal server error"},
		{"code already chosen", errcode.Newf(errcode.BlobUnknown, "no such blob"), "BLOB_UNKNOWN", 404, "no such blob"},
		{"code chosen deeper in the chain", fmt.Errorf("outer: %w", errcode.New(errcode.DigestInvalid, errors.New("bad"))),
			"DIGEST_INVALID", 400, "bad"},
		{"status override", errcode.Newf(errcode.ManifestInvalid, "big").WithStatus(413), "MANIFEST_INVALID", 413, "big"},
		{"code without message", &errcode.Error{Code: errcode.BlobUploadUnknown}, "BLOB_UPLOAD_UNKNOWN", 404,
			"blob upload unknown to registry"},
	}
	for _, tt := range tests {
		t.Run(tt.label, func(t *testing.T) {
			e := errcode.From(tt.err)
			if e.Code.Name != tt.code || e.StatusOf() != tt.status {
				t.Errorf("From(%v) = %s %d, want %s %d", tt.err, e.Code.Name, e.StatusOf(), tt.code, tt.status)
			}
			// Internal and unavailable errors keep their details for the log
			// but send a generic message (checked in the body below).
			if e.Code != errcode.Internal && e.Code != errcode.Unavailable && e.Error() != tt.msg {
				t.Errorf("message %q, want %q", e.Error(), tt.msg)
			}
			if e.Code != errcode.Internal && !errors.Is(e, tt.err) && !errors.Is(tt.err, e) {
				t.Errorf("From(%v) lost the original error", tt.err)
			}
			// What the client sees.
			w := httptest.NewRecorder()
			status := errcode.Write(w, httptest.NewRequest("GET", "/v2/", nil), tt.err)
			if status != tt.status || w.Code != tt.status {
				t.Errorf("Write returned %d and sent %d, want %d", status, w.Code, tt.status)
			}
			want := fmt.Sprintf(`{"errors":[{"code":%q,"message":%q}]}`, tt.code, tt.msg)
			if diff := cmp.Diff(want, w.Body.String()); diff != "" {
				t.Errorf("body (-want +got):\n%s", diff)
			}
		})
	}
}

func wrapped(err error) (out error) {
	out = err
	defer errdefs.Wrapf(&out, "parse")
	return out
}

func TestWrite(t *testing.T) {
	detail := map[string]any{"missing": []string{"sha256:abc"}}
	tests := []struct {
		label, method string
		err           error
		status        int
		body          string
	}{
		{"GET", "GET", errcode.Newf(errcode.BlobUnknown, "blob sha256:abc unknown"), 404,
			`{"errors":[{"code":"BLOB_UNKNOWN","message":"blob sha256:abc unknown"}]}`},
		{"HEAD sends no body", "HEAD", errcode.Newf(errcode.BlobUnknown, "blob sha256:abc unknown"), 404, ""},
		{"detail", "PUT", errcode.Newf(errcode.ManifestBlobUnknown, "push the layers first").WithDetail(detail), 400,
			`{"errors":[{"code":"MANIFEST_BLOB_UNKNOWN","message":"push the layers first","detail":{"missing":["sha256:abc"]}}]}`},
		{"internal error hides its cause", "GET", fmt.Errorf("query: %w", errors.New("database is locked (/data/berth.db)")), 500,
			`{"errors":[{"code":"UNKNOWN","message":"internal server error"}]}`},
		{"internal error with an explicit code hides its message too", "GET",
			errcode.Newf(errcode.Internal, "SELECT * FROM secrets failed"), 500,
			`{"errors":[{"code":"UNKNOWN","message":"internal server error"}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.label, func(t *testing.T) {
			w := httptest.NewRecorder()
			w.Header().Set("Docker-Content-Digest", "sha256:set-before-the-error")
			status := errcode.Write(w, httptest.NewRequest(tt.method, "/v2/a/blobs/x", nil), tt.err)
			if status != tt.status || w.Code != tt.status {
				t.Errorf("status %d (returned %d), want %d", w.Code, status, tt.status)
			}
			if diff := cmp.Diff(tt.body, w.Body.String()); diff != "" {
				t.Errorf("body (-want +got):\n%s", diff)
			}
			h := w.Result().Header
			if got := h.Get("Content-Type"); got != "application/json" {
				t.Errorf("Content-Type %q", got)
			}
			if got := h.Get("Docker-Content-Digest"); got != "" {
				t.Errorf("error response keeps Docker-Content-Digest %q", got)
			}
			// HEAD announces the length the GET body would have.
			if tt.method != "HEAD" {
				if got := h.Get("Content-Length"); got != strconv.Itoa(len(tt.body)) {
					t.Errorf("Content-Length %q, want %d", got, len(tt.body))
				}
			} else if h.Get("Content-Length") == "" || h.Get("Content-Length") == "0" {
				t.Errorf("HEAD Content-Length %q, want the length of the GET body", h.Get("Content-Length"))
			}
		})
	}
	t.Run("nil request", func(t *testing.T) {
		w := httptest.NewRecorder()
		errcode.Write(w, nil, errcode.Newf(errcode.Denied, "no"))
		if w.Body.Len() == 0 {
			t.Error("no body without a request")
		}
	})
}

// TestWriteOverHTTP checks the envelope as a client receives it.
func TestWriteOverHTTP(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		errcode.Write(w, r, errcode.Newf(errcode.NameUnknown, "repository a/b not known"))
	}))
	defer srv.Close()
	for _, m := range []string{"GET", "HEAD"} {
		req, _ := http.NewRequest(m, srv.URL, nil)
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 404 || resp.Header.Get("Content-Type") != "application/json" {
			t.Errorf("%s: %d %q", m, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		want := int64(len(`{"errors":[{"code":"NAME_UNKNOWN","message":"repository a/b not known"}]}`))
		if resp.ContentLength != want {
			t.Errorf("%s: Content-Length %d, want %d", m, resp.ContentLength, want)
		}
	}
}

func TestRegistered(t *testing.T) {
	spec := map[string]int{
		"BLOB_UNKNOWN": 404, "BLOB_UPLOAD_INVALID": 400, "BLOB_UPLOAD_UNKNOWN": 404, "DIGEST_INVALID": 400,
		"MANIFEST_BLOB_UNKNOWN": 400, "MANIFEST_INVALID": 400, "MANIFEST_UNKNOWN": 404, "NAME_INVALID": 400,
		"NAME_UNKNOWN": 404, "SIZE_INVALID": 400, "UNAUTHORIZED": 401, "DENIED": 403, "UNSUPPORTED": 405,
		"TOOMANYREQUESTS": 429,
	}
	seen := map[string]bool{}
	for _, c := range errcode.Registered() {
		if c.Name == "" || c.Message == "" || http.StatusText(c.Status) == "" || c.Status < 400 {
			t.Errorf("code %+v is incomplete", c)
		}
		if want, ok := spec[c.Name]; ok && !seen[c.Name] {
			// The first registration of a spec code carries the spec's status.
			if c.Status != want {
				t.Errorf("%s has status %d, the spec says %d", c.Name, c.Status, want)
			}
		}
		seen[c.Name] = true
	}
	for name := range spec {
		if !seen[name] {
			t.Errorf("spec code %s is not registered", name)
		}
	}
}
