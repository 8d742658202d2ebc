package registry_test

import (
	"context"
	"testing"

	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/registry"
)

// setQuota gives project (created if absent) a quota of limit bytes and
// artifacts artifacts.
func (e *env) setQuota(t *testing.T, project string, limit, artifacts int64) {
	t.Helper()
	ctx := context.Background()
	if _, err := e.meta.GetProject(ctx, project); errdefs.IsNotFound(err) {
		if err := e.meta.CreateProject(ctx, &meta.Project{Name: project}); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.meta.PutQuota(ctx, &meta.Quota{Project: project, LimitBytes: limit, ArtifactLimit: artifacts}); err != nil {
		t.Fatal(err)
	}
}

func (e *env) usage(t *testing.T, project string) meta.Usage {
	t.Helper()
	u, err := e.meta.ProjectUsage(context.Background(), project)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// TestPromoteQuota checks that a promotion is held to the destination
// project's quota like a push: refused whole when it would go over, and
// counted exactly (a blob or manifest the project already stores adds no
// stored bytes, a second repository's copy adds an artifact) when allowed.
func TestPromoteQuota(t *testing.T) {
	e := newEnv(t)
	img := e.pushPromotable(t, "staging/app", "v1", "quota")
	size := e.usage(t, "staging").StoredBytes // one image: its blobs and manifest

	e.setQuota(t, "prod", size-1, 0)
	_, err := e.svc.Promote(context.Background(), registry.PromoteRequest{Source: "staging/app:v1", Destination: "prod/app:v1"})
	wantDenied(t, err, "quota exceeded", `"prod"`)
	if u := e.usage(t, "prod"); u != (meta.Usage{}) {
		t.Fatalf("usage after a refused promotion = %+v, want zero (nothing left behind)", u)
	}
	list, err := e.meta.ListPromotions(context.Background(), meta.PromotionQuery{})
	if err != nil || len(list) != 0 {
		t.Fatalf("promotions after a refusal = %v, %v; want none", list, err)
	}

	e.setQuota(t, "prod", size, 2)
	e.promote(t, "staging/app:v1", "prod/app:v1")
	e.wantAvailable(t, "prod/app", img)
	if u := e.usage(t, "prod"); u.StoredBytes != size || u.Artifacts != 1 {
		t.Fatalf("usage after promotion = %+v, want stored %d, 1 artifact", u, size)
	}
	// A second repository of the project: no new bytes, one more artifact,
	// allowed although the byte limit is reached.
	e.promote(t, "staging/app:v1", "prod/mirror:v1")
	if u := e.usage(t, "prod"); u.StoredBytes != size || u.Artifacts != 2 {
		t.Fatalf("usage after a second copy = %+v, want stored %d, 2 artifacts", u, size)
	}
	// A third copy is over the artifact limit.
	_, err = e.svc.Promote(context.Background(), registry.PromoteRequest{Source: "staging/app:v1", Destination: "prod/third:v1"})
	wantDenied(t, err, "quota exceeded")
}
