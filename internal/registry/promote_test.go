package registry_test

import (
	"context"
	"errors"
	"io/fs"
	"path/filepath"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/access"
	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/registry"
	"github.com/google/go-cmp/cmp"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// pushed is a manifest pushed by a test, with the blobs it names.
type pushed struct {
	digest digest.Digest
	body   []byte
	blobs  []digest.Digest
}

// pushPromotable pushes an image of one layer, whose content depends on seed,
// to repo (tagged tag unless tag is "") and returns it.
func (e *env) pushPromotable(t *testing.T, repo, tag, seed string) pushed {
	t.Helper()
	config, layer := []byte(`{"seed":"`+seed+`"}`), []byte("layer of "+seed)
	blobs := []digest.Digest{e.putBlob(t, repo, config), e.putBlob(t, repo, layer)}
	return e.pushManifest(t, repo, tag, v1.MediaTypeImageManifest, manifestOf(t, config, layer), blobs)
}

// pushManifest pushes body to repo by digest, then tags it if tag is set.
func (e *env) pushManifest(t *testing.T, repo, tag, mediaType string, body []byte, blobs []digest.Digest) pushed {
	t.Helper()
	reference := digest.FromBytes(body).String()
	if tag != "" {
		reference = tag
	}
	res, err := e.svc.PutManifest(context.Background(), registry.ManifestPut{
		Repository: repo, Reference: reference, ContentType: mediaType, Body: body,
	})
	if err != nil {
		t.Fatalf("push %s to %s: %v", mediaType, repo, err)
	}
	return pushed{digest: res.Digest, body: body, blobs: blobs}
}

// pushIndex pushes an index of children to repo:tag.
func (e *env) pushIndex(t *testing.T, repo, tag string, children ...pushed) pushed {
	t.Helper()
	idx := v1.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: v1.MediaTypeImageIndex}
	for i, c := range children {
		idx.Manifests = append(idx.Manifests, v1.Descriptor{
			MediaType: v1.MediaTypeImageManifest, Digest: c.digest, Size: int64(len(c.body)),
			Platform: &v1.Platform{OS: "linux", Architecture: []string{"amd64", "arm64", "s390x"}[i%3]},
		})
	}
	return e.pushManifest(t, repo, tag, v1.MediaTypeImageIndex, mustJSON(t, idx), nil)
}

// pushReferrer pushes an artifact of artifactType whose subject is subject
// to repo, untagged.
func (e *env) pushReferrer(t *testing.T, repo string, subject pushed, artifactType, seed string) pushed {
	t.Helper()
	empty, payload := []byte("{}"), []byte(artifactType+" payload "+seed)
	blobs := []digest.Digest{e.putBlob(t, repo, empty), e.putBlob(t, repo, payload)}
	m := v1.Manifest{
		Versioned:    specs.Versioned{SchemaVersion: 2},
		MediaType:    v1.MediaTypeImageManifest,
		ArtifactType: artifactType,
		Config:       v1.Descriptor{MediaType: "application/vnd.oci.empty.v1+json", Digest: blobs[0], Size: 2},
		Layers:       []v1.Descriptor{{MediaType: "application/octet-stream", Digest: blobs[1], Size: int64(len(payload))}},
		Subject:      &v1.Descriptor{MediaType: v1.MediaTypeImageManifest, Digest: subject.digest, Size: int64(len(subject.body))},
	}
	return e.pushManifest(t, repo, "", v1.MediaTypeImageManifest, mustJSON(t, m), blobs)
}

// wantAvailable fails unless repo serves every manifest of ps with the
// same bytes and every blob they name.
func (e *env) wantAvailable(t *testing.T, repo string, ps ...pushed) {
	t.Helper()
	ctx := context.Background()
	for _, p := range ps {
		m, err := e.svc.GetManifest(ctx, repo, p.digest.String(), true)
		if err != nil {
			t.Fatalf("manifest %s in %s: %v", p.digest, repo, err)
		}
		if string(m.Content) != string(p.body) {
			t.Errorf("manifest %s in %s: content differs", p.digest, repo)
		}
		for _, b := range p.blobs {
			if _, err := e.svc.StatBlob(ctx, repo, b); err != nil {
				t.Errorf("blob %s in %s: %v", b, repo, err)
			}
		}
	}
}

