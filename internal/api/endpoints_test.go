package api_test

import (
	"bytes"
	"crypto/sha256"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/berth-registry/berth/internal/berthtest"
	"github.com/opencontainers/go-digest"
)

// TestServerEndpoints checks the operational endpoints of a whole server
// and that the middleware serves a large blob intact.
func TestServerEndpoints(t *testing.T) {
	srv := berthtest.Start(t)
	get := func(t *testing.T, method, path string, body []byte) (*http.Response, []byte) {
		t.Helper()
		req, err := http.NewRequest(method, srv.URL+path, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.SetBasicAuth(berthtest.AdminUser, berthtest.AdminPassword)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, b
	}

	t.Run("healthz and readyz", func(t *testing.T) {
		for path, want := range map[string]string{"/healthz": "ok\n", "/readyz": "ready\n"} {
			resp, body := get(t, "GET", path, nil)
			if resp.StatusCode != http.StatusOK || string(body) != want {
				t.Errorf("GET %s = %d %q, want 200 %q", path, resp.StatusCode, body, want)
			}
			if resp.Header.Get("X-Request-Id") == "" {
				t.Errorf("GET %s has no X-Request-Id", path)
			}
		}
	})

	t.Run("large blob", func(t *testing.T) {
		data := make([]byte, 16<<20+1)
		for i := range data {
			data[i] = byte(i ^ i>>9)
		}
		d := digest.FromBytes(data)
		resp, _ := get(t, "POST", "/v2/big/blob/blobs/uploads/?digest="+d.String(), data)
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("push: %d", resp.StatusCode)
		}
		resp, body := get(t, "GET", "/v2/big/blob/blobs/"+d.String(), nil)
		if resp.StatusCode != http.StatusOK || sha256.Sum256(body) != sha256.Sum256(data) {
			t.Errorf("GET: status %d, %d bytes, want 200 with the %d bytes pushed", resp.StatusCode, len(body), len(data))
		}
	})

	t.Run("metrics", func(t *testing.T) {
		get(t, "GET", "/v2/", nil)
		get(t, "GET", "/v2/nothing/here/tags/list", nil)
		resp, body := get(t, "GET", "/metrics", nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET /metrics: %d", resp.StatusCode)
		}
		text := string(body)
		for _, re := range []string{
			`(?m)^berth_http_requests_total\{[^}]*route="base"[^}]*\} [1-9]`,
			`(?m)^berth_http_requests_total\{code="404",method="GET",route="tags_list"\} 1$`,
			`(?m)^berth_http_requests_total\{code="201",method="POST",route="blob_upload_start"\} `,
			`(?m)^berth_http_response_bytes_total\{route="blob"\} `,
		} {
			if !regexp.MustCompile(re).MatchString(text) {
				t.Errorf("/metrics has no line matching %s", re)
			}
		}
		if strings.Contains(text, `repository=`) || strings.Contains(text, "nothing/here") {
			t.Error("/metrics carries repository names (unbounded label cardinality)")
		}
	})
}
