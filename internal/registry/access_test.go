package registry_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/berth-registry/berth/internal/access"
	"github.com/berth-registry/berth/internal/registry"
	"github.com/google/go-cmp/cmp"
	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// pushImage pushes a manifest with config config to repo under tag and
// returns its digest.
func (e *env) pushImage(t *testing.T, ctx context.Context, repo, tag string, config []byte) digest.Digest {
	t.Helper()
	e.putBlob(t, repo, config)
	res, err := e.svc.PutManifest(ctx, registry.ManifestPut{
		Repository: repo, Reference: tag, ContentType: v1.MediaTypeImageManifest, Body: manifestOf(t, config),
	})
	if err != nil {
		t.Fatalf("push %s:%s: %v", repo, tag, err)
	}
	return res.Digest
}

func TestListVisibleRepositories(t *testing.T) {
	defer registry.SetVisibleBatch(3)()
	ctx := context.Background()
	e := newEnv(t)
	var all []string
	for _, p := range []string{"a", "b", "c"} {
		for i := range 4 {
			all = append(all, fmt.Sprintf("%s/r%d", p, i))
		}
	}
	for _, repo := range all {
		e.pushImage(t, ctx, repo, "v1", []byte(`{"repo":"`+repo+`"}`))
	}
	visibleAC := func(repo string) bool { return !strings.HasPrefix(repo, "b/") }
	var wantAC []string
	for _, r := range all {
		if visibleAC(r) {
			wantAC = append(wantAC, r)
		}
	}
	tests := []struct {
		name    string
		visible func(string) bool
		n       int
		want    []string
	}{
		{"pages of 1", visibleAC, 1, wantAC},
		{"pages of 3", visibleAC, 3, wantAC},
		{"pages of 4 end exactly", visibleAC, 4, wantAC},
		{"one page", visibleAC, 100, wantAC},
		{"nothing visible", func(string) bool { return false }, 2, nil},
		{"everything", func(string) bool { return true }, 5, all},
		{"only the last", func(r string) bool { return r == "c/r3" }, 1, []string{"c/r3"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			last := ""
			for pages := 0; ; pages++ {
				if pages > len(all) {
					t.Fatal("pagination does not end")
				}
				names, more, err := e.svc.ListVisibleRepositories(ctx, last, tt.n, tt.visible)
				if err != nil {
					t.Fatal(err)
				}
				if len(names) > tt.n {
					t.Fatalf("page of %d names, want at most %d", len(names), tt.n)
				}
				got = append(got, names...)
				if !more {
					break
				}
				if len(names) != tt.n {
					t.Errorf("page %d has %d names and says more follow; want full pages", pages, len(names))
				}
				last = names[len(names)-1]
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("visible repositories (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPushRecordsPusherAndMovedTags(t *testing.T) {
	e := newEnv(t)
	ctx := access.WithPrincipal(context.Background(), access.Principal{Kind: access.UserKind, Name: "alice"})
	first := e.pushImage(t, ctx, "who/app", "v1", []byte(`{"n":1}`))
	m, err := e.svc.GetManifest(ctx, "who/app", first.String(), false)
	if err != nil {
		t.Fatal(err)
	}
	if m.PushedBy != "alice" {
		t.Errorf("PushedBy = %q, want alice", m.PushedBy)
	}

	config := []byte(`{"n":2}`)
	e.putBlob(t, "who/app", config)
	put := registry.ManifestPut{Repository: "who/app", Reference: "v1", ContentType: v1.MediaTypeImageManifest,
		Body: manifestOf(t, config), Tags: []string{"new"}}
	res, err := e.svc.PutManifest(context.Background(), put)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]digest.Digest{"v1": first}, res.Previous); diff != "" {
		t.Errorf("Previous of a moved tag (-want +got):\n%s", diff)
	}
	m, err = e.svc.GetManifest(ctx, "who/app", res.Digest.String(), false)
	if err != nil {
		t.Fatal(err)
	}
	if m.PushedBy != "" {
		t.Errorf("anonymous push: PushedBy = %q, want empty", m.PushedBy)
	}
	res, err = e.svc.PutManifest(context.Background(), put)
	if err != nil {
		t.Fatal(err)
	}
	if res.Previous != nil {
		t.Errorf("Previous of a push that moved nothing = %v, want nil", res.Previous)
	}
}
