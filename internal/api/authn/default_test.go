package authn_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestDefaultClosed: a fresh install answers anonymous callers with a
// challenge and shows nothing; private repositories look the same whether
// or not they exist.
func TestDefaultClosed(t *testing.T) {
	w := newWorld(t)
	t.Run("anonymous /v2/ is challenged", func(t *testing.T) {
		for _, path := range []string{"/v2/", "/v2"} {
			r := w.raw(t, "GET", path, nil)
			if r.StatusCode != http.StatusUnauthorized {
				t.Fatalf("GET %s: %d, want 401", path, r.StatusCode)
			}
			want := map[string]string{"realm": w.url + "/auth/token", "service": w.tokens.Service()}
			if diff := cmp.Diff(want, parseChallenge(r.Header.Get("WWW-Authenticate"))); diff != "" {
				t.Errorf("challenge (-want +got):\n%s", diff)
			}
			if !strings.Contains(string(r.body), "UNAUTHORIZED") {
				t.Errorf("body %s, want an UNAUTHORIZED error", r.body)
			}
		}
	})
	t.Run("signed in /v2/", func(t *testing.T) {
		for _, name := range []string{"outsider", "alpha-puller"} {
			if r := w.send(t, w.callers[name], basicMode, "GET", "/v2/", nil, nil); r.StatusCode != http.StatusOK {
				t.Errorf("%s: %d, want 200", name, r.StatusCode)
			}
		}
	})
	t.Run("wrong password on /v2/", func(t *testing.T) {
		r := w.raw(t, "GET", "/v2/", nil, "Authorization", basicAuth("dev", "not-the-password"))
		if r.StatusCode != http.StatusUnauthorized || parseChallenge(r.Header.Get("WWW-Authenticate"))["realm"] == "" {
			t.Errorf("%d %q, want 401 with a challenge", r.StatusCode, r.Header.Get("WWW-Authenticate"))
		}
	})
	// What exists and what does not must be told apart by nothing.
	same := func(t *testing.T, c caller, a, b string) {
		t.Helper()
		ra := w.send(t, c, basicMode, "GET", a, nil, nil)
		rb := w.send(t, c, basicMode, "GET", b, nil, nil)
		if ra.StatusCode != rb.StatusCode || string(ra.body) != string(rb.body) {
			t.Errorf("%s: %d %s\n%s: %d %s", a, ra.StatusCode, ra.body, b, rb.StatusCode, rb.body)
		}
		if ra.StatusCode != http.StatusUnauthorized && ra.StatusCode != http.StatusForbidden {
			t.Errorf("%s: %d, want a refusal", a, ra.StatusCode)
		}
	}
	for _, c := range []caller{w.callers["anonymous"], w.callers["outsider"]} {
		t.Run("no existence leak/"+c.name, func(t *testing.T) {
			same(t, c, "/v2/alpha/app/manifests/v1", "/v2/alpha/ghost/manifests/v1")
			same(t, c, "/v2/alpha/app/manifests/v1", "/v2/ghost/app/manifests/v1")
			same(t, c, "/v2/alpha/app/tags/list", "/v2/ghost/app/tags/list")
			same(t, c, "/v2/alpha/app/blobs/"+w.alpha.layerDigest.String(), "/v2/ghost/app/blobs/"+w.alpha.layerDigest.String())
		})
	}
	t.Run("public projects are readable anonymously", func(t *testing.T) {
		if r := w.raw(t, "GET", "/v2/pub/app/manifests/v1", nil); r.StatusCode != http.StatusOK {
			t.Errorf("anonymous pull of pub/app: %d %s", r.StatusCode, r.body)
		}
		if r := w.raw(t, "GET", "/v2/pub/app/blobs/"+w.pub.layerDigest.String(), nil); r.StatusCode != http.StatusOK {
			t.Errorf("anonymous blob of pub/app: %d %s", r.StatusCode, r.body)
		}
	})
}

// TestChallengeRealm: the realm follows the Host and, only when trusted,
// the proxy's headers.
func TestChallengeRealm(t *testing.T) {
	w := newWorld(t)
	r := w.raw(t, "GET", "/v2/", nil, "X-Forwarded-Proto", "https", "X-Forwarded-Host", "evil.example")
	if got, want := parseChallenge(r.Header.Get("WWW-Authenticate"))["realm"], w.url+"/auth/token"; got != want {
		t.Errorf("realm %q with untrusted forwarding headers, want %q", got, want)
	}
	r = w.raw(t, "GET", "/v2/alpha/app/manifests/v1", nil)
	if got, want := parseChallenge(r.Header.Get("WWW-Authenticate"))["scope"], "repository:alpha/app:pull"; got != want {
		t.Errorf("scope %q, want %q", got, want)
	}
	r = w.raw(t, "PUT", "/v2/alpha/app/manifests/v9", []byte("{}"))
	if got, want := parseChallenge(r.Header.Get("WWW-Authenticate"))["scope"], "repository:alpha/app:pull,push"; got != want {
		t.Errorf("scope %q, want %q", got, want)
	}
}
