package authn_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// op does one thing as c in mode m on repo and reports whether it was
// allowed, with the response that decided. id is unique to the call.
type op struct {
	name string
	do   func(t *testing.T, w *world, c caller, m mode, repo, id string) (bool, *response)
}

var ops = []op{
	{"pull", func(t *testing.T, w *world, c caller, m mode, repo, _ string) (bool, *response) {
		r := w.send(t, c, m, "GET", "/v2/"+repo+"/manifests/v1", nil, nil, "Accept", v1.MediaTypeImageManifest)
		return r.StatusCode == http.StatusOK, r
	}},
	{"push", func(t *testing.T, w *world, c caller, m mode, repo, id string) (bool, *response) {
		r := w.push(t, c, m, repo, "p-"+id, newImage(t, "push-"+id))
		return r.StatusCode == http.StatusCreated, r
	}},
	{"delete", func(t *testing.T, w *world, c caller, m mode, repo, id string) (bool, *response) {
		// A tag of its own to delete, so every case finds one.
		tagged := w.send(t, admin, basicMode, "PUT", "/v2/"+repo+"/manifests/d-"+id, w.imageOf(repo).manifest, nil,
			"Content-Type", v1.MediaTypeImageManifest)
		if tagged.StatusCode != http.StatusCreated {
			t.Fatalf("tag for delete: %d %s", tagged.StatusCode, tagged.body)
		}
		r := w.send(t, c, m, "DELETE", "/v2/"+repo+"/manifests/d-"+id, nil, nil)
		return r.StatusCode == http.StatusAccepted, r
	}},
	{"mount", func(t *testing.T, w *world, c caller, m mode, repo, _ string) (bool, *response) {
		// Mount the repository's layer into a repository the caller may
		// push to (if any): only pull on the source decides.
		src := "repository:" + repo + ":pull"
		r := w.send(t, c, m, "POST", "/v2/"+mountTarget(c)+"/blobs/uploads/?mount="+w.imageOf(repo).layerDigest.String()+"&from="+repo,
			nil, []string{src})
		return r.StatusCode == http.StatusCreated, r
	}},
	{"tags", func(t *testing.T, w *world, c caller, m mode, repo, _ string) (bool, *response) {
		r := w.send(t, c, m, "GET", "/v2/"+repo+"/tags/list", nil, nil)
		return r.StatusCode == http.StatusOK, r
	}},
	{"catalog", func(t *testing.T, w *world, c caller, m mode, repo, _ string) (bool, *response) {
		r := w.send(t, c, m, "GET", "/v2/_catalog", nil, nil)
		if r.StatusCode != http.StatusOK {
			return false, r
		}
		return slices.Contains(catalogOf(t, r), repo), r
	}},
}

// mountTarget is a repository c may push to, where one exists.
func mountTarget(c caller) string {
	switch c.name {
	case "alpha-pusher":
		return "alpha/app-mnt"
	case "alpha-puller":
		return "alpha/app"
	case "beta-ci":
		return "beta/mnt"
	case "anonymous":
		return "scratch/anon"
	}
	return "scratch/" + c.name
}

// imageOf returns the image pushed to repo by newWorld.
func (w *world) imageOf(repo string) image {
	switch repo {
	case "beta/app":
		return w.beta
	case "pub/app":
		return w.pub
	}
	return w.alpha
}

func catalogOf(t *testing.T, r *response) []string {
	t.Helper()
	var body struct {
		Repositories []string `json:"repositories"`
	}
	if err := json.Unmarshal(r.body, &body); err != nil {
		t.Fatalf("catalog %s: %v", r.body, err)
	}
	return body.Repositories
}

// TestAuthorizationMatrix runs every role and robot permission against
// every registry action, with Basic and with the token flow, through real
// HTTP. Each row is what the caller may do in the repository.
func TestAuthorizationMatrix(t *testing.T) {
	w := newWorld(t)
	const Y, N = true, false
	tests := []struct {
		caller, repo                          string
		pull, push, del, mount, tags, catalog bool
	}{
		// alpha is private.
		{"admin", "alpha/app", Y, Y, Y, Y, Y, Y},
		{"pa", "alpha/app", Y, Y, Y, Y, Y, Y},
		{"maint", "alpha/app", Y, Y, Y, Y, Y, Y},
		{"dev", "alpha/app", Y, Y, N, Y, Y, Y},
		{"guest", "alpha/app", Y, N, N, Y, Y, Y},
		{"lguest", "alpha/app", Y, N, N, Y, Y, N}, // tags by pull; the catalog needs list
		{"outsider", "alpha/app", N, N, N, N, N, N},
		{"anonymous", "alpha/app", N, N, N, N, N, N},
		{"alpha-puller", "alpha/app", Y, N, N, N, Y, Y}, // no repository to mount into
		{"alpha-pusher", "alpha/app", Y, Y, N, Y, Y, Y},
		{"beta-ci", "alpha/app", N, N, N, N, N, N}, // a robot of beta in alpha
		{"sys-all", "alpha/app", Y, Y, Y, Y, Y, Y},
		// beta is private too: alpha's members and robots are strangers there.
		{"pa", "beta/app", N, N, N, N, N, N},
		{"alpha-pusher", "beta/app", N, N, N, N, N, N},
		{"beta-ci", "beta/app", Y, Y, N, Y, Y, Y},
		// pub is public: anyone pulls and lists, nobody else pushes.
		{"anonymous", "pub/app", Y, N, N, N, Y, N}, // anonymous never lists the catalog
		{"outsider", "pub/app", Y, N, N, Y, Y, Y},
		{"alpha-puller", "pub/app", Y, N, N, N, Y, Y},
		{"beta-ci", "pub/app", Y, N, N, Y, Y, Y},
	}
	for _, m := range []mode{basicMode, tokenMode} {
		for _, tt := range tests {
			want := []bool{tt.pull, tt.push, tt.del, tt.mount, tt.tags, tt.catalog}
			for i, o := range ops {
				t.Run(string(m)+"/"+tt.caller+"/"+tt.repo+"/"+o.name, func(t *testing.T) {
					c := w.callers[tt.caller]
					id := string(m) + "-" + tt.caller + "-" + o.name
					got, r := o.do(t, w, c, m, tt.repo, id)
					if got != want[i] {
						t.Fatalf("%s allowed = %v, want %v (status %d, body %s)", o.name, got, want[i], r.StatusCode, r.body)
					}
					if !got {
						checkRefusal(t, c, m, r)
					}
				})
			}
		}
	}
}

