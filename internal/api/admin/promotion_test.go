package admin_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/api/admin/wire"
	"github.com/berth-registry/berth/internal/berthtest"
	"github.com/berth-registry/berth/internal/client"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// promotionWorld is a full server (registry and admin API over real HTTP)
// with private projects staging and prod, an image at staging/app:v1 and
// robots of differing permissions.
type promotionWorld struct {
	srv    *berthtest.Server
	admin  *client.Client
	image  digest.Digest
	robots map[string]*client.Client
}

func newPromotionWorld(t *testing.T) *promotionWorld {
	t.Helper()
	ctx := t.Context()
	srv := berthtest.Start(t)
	w := &promotionWorld{srv: srv, admin: clientAs(t, srv, berthtest.AdminUser, berthtest.AdminPassword), robots: map[string]*client.Client{}}
	for _, p := range []string{"staging", "prod"} {
		if _, err := w.admin.CreateProject(ctx, wire.NewProject{Name: p}); err != nil {
			t.Fatal(err)
		}
	}
	w.image = pushTestImage(t, srv.Registry(), "staging/app", "v1")
	perm := func(project string, actions ...string) wire.Permission {
		return wire.Permission{Project: project, Actions: actions}
	}
	for name, perms := range map[string][]wire.Permission{
		"promoter":    {perm("staging", "pull"), perm("prod", "pull", "push")},
		"prodreader":  {perm("staging", "pull"), perm("prod", "pull")},
		"stagingonly": {perm("staging", "pull", "push")},
		"prodonly":    {perm("prod", "pull", "push")},
	} {
		r, err := w.admin.CreateRobot(ctx, "", wire.NewRobot{Name: name, Permissions: perms})
		if err != nil {
			t.Fatalf("create robot %s: %v", name, err)
		}
		w.robots[name] = clientAs(t, srv, r.Name, r.Secret)
	}
	return w
}

