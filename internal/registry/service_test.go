package registry_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/berth-registry/berth/internal/registry"
	"github.com/google/go-cmp/cmp"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

func TestMountBlobAccess(t *testing.T) {
	ctx := context.Background()
	readable := map[string]bool{"pub/base": true}
	e := newEnv(t, func(o *registry.Options) {
		o.CanMountFrom = func(_ context.Context, repo string) bool { return readable[repo] }
	})
	shared := e.putBlob(t, "secret/base", []byte("in both"))
	e.putBlob(t, "pub/base", []byte("in both"))
	secret := e.putBlob(t, "secret/base", []byte("only in the secret repository"))

	tests := []struct {
		label, from string
		dgst        digest.Digest
		ok          bool
	}{
		{"from a readable repository", "pub/base", shared, true},
		{"from an unreadable repository", "secret/base", secret, false},
		{"anonymous, a readable source exists", "", shared, true},
		{"anonymous, only unreadable sources", "", secret, false},
		{"from a readable repository without it", "pub/base", secret, false},
	}
	for i, tt := range tests {
		t.Run(tt.label, func(t *testing.T) {
			target := "dst/" + string(rune('a'+i))
			e.clock.Advance(time.Minute)
			b, err := e.svc.MountBlob(ctx, target, tt.from, tt.dgst)
			if !tt.ok {
				if !errdefs.IsNotFound(err) {
					t.Errorf("mount = %v, want not found", err)
				}
				if _, err := e.svc.StatBlob(ctx, target, tt.dgst); !errdefs.IsNotFound(err) {
					t.Errorf("refused mount still linked the blob: %v", err)
				}
				return
			}
			if err != nil || b.Digest != tt.dgst {
				t.Fatalf("mount = %+v, %v", b, err)
			}
			if _, err := e.svc.StatBlob(ctx, target, tt.dgst); err != nil {
				t.Errorf("mounted blob not served by %s: %v", target, err)
			}
			// A mount renews the lease: the blob may wait for a manifest
			// in the new repository.
			until, err := e.meta.BlobLease(ctx, tt.dgst)
			if err != nil || until.Before(e.clock.Now().Add(testLease).Add(-time.Second)) {
				t.Errorf("lease after mount ends %v (%v), want about %v", until, err, e.clock.Now().Add(testLease))
			}
		})
	}
}

func TestPutManifestReferences(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	cfg, l1, l2 := []byte(`{"c":1}`), []byte("layer 1"), []byte("layer 2")
	for _, b := range [][]byte{cfg, l1, l2} {
		e.putBlob(t, "other/repo", b)
	}
	e.putBlob(t, "mine/repo", l1)
	body := manifestOf(t, cfg, l1, l2, l2) // l2 twice: reported once

	_, err := e.svc.PutManifest(ctx, registry.ManifestPut{
		Repository: "mine/repo", Reference: "v1", ContentType: v1.MediaTypeImageManifest, Body: body,
	})
	var missing *registry.MissingReferencesError
	if !errors.As(err, &missing) || !errdefs.IsInvalid(err) {
		t.Fatalf("PutManifest = %v, want a MissingReferencesError", err)
	}
	want := []digest.Digest{digest.FromBytes(cfg), digest.FromBytes(l2)}
	if diff := cmp.Diff(want, missing.Blobs); diff != "" || len(missing.Manifests) != 0 {
		t.Errorf("missing blobs (-want +got):\n%s\nmissing manifests %v", diff, missing.Manifests)
	}

	// A child manifest present only in another repository is missing too.
	for _, b := range [][]byte{cfg, l2} {
		e.putBlob(t, "mine/repo", b)
	}
	child, err := e.svc.PutManifest(ctx, registry.ManifestPut{
		Repository: "other/repo", Reference: "child", ContentType: v1.MediaTypeImageManifest, Body: manifestOf(t, cfg, l1),
	})
	if err != nil {
		t.Fatal(err)
	}
	idx := mustJSON(t, v1.Index{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: v1.MediaTypeImageIndex,
		Manifests: []v1.Descriptor{{MediaType: v1.MediaTypeImageManifest, Digest: child.Digest, Size: 1}},
	})
	_, err = e.svc.PutManifest(ctx, registry.ManifestPut{
		Repository: "mine/repo", Reference: "idx", ContentType: v1.MediaTypeImageIndex, Body: idx,
	})
	if !errors.As(err, &missing) || len(missing.Blobs) != 0 || !cmp.Equal(missing.Manifests, []digest.Digest{child.Digest}) {
		t.Errorf("index PutManifest = %v, want the child %s missing", err, child.Digest)
	}

	// With everything present the push succeeds.
	res, err := e.svc.PutManifest(ctx, registry.ManifestPut{
		Repository: "mine/repo", Reference: "v1", ContentType: v1.MediaTypeImageManifest, Body: body, Tags: []string{"latest"},
	})
	if err != nil {
		t.Fatalf("PutManifest with every blob present: %v", err)
	}
	if res.Digest != digest.FromBytes(body) || !cmp.Equal(res.Tags, []string{"latest", "v1"}) {
		t.Errorf("pushed %+v", res)
	}
}