// checkRefusal checks how a refusal was answered: 401 with a Bearer
// challenge for the anonymous caller and for tokens, 403 DENIED for a
// signed-in caller using Basic. A mount that was refused falls back to an
// upload session (202), and a catalog that was filtered is a 200.
func checkRefusal(t *testing.T, c caller, m mode, r *response) {
	t.Helper()
	switch r.StatusCode {
	case http.StatusAccepted, http.StatusOK:
		return
	case http.StatusUnauthorized:
		if m == basicMode && c.user != "" {
			t.Errorf("signed-in Basic caller got 401, want 403: %s", r.body)
		}
		if ch := parseChallenge(r.Header.Get("WWW-Authenticate")); ch["realm"] == "" || ch["service"] == "" {
			t.Errorf("401 without a Bearer challenge: %q", r.Header.Get("WWW-Authenticate"))
		}
		if m == tokenMode && c.user != "" && !containsErr(r, "insufficient_scope") {
			t.Errorf("token refused without error=insufficient_scope: %q", r.Header.Get("WWW-Authenticate"))
		}
	case http.StatusForbidden:
		if m == tokenMode || c.user == "" {
			t.Errorf("got 403 in %s mode as %s, want 401 with a challenge", m, c.name)
		}
		var env struct {
			Errors []struct{ Code string } `json:"errors"`
		}
		if err := json.Unmarshal(r.body, &env); err != nil || len(env.Errors) == 0 || env.Errors[0].Code != "DENIED" {
			t.Errorf("403 body %s, want a DENIED error", r.body)
		}
	default:
		t.Errorf("refused with status %d (%s), want 401 or 403", r.StatusCode, r.body)
	}
}

func containsErr(r *response, e string) bool {
	return parseChallenge(r.Header.Get("WWW-Authenticate"))["error"] == e
}

// TestCatalogFiltered checks exactly what each caller's catalog lists.
func TestCatalogFiltered(t *testing.T) {
	w := newWorld(t)
	all := []string{"alpha/app", "beta/app", "pub/app"}
	alphaPub := []string{"alpha/app", "pub/app"}
	tests := []struct {
		caller string
		want   []string
	}{
		{"admin", all},
		{"pa", alphaPub},
		{"guest", alphaPub},
		{"lguest", []string{"pub/app"}},
		{"outsider", []string{"pub/app"}},
		{"alpha-puller", alphaPub},
		{"beta-ci", []string{"beta/app", "pub/app"}},
		{"sys-all", all},
	}
	for _, m := range []mode{basicMode, tokenMode} {
		for _, tt := range tests {
			t.Run(string(m)+"/"+tt.caller, func(t *testing.T) {
				r := w.send(t, w.callers[tt.caller], m, "GET", "/v2/_catalog", nil, nil)
				if r.StatusCode != http.StatusOK {
					t.Fatalf("status %d: %s", r.StatusCode, r.body)
				}
				if diff := cmp.Diff(tt.want, catalogOf(t, r)); diff != "" {
					t.Errorf("catalog (-want +got):\n%s", diff)
				}
				// Pages of one keep the filter and lead on through Link.
				r = w.send(t, w.callers[tt.caller], m, "GET", "/v2/_catalog?n=1", nil, nil)
				got := catalogOf(t, r)
				if len(got) != 1 || got[0] != tt.want[0] {
					t.Errorf("first page of 1 = %q, want [%s]", got, tt.want[0])
				}
				if (r.Header.Get("Link") != "") != (len(tt.want) > 1) {
					t.Errorf("Link %q with %d visible repositories", r.Header.Get("Link"), len(tt.want))
				}
			})
		}
	}
	t.Run("anonymous", func(t *testing.T) {
		r := w.raw(t, "GET", "/v2/_catalog", nil)
		if r.StatusCode != http.StatusUnauthorized {
			t.Fatalf("anonymous catalog: %d, want 401", r.StatusCode)
		}
		if got := parseChallenge(r.Header.Get("WWW-Authenticate"))["scope"]; got != "registry:catalog:*" {
			t.Errorf("challenge scope %q, want registry:catalog:*", got)
		}
	})
}
