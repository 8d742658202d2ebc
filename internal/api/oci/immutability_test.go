package oci_test

import (
	"net/http"
	"strings"
	"testing"

	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// An immutable tag, set through the admin API, is refused over the
// Distribution API with DENIED naming the rule; the same digest is fine.
func TestImmutableTagOverHTTP(t *testing.T) {
	c := startServer(t)
	// The rule exists before the first push: the registry caches a
	// project's rules for up to 2 s.
	wantStatus(t, c.do("POST", "/api/v1/projects", []byte(`{"name":"lib"}`), "Content-Type", "application/json"), http.StatusCreated)
	r := c.do("POST", "/api/v1/projects/lib/immutability", []byte(`{"tags":["v*","!*-rc*"]}`), "Content-Type", "application/json")
	wantStatus(t, r, http.StatusCreated)
	first := c.pushImage("lib/app", "v1.2.3", "first")

	second := newImage(t, "second")
	c.pushBlobs("lib/app", second)
	msg := wantError(t, c.putManifest("lib/app", "v1.2.3", v1.MediaTypeImageManifest, second.manifest), http.StatusForbidden, "DENIED")
	if want := "tag v1.2.3 of lib/app is immutable (rule 1: tags v*, except *-rc*)"; !strings.Contains(msg, want) {
		t.Errorf("message %q does not say %q", msg, want)
	}
	msg = wantError(t, c.do("DELETE", "/v2/lib/app/manifests/v1.2.3", nil), http.StatusForbidden, "DENIED")
	if !strings.Contains(msg, "rule 1") {
		t.Errorf("delete message %q does not name the rule", msg)
	}
	wantError(t, c.do("DELETE", "/v2/lib/app/manifests/"+first.digest.String(), nil), http.StatusForbidden, "DENIED")

	// Pushing the same manifest again, and excluded tags, still work.
	wantStatus(t, c.putManifest("lib/app", "v1.2.3", v1.MediaTypeImageManifest, first.manifest), http.StatusCreated)
	c.pushImage("lib/app", "v2.0.0-rc1", "rc")
	wantStatus(t, c.putManifest("lib/app", "v2.0.0-rc1", v1.MediaTypeImageManifest, second.manifest), http.StatusCreated)
	got := c.do("GET", "/v2/lib/app/manifests/v1.2.3", nil, "Accept", v1.MediaTypeImageManifest)
	wantStatus(t, got, http.StatusOK)
	if d := got.Header.Get("Docker-Content-Digest"); d != first.digest.String() {
		t.Errorf("v1.2.3 points at %s after the refused push, want %s", d, first.digest)
	}
}