func TestDeleteRules(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	cfg, layer := []byte(`{"c":2}`), []byte("layer")
	e.putBlob(t, "del/a", cfg)
	e.putBlob(t, "del/a", layer)
	loose := e.putBlob(t, "del/a", []byte("loose"))
	img, err := e.svc.PutManifest(ctx, registry.ManifestPut{
		Repository: "del/a", Reference: "v1", ContentType: v1.MediaTypeImageManifest, Body: manifestOf(t, cfg, layer),
	})
	if err != nil {
		t.Fatal(err)
	}
	idx := mustJSON(t, v1.Index{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: v1.MediaTypeImageIndex,
		Manifests: []v1.Descriptor{{MediaType: v1.MediaTypeImageManifest, Digest: img.Digest, Size: 1}},
	})
	parent, err := e.svc.PutManifest(ctx, registry.ManifestPut{
		Repository: "del/a", Reference: "multi", ContentType: v1.MediaTypeImageIndex, Body: idx,
	})
	if err != nil {
		t.Fatal(err)
	}

	steps := []struct {
		label string
		do    func() error
		class error
	}{
		{"blob used by a manifest", func() error { return e.svc.DeleteBlob(ctx, "del/a", digest.FromBytes(layer)) }, errdefs.ErrConflict},
		{"unused blob", func() error { return e.svc.DeleteBlob(ctx, "del/a", loose) }, nil},
		{"unused blob again", func() error { return e.svc.DeleteBlob(ctx, "del/a", loose) }, errdefs.ErrNotFound},
		{"child of an index", func() error { return e.svc.DeleteManifest(ctx, "del/a", img.Digest.String()) }, errdefs.ErrConflict},
		{"tag of the child", func() error { return e.svc.DeleteManifest(ctx, "del/a", "v1") }, nil},
		{"child still held by the index", func() error { return e.svc.DeleteManifest(ctx, "del/a", img.Digest.String()) }, errdefs.ErrConflict},
		{"the index", func() error { return e.svc.DeleteManifest(ctx, "del/a", parent.Digest.String()) }, nil},
		{"then the child", func() error { return e.svc.DeleteManifest(ctx, "del/a", img.Digest.String()) }, nil},
		{"then its blob", func() error { return e.svc.DeleteBlob(ctx, "del/a", digest.FromBytes(layer)) }, nil},
		{"unknown repository", func() error { return e.svc.DeleteManifest(ctx, "del/none", "v1") }, errdefs.ErrNotFound},
	}
	for _, s := range steps {
		err := s.do()
		if s.class == nil && err != nil || s.class != nil && !errors.Is(err, s.class) {
			t.Errorf("%s: %v, want %v", s.label, err, s.class)
		}
	}
	if _, err := e.svc.GetManifest(ctx, "del/a", "multi", false); !errdefs.IsNotFound(err) {
		t.Errorf("tag of a deleted index still resolves: %v", err)
	}
}

func TestListingEdges(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	e.putBlob(t, "list/a", []byte("{}"))
	descs, err := e.svc.Referrers(ctx, "list/none", digest.FromString("x"), "")
	if err != nil || descs == nil || len(descs) != 0 {
		t.Errorf("referrers of an unknown repository = %#v, %v; want an empty, non-nil list", descs, err)
	}
	tags, more, err := e.svc.ListTags(ctx, "list/a", "", 0)
	if err != nil || tags == nil || len(tags) != 0 || more {
		t.Errorf("ListTags(n=0) = %#v, %v, %v", tags, more, err)
	}
	if _, _, err := e.svc.ListTags(ctx, "list/none", "", 10); !errdefs.IsNotFound(err) {
		t.Errorf("ListTags of an unknown repository = %v, want not found", err)
	}
	names, more, err := e.svc.ListRepositories(ctx, "", 0)
	if err != nil || names == nil || len(names) != 0 || more {
		t.Errorf("ListRepositories(n=0) = %#v, %v, %v", names, more, err)
	}
	// Repositories appear in the catalog only once they hold a manifest.
	names, _, err = e.svc.ListRepositories(ctx, "", 10)
	if err != nil || len(names) != 0 {
		t.Errorf("catalog with blobs only = %q, %v", names, err)
	}
}

func TestInvalidNames(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	const bad = "Bad/Name"
	d := digest.FromString("x")
	calls := map[string]func() error{
		"StatBlob":    func() error { _, err := e.svc.StatBlob(ctx, bad, d); return err },
		"StartUpload": func() error { _, err := e.svc.StartUpload(ctx, bad); return err },
		"PutBlob":     func() error { _, err := e.svc.PutBlob(ctx, bad, d, nil); return err },
		"MountBlob":   func() error { _, err := e.svc.MountBlob(ctx, bad, "", d); return err },
		"PutManifest": func() error {
			_, err := e.svc.PutManifest(ctx, registry.ManifestPut{Repository: bad, Reference: "v1", Body: []byte("{}")})
			return err
		},
		"ListTags": func() error { _, _, err := e.svc.ListTags(ctx, bad, "", 1); return err },
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			if err := call(); !errdefs.IsInvalid(err) {
				t.Errorf("%s(%q) = %v, want an invalid-name error", name, bad, err)
			}
		})
	}
}
