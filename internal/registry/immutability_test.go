package registry_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/registry"
	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// addRule stores an immutability rule in project (created if missing; ""
// for a system-wide rule) and returns its ID.
func (e *env) addRule(t *testing.T, project string, repos, tags []string) int64 {
	t.Helper()
	ctx := context.Background()
	r := &meta.ImmutabilityRule{Repositories: repos, Tags: tags}
	if project != "" {
		p, err := e.meta.GetProject(ctx, project)
		if errdefs.IsNotFound(err) {
			p = &meta.Project{Name: project}
			err = e.meta.CreateProject(ctx, p)
		}
		if err != nil {
			t.Fatal(err)
		}
		r.ProjectID = p.ID
	}
	if err := e.meta.PutImmutabilityRule(ctx, r); err != nil {
		t.Fatal(err)
	}
	return r.ID
}

// tryPush pushes a manifest with config config to repo:tag and returns the
// error.
func (e *env) tryPush(t *testing.T, repo, tag string, config []byte) error {
	t.Helper()
	e.putBlob(t, repo, config)
	_, err := e.svc.PutManifest(context.Background(), registry.ManifestPut{
		Repository: repo, Reference: tag, ContentType: v1.MediaTypeImageManifest, Body: manifestOf(t, config),
	})
	return err
}

// wantDenied fails unless err is ErrDenied with every one of parts in its
// message.
func wantDenied(t *testing.T, err error, parts ...string) {
	t.Helper()
	if !errdefs.IsDenied(err) {
		t.Fatalf("err = %v, want ErrDenied", err)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Fatalf("message %q does not say %q", err, p)
		}
	}
}

func TestImmutableTagCannotMove(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	id := e.addRule(t, "platform", []string{"api"}, []string{"v*", "!*-rc*"})
	first := e.pushImage(t, ctx, "platform/api", "v1.2.3", []byte(`{"n":1}`))

	err := e.tryPush(t, "platform/api", "v1.2.3", []byte(`{"n":2}`))
	wantDenied(t, err, "tag v1.2.3 of platform/api is immutable", "rule "+strconv.FormatInt(id, 10)+": tags v*, except *-rc*")
	m, err := e.svc.GetManifest(ctx, "platform/api", "v1.2.3", false)
	if err != nil || m.Digest != first {
		t.Fatalf("after the refused move the tag points at %v (%v), want %s", m, err, first)
	}

	tests := []struct {
		name, repo, tag string
	}{
		{"same digest again", "platform/api", "v1.2.3"},
		{"excluded tag", "platform/api", "v1.3.0-rc1"},
		{"tag the rule does not name", "platform/api", "latest"},
		{"repository the rule does not name", "platform/web", "v1.2.3"},
		{"same repository name in another project", "other/api", "v1.2.3"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			config := []byte(`{"n":1}`)
			if err := e.tryPush(t, tc.repo, tc.tag, config); err != nil {
				t.Fatalf("first push: %v", err)
			}
			if tc.name != "same digest again" {
				config = []byte(`{"n":"moved"}`)
			}
			if err := e.tryPush(t, tc.repo, tc.tag, config); err != nil {
				t.Fatalf("second push: %v", err)
			}
		})
	}
}

func TestImmutableTagsOfPushByDigest(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	e.addRule(t, "p", nil, []string{"stable"})
	e.pushImage(t, ctx, "p/r", "stable", []byte(`{"n":1}`))
	config := []byte(`{"n":2}`)
	e.putBlob(t, "p/r", config)
	body := manifestOf(t, config)
	_, err := e.svc.PutManifest(ctx, registry.ManifestPut{
		Repository: "p/r", Reference: string(digest.FromBytes(body)), ContentType: v1.MediaTypeImageManifest,
		Body: body, Tags: []string{"new", "stable"},
	})
	wantDenied(t, err, "tag stable of p/r is immutable")
	// The whole push is refused: neither the manifest nor its other tag.
	if _, err := e.svc.GetManifest(ctx, "p/r", "new", false); !errdefs.IsNotFound(err) {
		t.Fatalf("tag of the refused push: %v, want ErrNotFound", err)
	}
}

func TestImmutableTagCannotBeDeleted(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	e.addRule(t, "p", []string{"**"}, []string{"v*"})
	d := e.pushImage(t, ctx, "p/team/r", "v1", []byte(`{"n":1}`))
	if _, err := e.svc.PutManifest(ctx, registry.ManifestPut{
		Repository: "p/team/r", Reference: "latest", ContentType: v1.MediaTypeImageManifest,
		Body: manifestOf(t, []byte(`{"n":1}`)),
	}); err != nil {
		t.Fatal(err)
	}

	wantDenied(t, e.svc.DeleteManifest(ctx, "p/team/r", "v1"), "tag v1 of p/team/r is immutable")
	wantDenied(t, e.svc.DeleteManifest(ctx, "p/team/r", string(d)), "tag v1 of p/team/r is immutable")
	for _, ref := range []string{"v1", "latest", string(d)} {
		if _, err := e.svc.GetManifest(ctx, "p/team/r", ref, false); err != nil {
			t.Fatalf("%s after refused deletes: %v", ref, err)
		}
	}
	if err := e.svc.DeleteManifest(ctx, "p/team/r", "v9"); !errdefs.IsNotFound(err) {
		t.Fatalf("delete of a missing immutable-pattern tag = %v, want ErrNotFound", err)
	}
	// A mutable tag still goes.
	if err := e.svc.DeleteManifest(ctx, "p/team/r", "latest"); err != nil {
		t.Fatalf("delete mutable tag: %v", err)
	}
	// A manifest without immutable tags still goes.
	other := e.pushImage(t, ctx, "p/team/r", "dev", []byte(`{"n":2}`))
	if err := e.svc.DeleteManifest(ctx, "p/team/r", string(other)); err != nil {
		t.Fatalf("delete manifest with mutable tags: %v", err)
	}
}

func TestSystemImmutabilityRuleAppliesEverywhere(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	e.addRule(t, "", []string{"**"}, []string{"release-*"})
	e.addRule(t, "", []string{"only/this"}, []string{"pinned"})
	for _, repo := range []string{"a/x", "b/y/z", "noproject"} {
		e.pushImage(t, ctx, repo, "release-1", []byte(`{"n":1}`))
		wantDenied(t, e.tryPush(t, repo, "release-1", []byte(`{"n":2}`)), "tag release-1 of "+repo+" is immutable")
	}
	// System patterns match the full repository name.
	e.pushImage(t, ctx, "only/this", "pinned", []byte(`{"n":1}`))
	wantDenied(t, e.tryPush(t, "only/this", "pinned", []byte(`{"n":2}`)), "pinned")
	e.pushImage(t, ctx, "only/that", "pinned", []byte(`{"n":1}`))
	if err := e.tryPush(t, "only/that", "pinned", []byte(`{"n":2}`)); err != nil {
		t.Fatalf("system rule on only/this applied to only/that: %v", err)
	}
}

func TestImmutabilityRulesAreCachedBriefly(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	e.pushImage(t, ctx, "p/r", "v1", []byte(`{"n":1}`)) // caches "no rules"
	e.addRule(t, "p", nil, []string{"v1"})
	// Within the cache lifetime the old answer may still be used...
	e.clock.Advance(3 * time.Second)
	// ...after it, the new rule must apply.
	wantDenied(t, e.tryPush(t, "p/r", "v1", []byte(`{"n":2}`)), "tag v1 of p/r is immutable")
}