// blobFiles counts the files under the blob store's root.
func (e *env) blobFiles(t *testing.T) int {
	t.Helper()
	n := 0
	err := filepath.WalkDir(e.blobs.Root(), func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			n++
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func (e *env) promote(t *testing.T, src, dst string) *registry.Promotion {
	t.Helper()
	ctx := access.WithPrincipal(context.Background(), access.Principal{Kind: access.UserKind, Name: "alice"})
	p, err := e.svc.Promote(ctx, registry.PromoteRequest{Source: src, Destination: dst})
	if err != nil {
		t.Fatalf("Promote(%s, %s): %v", src, dst, err)
	}
	return p
}

func TestPromote(t *testing.T) {
	tests := []struct {
		name string
		// setup pushes the source and returns the reference to promote,
		// what the destination must then serve, and the expected counts.
		setup               func(t *testing.T, e *env) (src string, want []pushed, children, referrers int)
		dst                 string
		wantDigestReferrers bool
	}{
		{
			name: "tag source",
			setup: func(t *testing.T, e *env) (string, []pushed, int, int) {
				img := e.pushPromotable(t, "staging/app", "v1", "a")
				return "staging/app:v1", []pushed{img}, 0, 0
			},
			dst: "prod/app:v1",
		},
		{
			name: "digest source, same project",
			setup: func(t *testing.T, e *env) (string, []pushed, int, int) {
				img := e.pushPromotable(t, "staging/app", "", "a")
				return "staging/app@" + img.digest.String(), []pushed{img}, 0, 0
			},
			dst: "staging/app-release:1.0",
		},
		{
			name: "multi-arch index with children",
			setup: func(t *testing.T, e *env) (string, []pushed, int, int) {
				a, b := e.pushPromotable(t, "staging/app", "", "amd64"), e.pushPromotable(t, "staging/app", "", "arm64")
				idx := e.pushIndex(t, "staging/app", "v2", a, b)
				return "staging/app:v2", []pushed{idx, a, b}, 2, 0
			},
			dst: "prod/app:v2",
		},
		{
			name: "referrers follow, recursively, of the index and its children",
			setup: func(t *testing.T, e *env) (string, []pushed, int, int) {
				a := e.pushPromotable(t, "staging/app", "", "amd64")
				idx := e.pushIndex(t, "staging/app", "v3", a)
				sig := e.pushReferrer(t, "staging/app", idx, "application/vnd.dev.cosign.artifact.sig.v1+json", "1")
				sbom := e.pushReferrer(t, "staging/app", a, "application/spdx+json", "2")
				sbomSig := e.pushReferrer(t, "staging/app", sbom, "application/vnd.dev.cosign.artifact.sig.v1+json", "3")
				e.pushPromotable(t, "staging/app", "other", "unrelated")
				return "staging/app:v3", []pushed{idx, a, sig, sbom, sbomSig}, 1, 3
			},
			dst: "prod/app:v3",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			src, want, children, referrers := tc.setup(t, e)
			files := e.blobFiles(t)
			got := e.promote(t, src, tc.dst)
			dstRepo, dstTag, _ := registry.SplitReference(tc.dst)
			srcRepo, srcRef, _ := registry.SplitReference(src)
			wantRec := meta.Promotion{
				ID: got.ID, Digest: want[0].digest,
				SourceRepository: srcRepo, SourceProject: access.ProjectOf(srcRepo), SourceReference: srcRef,
				DestinationRepository: dstRepo, DestinationProject: access.ProjectOf(dstRepo), Tag: dstTag,
				PromotedBy: "alice", PromotedAt: e.clock.Now().UTC().Truncate(time.Microsecond),
				Children: children, Referrers: referrers,
			}
			if d := cmp.Diff(wantRec, got.Promotion); d != "" {
				t.Errorf("record (-want +got):\n%s", d)
			}
			e.wantAvailable(t, dstRepo, want...)
			m, err := e.svc.GetManifest(context.Background(), dstRepo, dstTag, false)
			if err != nil || m.Digest != want[0].digest {
				t.Fatalf("destination tag resolves to %v (%v), want %s", m, err, want[0].digest)
			}
			if _, err := e.svc.GetManifest(context.Background(), dstRepo, "other", false); !errdefs.IsNotFound(err) {
				t.Errorf("an unrelated tag came along: %v", err)
			}
			if n := e.blobFiles(t); n != files {
				t.Errorf("blob store holds %d files after the promotion, %d before: data was copied", n, files)
			}
			list, err := e.meta.ListPromotions(context.Background(), meta.PromotionQuery{Digest: want[0].digest})
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff([]meta.Promotion{got.Promotion}, list); d != "" {
				t.Errorf("stored history (-want +got):\n%s", d)
			}
		})
	}
}

func TestPromoteReferrersListedAtDestination(t *testing.T) {
	e := newEnv(t)
	img := e.pushPromotable(t, "staging/app", "v1", "a")
	sig := e.pushReferrer(t, "staging/app", img, "application/vnd.dev.cosign.artifact.sig.v1+json", "1")
	e.promote(t, "staging/app:v1", "prod/app:v1")
	descs, err := e.svc.Referrers(context.Background(), "prod/app", img.digest, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(descs) != 1 || descs[0].Digest != sig.digest {
		t.Fatalf("referrers at the destination = %v, want the signature %s", descs, sig.digest)
	}
}

func TestPromoteImmutableDestinationLeavesNothing(t *testing.T) {
	e := newEnv(t)
	e.addRule(t, "prod", nil, []string{"v*"})
	old := e.pushPromotable(t, "prod/app", "v1", "old")
	img := e.pushPromotable(t, "staging/app", "v1", "new")
	_, err := e.svc.Promote(context.Background(), registry.PromoteRequest{Source: "staging/app:v1", Destination: "prod/app:v1"})
	wantDenied(t, err, "v1", "immutable")
	ctx := context.Background()
	m, err := e.svc.GetManifest(ctx, "prod/app", "v1", false)
	if err != nil || m.Digest != old.digest {
		t.Fatalf("immutable tag now resolves to %v (%v), want %s", m, err, old.digest)
	}
	if _, err := e.svc.GetManifest(ctx, "prod/app", img.digest.String(), false); !errdefs.IsNotFound(err) {
		t.Errorf("the refused manifest was left in the destination: %v", err)
	}
	for _, b := range img.blobs {
		if _, err := e.svc.StatBlob(ctx, "prod/app", b); !errdefs.IsNotFound(err) {
			t.Errorf("blob %s was left linked in the destination: %v", b, err)
		}
	}
	list, err := e.meta.ListPromotions(ctx, meta.PromotionQuery{})
	if err != nil || len(list) != 0 {
		t.Errorf("promotions after a refusal = %v, %v; want none", list, err)
	}
	// A brand-new immutable tag is set: it is not moved.
	e.promote(t, "staging/app:v1", "prod/app:v2")
	// And the identical digest again is no move either.
	e.promote(t, "staging/app:v1", "prod/app:v2")
}

func TestPromoteAgainResetsAge(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.pushPromotable(t, "staging/app", "v1", "a")
	first := e.promote(t, "staging/app:v1", "prod/app:stable")
	e.clock.Advance(90 * 24 * time.Hour)
	second := e.promote(t, "staging/app:v1", "prod/app:stable")
	if second.Previous != "" {
		t.Errorf("Previous = %s for a tag already at the digest, want none", second.Previous)
	}
	if !second.PromotedAt.After(first.PromotedAt) {
		t.Errorf("second promotion at %v, not after the first at %v", second.PromotedAt, first.PromotedAt)
	}
	r, err := e.meta.GetRepository(ctx, "prod/app")
	if err != nil {
		t.Fatal(err)
	}
	tag, err := e.meta.GetTag(ctx, r.ID, "stable")
	if err != nil {
		t.Fatal(err)
	}
	if want := e.clock.Now().UTC().Truncate(time.Microsecond); !tag.UpdatedAt.Equal(want) {
		t.Errorf("tag set at %v after the re-promotion, want %v (now)", tag.UpdatedAt, want)
	}
	list, err := e.meta.ListPromotions(ctx, meta.PromotionQuery{Project: "prod"})
	if err != nil || len(list) != 2 {
		t.Fatalf("history = %v, %v; want both promotions", list, err)
	}
}

func TestPromoteMovesTagAndReportsPrevious(t *testing.T) {
	e := newEnv(t)
	old := e.pushPromotable(t, "prod/app", "stable", "old")
	e.pushPromotable(t, "staging/app", "v2", "new")
	p := e.promote(t, "staging/app:v2", "prod/app:stable")
	if p.Previous != old.digest {
		t.Errorf("Previous = %q, want %s", p.Previous, old.digest)
	}
}

func TestPromoteErrors(t *testing.T) {
	e := newEnv(t)
	img := e.pushPromotable(t, "staging/app", "v1", "a")
	tests := []struct {
		name     string
		src, dst string
		class    error
	}{
		{"missing source repository", "nope/app:v1", "prod/app:v1", errdefs.ErrNotFound},
		{"missing source tag", "staging/app:v9", "prod/app:v1", errdefs.ErrNotFound},
		{"missing source digest", "staging/app@" + digest.FromString("x").String(), "prod/app:v1", errdefs.ErrNotFound},
		{"destination by digest", "staging/app:v1", "prod/app@" + img.digest.String(), errdefs.ErrInvalid},
		{"source without reference", "staging/app", "prod/app:v1", errdefs.ErrInvalid},
		{"bad destination name", "staging/app:v1", "Prod/App:v1", errdefs.ErrInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.svc.Promote(context.Background(), registry.PromoteRequest{Source: tc.src, Destination: tc.dst})
			if !errors.Is(err, tc.class) {
				t.Fatalf("err = %v, want class %v", err, tc.class)
			}
		})
	}
	if _, err := e.svc.GetManifest(context.Background(), "prod/app", img.digest.String(), false); !errdefs.IsNotFound(err) {
		t.Errorf("a failed promotion left the manifest behind: %v", err)
	}
}

func TestSplitReference(t *testing.T) {
	d := digest.FromString("x")
	tests := []struct {
		in, repo, ref string
		ok            bool
	}{
		{"a/b:v1", "a/b", "v1", true},
		{"a/b@" + d.String(), "a/b", d.String(), true},
		{"localhost/a/b:latest", "localhost/a/b", "latest", true},
		{"a/b", "", "", false},
		{"a/b@sha256:zz", "", "", false},
		{":v1", "", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			repo, ref, err := registry.SplitReference(tc.in)
			if (err == nil) != tc.ok || repo != tc.repo || ref != tc.ref {
				t.Fatalf("SplitReference(%q) = %q, %q, %v", tc.in, repo, ref, err)
			}
		})
	}
}