func clientAs(t *testing.T, srv *berthtest.Server, user, secret string) *client.Client {
	t.Helper()
	c, err := client.New(srv.URL, client.Options{Username: user, Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// pushTestImage pushes a one-layer image to repo:tag and returns its digest.
func pushTestImage(t *testing.T, reg *berthtest.Registry, repo, tag string) digest.Digest {
	t.Helper()
	ctx := t.Context()
	config, layer := []byte(`{"architecture":"amd64","os":"linux"}`), []byte("layer of "+repo+":"+tag)
	var descs []v1.Descriptor
	for _, b := range [][]byte{config, layer} {
		d, err := reg.PushBlob(ctx, repo, b)
		if err != nil {
			t.Fatal(err)
		}
		descs = append(descs, v1.Descriptor{Digest: d, Size: int64(len(b))})
	}
	descs[0].MediaType, descs[1].MediaType = v1.MediaTypeImageConfig, v1.MediaTypeImageLayerGzip
	m := v1.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: v1.MediaTypeImageManifest,
		Config: descs[0], Layers: descs[1:]}
	d, err := reg.PutManifest(ctx, repo, tag, v1.MediaTypeImageManifest, mustMarshal(t, m))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func mustMarshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// statusOf returns the HTTP status of a client error (0 for nil).
func statusOf(t *testing.T, err error) int {
	t.Helper()
	if err == nil {
		return 0
	}
	var apiErr *client.Error
	if !errors.As(err, &apiErr) {
		t.Fatalf("error %v is no API error", err)
	}
	return apiErr.Status
}

func TestPromotionAPIAuthorization(t *testing.T) {
	w := newPromotionWorld(t)
	tests := []struct {
		robot, src, dst string
		status          int
	}{
		{"stagingonly", "staging/app:v1", "prod/app:v1", http.StatusNotFound},  // cannot see prod
		{"prodonly", "staging/app:v1", "prod/app:v1", http.StatusNotFound},     // cannot pull the source
		{"prodonly", "staging/nothing:v1", "prod/app:v1", http.StatusNotFound}, // same answer: nothing leaks
		{"prodreader", "staging/app:v1", "prod/app:v1", http.StatusForbidden},  // sees prod, may not push
		{"promoter", "staging/app:v9", "prod/app:v1", http.StatusNotFound},     // no such tag
		{"promoter", "staging/app:v1", "prod/app@" + w.image.String(), http.StatusBadRequest},
		{"promoter", "staging/app:v1", "prod/app:v1", 0},
	}
	for _, tc := range tests {
		t.Run(tc.robot+" "+tc.src+" to "+tc.dst, func(t *testing.T) {
			_, err := w.robots[tc.robot].Promote(t.Context(), tc.src, tc.dst)
			if got := statusOf(t, err); got != tc.status {
				t.Fatalf("status %d (%v), want %d", got, err, tc.status)
			}
		})
	}
	// Only the allowed promotion took place.
	_, _, d, err := w.srv.Registry().GetManifest(t.Context(), "prod/app", "v1")
	if err != nil || d != w.image {
		t.Fatalf("prod/app:v1 = %s, %v; want %s", d, err, w.image)
	}
}

func TestPromotionAPIRecordAndHistory(t *testing.T) {
	w := newPromotionWorld(t)
	ctx := t.Context()
	got, err := w.robots["promoter"].Promote(ctx, "staging/app:v1", "prod/app:stable")
	if err != nil {
		t.Fatal(err)
	}
	if got.ID == 0 || got.Digest != w.image.String() || got.SourceRepository != "staging/app" || got.SourceReference != "v1" ||
		got.DestinationRepository != "prod/app" || got.Tag != "stable" || got.PromotedBy == "" || got.PromotedAt == "" {
		t.Errorf("record = %+v", got)
	}
	if _, err := w.admin.Promote(ctx, "staging/app@"+w.image.String(), "prod/app:latest"); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		as     *client.Client
		q      client.PromotionQuery
		tags   []string
		source bool
	}{
		{"by digest", w.admin, client.PromotionQuery{Digest: w.image.String()}, []string{"latest", "stable"}, true},
		{"by project", w.admin, client.PromotionQuery{Project: "prod"}, []string{"latest", "stable"}, true},
		{"paged", w.admin, client.PromotionQuery{Project: "staging", Limit: 1}, []string{"latest"}, true},
		{"a robot that cannot pull the source sees no source", w.robots["prodonly"], client.PromotionQuery{Project: "prod"}, []string{"latest", "stable"}, false},
		{"a robot that cannot pull the destination sees nothing", w.robots["stagingonly"], client.PromotionQuery{Project: "staging"}, []string{}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			list, err := tc.as.ListPromotions(ctx, tc.q)
			if err != nil {
				t.Fatal(err)
			}
			tags := []string{}
			for _, p := range list.Promotions {
				tags = append(tags, p.Tag)
				if (p.SourceRepository != "") != tc.source {
					t.Errorf("source shown = %q, want shown %v", p.SourceRepository, tc.source)
				}
			}
			if len(tags) != len(tc.tags) || len(tags) > 0 && tags[0] != tc.tags[0] {
				t.Fatalf("tags %v, want %v", tags, tc.tags)
			}
			if tc.q.Limit == 1 {
				if list.Next == "" {
					t.Fatal("a full page without a next cursor")
				}
				next, err := tc.as.ListPromotions(ctx, client.PromotionQuery{Project: "staging", Limit: 1, After: list.Next})
				if err != nil || len(next.Promotions) != 1 || next.Promotions[0].Tag != "stable" {
					t.Fatalf("second page = %+v, %v", next, err)
				}
			}
		})
	}
	if _, err := w.admin.ListPromotions(ctx, client.PromotionQuery{Digest: "sha256:nope"}); statusOf(t, err) != http.StatusBadRequest {
		t.Errorf("bad digest: %v, want 400", err)
	}
}

func TestPromotionAPIAudited(t *testing.T) {
	w := newPromotionWorld(t)
	ctx := t.Context()
	if _, err := w.robots["promoter"].Promote(ctx, "staging/app:v1", "prod/app:v1"); err != nil {
		t.Fatal(err)
	}
	_, _ = w.robots["prodreader"].Promote(ctx, "staging/app:v1", "prod/app:v2")
	// The audit writer is asynchronous: read until both events are there.
	var outcomes []string
	for len(outcomes) < 2 {
		list, err := w.admin.ListAudit(context.WithoutCancel(ctx), client.AuditQuery{Action: "promotion.create"})
		if err != nil {
			t.Fatal(err)
		}
		outcomes = outcomes[:0]
		time.Sleep(20 * time.Millisecond)
		for _, e := range list.Events {
			outcomes = append(outcomes, e.Outcome+" "+e.Project)
		}
	}
	if outcomes[0] != "denied prod" || outcomes[1] != "success prod" {
		t.Errorf("audit outcomes %v, want [denied prod, success prod]", outcomes)
	}
}
