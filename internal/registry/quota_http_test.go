package registry_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/api/admin/wire"
	"github.com/berth-registry/berth/internal/berthtest"
	"github.com/berth-registry/berth/internal/blob/filesystem"
	"github.com/berth-registry/berth/internal/client"
	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/berth-registry/berth/internal/gc"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/meta/sqlite"
	"github.com/google/go-cmp/cmp"
	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// Quota tests run a real server over HTTP and look at its stores (the
// SQLite file and the blob directory) from the side, to see that a refused
// push leaves nothing behind.

type quotaEnv struct {
	reg   *berthtest.Registry
	api   *client.Client
	meta  *sqlite.Store
	blobs *filesystem.Store
}

func newQuotaEnv(t *testing.T, projects ...string) *quotaEnv {
	t.Helper()
	srv := berthtest.Start(t)
	reg := srv.Registry()
	reg.HTTP = berthtest.WithCredentials(reg.HTTP, berthtest.AdminUser, berthtest.AdminPassword)
	api, err := client.New(srv.URL, client.Options{Username: berthtest.AdminUser, Secret: berthtest.AdminPassword})
	if err != nil {
		t.Fatal(err)
	}
	dbPath, err := srv.Config.MetadataPath()
	if err != nil {
		t.Fatal(err)
	}
	m, err := sqlite.Open(t.Context(), dbPath, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	dir, err := srv.Config.StoragePath()
	if err != nil {
		t.Fatal(err)
	}
	b, err := filesystem.New(dir, filesystem.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range projects {
		if _, err := api.CreateProject(t.Context(), wire.NewProject{Name: p}); err != nil {
			t.Fatalf("create project %s: %v", p, err)
		}
	}
	return &quotaEnv{reg: reg, api: api, meta: m, blobs: b}
}

func (e *quotaEnv) setQuota(t *testing.T, project string, s wire.QuotaSettings) {
	t.Helper()
	if _, err := e.api.SetQuota(t.Context(), project, s); err != nil {
		t.Fatalf("set quota of %s: %v", project, err)
	}
	// The registry reuses a project's quota for up to 2s; a fresh project
	// was never looked up, so the new quota applies at once.
}

func (e *quotaEnv) usage(t *testing.T, project string) wire.QuotaUsage {
	t.Helper()
	q, err := e.api.GetQuota(t.Context(), project)
	if err != nil {
		t.Fatalf("get quota of %s: %v", project, err)
	}
	u := q.Usage
	u.Percent, u.Warning = 0, false
	return u
}

func (e *quotaEnv) wantUsage(t *testing.T, project string, stored, logical, artifacts int64) {
	t.Helper()
	want := wire.QuotaUsage{StoredBytes: stored, LogicalBytes: logical, Artifacts: artifacts}
	if d := cmp.Diff(want, e.usage(t, project)); d != "" {
		t.Errorf("usage of %s (-want +got):\n%s", project, d)
	}
}

// wantNothingLeft fails if dgst is recorded, its bytes stored, or any
// upload data or session remains.
func (e *quotaEnv) wantNothingLeft(t *testing.T, dgst digest.Digest) {
	t.Helper()
	ctx := t.Context()
	if _, err := e.meta.GetBlob(ctx, dgst); !errdefs.IsNotFound(err) {
		t.Errorf("refused blob %s is recorded (err %v)", dgst, err)
	}
	if _, err := e.blobs.Stat(ctx, dgst); !errdefs.IsNotFound(err) {
		t.Errorf("bytes of refused blob %s are stored (err %v)", dgst, err)
	}
	var ids []string
	if err := e.blobs.ListUploads(ctx, func(id string, _ time.Time) error { ids = append(ids, id); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(ids) > 0 {
		t.Errorf("upload data left behind: %v", ids)
	}
	expired, err := e.meta.ListExpiredUploads(ctx, time.Now().Add(1000*time.Hour), 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(expired) > 0 {
		t.Errorf("upload sessions left behind: %d", len(expired))
	}
}

// wantQuotaDenied fails unless err is a 403 DENIED naming the quota.
func wantQuotaDenied(t *testing.T, err error, parts ...string) {
	t.Helper()
	var se *berthtest.StatusError
	if !errors.As(err, &se) || se.Code != http.StatusForbidden {
		t.Fatalf("err = %v, want 403 DENIED", err)
	}
	for _, p := range append([]string{"DENIED", "quota exceeded for project"}, parts...) {
		if !strings.Contains(se.Body, p) {
			t.Errorf("refusal %q does not say %q", se.Body, p)
		}
	}
}

func sized(n int, fill byte) []byte { return bytes.Repeat([]byte{fill}, n) }

func TestQuotaMonolithic(t *testing.T) {
	ctx := t.Context()
	e := newQuotaEnv(t, "q")
	e.setQuota(t, "q", wire.QuotaSettings{LimitBytes: 1000})
	if _, err := e.reg.PushBlob(ctx, "q/a", sized(600, 'a')); err != nil {
		t.Fatal(err)
	}
	over := sized(401, 'b')
	_, err := e.reg.PushBlob(ctx, "q/a", over)
	wantQuotaDenied(t, err, "storing 401 B would bring 600 B to 1001 B, over the 1000 B limit")
	e.wantNothingLeft(t, digest.FromBytes(over))
	e.wantUsage(t, "q", 600, 0, 0)

	// Exactly at the limit passes; a blob the project holds adds nothing.
	if _, err := e.reg.PushBlob(ctx, "q/a", sized(400, 'c')); err != nil {
		t.Fatalf("push up to the limit: %v", err)
	}
	if _, err := e.reg.PushBlob(ctx, "q/other", sized(400, 'c')); err != nil {
		t.Fatalf("push a blob the project holds into another repository: %v", err)
	}
	e.wantUsage(t, "q", 1000, 0, 0)
	if q, err := e.api.GetQuota(ctx, "q"); err != nil || q.Usage.Percent != 100 || !q.Usage.Warning {
		t.Errorf("quota at the limit = %+v, %v; want 100%% with a warning", q, err)
	}
}

func TestQuotaChunked(t *testing.T) {
	ctx := t.Context()
	e := newQuotaEnv(t, "q", "r")
	e.setQuota(t, "q", wire.QuotaSettings{LimitBytes: 1000})
	e.setQuota(t, "r", wire.QuotaSettings{LimitBytes: 1000})

	// Exactly the limit, in chunks.
	if _, err := e.reg.PushBlobChunked(ctx, "q/a", sized(1000, 'a'), 300); err != nil {
		t.Fatalf("chunked push up to the limit: %v", err)
	}
	e.wantUsage(t, "q", 1000, 0, 0)

	// Over: the PATCH that takes the upload past what is left fails, and
	// the whole session goes.
	data := sized(1500, 'b')
	loc, err := e.reg.StartUpload(ctx, "r/a")
	if err != nil {
		t.Fatal(err)
	}
	if loc, _, err = e.reg.PatchChunk(ctx, loc, 0, bytes.NewReader(data[:600]), 600); err != nil {
		t.Fatalf("first chunk: %v", err)
	}
	_, _, err = e.reg.PatchChunk(ctx, loc, 600, bytes.NewReader(data[600:1200]), 600)
	wantQuotaDenied(t, err, "this upload has received", "1000 B left")
	if _, err := e.reg.UploadStatus(ctx, loc); !berthtest.IsStatus(err, http.StatusNotFound) {
		t.Errorf("upload session after the refusal: err %v, want 404", err)
	}
	e.wantNothingLeft(t, digest.FromBytes(data))

	// The final PUT carrying the excess is refused the same way.
	loc, err = e.reg.StartUpload(ctx, "r/a")
	if err != nil {
		t.Fatal(err)
	}
	if loc, _, err = e.reg.PatchChunk(ctx, loc, 0, bytes.NewReader(data[:900]), 900); err != nil {
		t.Fatalf("chunk within the limit: %v", err)
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPut, loc+sep(loc)+"digest="+url.QueryEscape(digest.FromBytes(data).String()), bytes.NewReader(data[900:]))
	req.Header.Set("Content-Type", "application/octet-stream")
	wantQuotaDenied(t, doStatus(t, e.reg.HTTP, req, http.StatusCreated), "storing 1.5 KiB would bring 0 B to 1.5 KiB, over the 1000 B limit")
	e.wantNothingLeft(t, digest.FromBytes(data))
	e.wantUsage(t, "r", 0, 0, 0)
}

func sep(loc string) string {
	if strings.Contains(loc, "?") {
		return "&"
	}
	return "?"
}

// doStatus sends req and returns a *berthtest.StatusError unless the
// answer has status want.
func doStatus(t *testing.T, c *http.Client, req *http.Request, want int) error {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == want {
		return nil
	}
	var body bytes.Buffer
	_, _ = body.ReadFrom(resp.Body)
	return &berthtest.StatusError{Method: req.Method, URL: req.URL.String(), Code: resp.StatusCode, Body: body.String()}
}

func (e *quotaEnv) mount(t *testing.T, repo, from string, dgst digest.Digest) error {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost,
		e.reg.Base+"/v2/"+repo+"/blobs/uploads/?mount="+url.QueryEscape(dgst.String())+"&from="+url.QueryEscape(from), nil)
	return doStatus(t, e.reg.HTTP, req, http.StatusCreated)
}

func TestQuotaMount(t *testing.T) {
	ctx := t.Context()
	e := newQuotaEnv(t, "q", "p", "src")
	big := sized(800, 'm')
	d, err := e.reg.PushBlob(ctx, "src/a", big)
	if err != nil {
		t.Fatal(err)
	}
	e.setQuota(t, "q", wire.QuotaSettings{LimitBytes: 1000})
	if _, err := e.reg.PushBlob(ctx, "q/a", sized(300, 'x')); err != nil {
		t.Fatal(err)
	}
	wantQuotaDenied(t, e.mount(t, "q/a", "src/a", d), "storing 800 B would bring 300 B to 1.1 KiB")
	if _, err := e.meta.GetRepository(ctx, "q/a"); err != nil {
		t.Fatal(err)
	}
	e.wantUsage(t, "q", 300, 0, 0)
	if _, err := e.reg.GetBlob(ctx, "q/a", d); !berthtest.IsStatus(err, http.StatusNotFound) {
		t.Errorf("refused mount serves the blob: %v", err)
	}

	// Up to the limit a mount passes, and a blob the project already
	// links mounts into another of its repositories at the limit.
	e.setQuota(t, "p", wire.QuotaSettings{LimitBytes: 1100})
	if _, err := e.reg.PushBlob(ctx, "p/a", sized(300, 'x')); err != nil {
		t.Fatal(err)
	}
	if err := e.mount(t, "p/a", "src/a", d); err != nil {
		t.Fatalf("mount up to the limit: %v", err)
	}
	if err := e.mount(t, "p/b", "p/a", d); err != nil {
		t.Fatalf("mount of a blob the project holds: %v", err)
	}
	e.wantUsage(t, "p", 1100, 0, 0)
}

// pushImage pushes config and layer blobs and an image manifest to
// repo:tag over HTTP and returns the manifest bytes.
func (e *quotaEnv) pushImage(t *testing.T, repo, tag string, config []byte, layers ...[]byte) ([]byte, error) {
	t.Helper()
	ctx := t.Context()
	for _, b := range append([][]byte{config}, layers...) {
		if _, err := e.reg.PushBlob(ctx, repo, b); err != nil {
			t.Fatalf("push blob: %v", err)
		}
	}
	body := manifestOf(t, config, layers...)
	_, err := e.reg.PutManifest(ctx, repo, tag, v1.MediaTypeImageManifest, body)
	return body, err
}

func TestQuotaManifests(t *testing.T) {
	ctx := t.Context()
	e := newQuotaEnv(t, "q", "n")
	config, layer := []byte(`{"quota":"manifest"}`), sized(500, 'l')
	blobs := int64(len(config) + len(layer))
	e.setQuota(t, "q", wire.QuotaSettings{LimitBytes: blobs + 10})
	body, err := e.pushImage(t, "q/a", "v1", config, layer)
	wantQuotaDenied(t, err, "storing")
	if _, _, _, err := e.reg.GetManifest(ctx, "q/a", "v1"); !berthtest.IsStatus(err, http.StatusNotFound) {
		t.Errorf("refused manifest is served: %v", err)
	}
	e.wantUsage(t, "q", blobs, 0, 0)

	// With room for it, the push passes; the same manifest in a second
	// repository of the project adds logical bytes and an artifact only.
	size := int64(len(body))
	e.setQuota(t, "n", wire.QuotaSettings{LimitBytes: blobs + size + 1000, ArtifactLimit: 2})
	if _, err := e.pushImage(t, "n/a", "v1", config, layer); err != nil {
		t.Fatalf("push within the limits: %v", err)
	}
	if _, err := e.pushImage(t, "n/b", "v1", config, layer); err != nil {
		t.Fatalf("push the same image into a second repository: %v", err)
	}
	e.wantUsage(t, "n", blobs+size, 2*(blobs+size), 2)

	// The artifact limit: a third artifact is refused.
	_, err = e.pushImage(t, "n/b", "v2", config)
	wantQuotaDenied(t, err, "1 more artifact(s) would bring 2 to 3, over the limit of 2 artifacts")
	e.wantUsage(t, "n", blobs+size, 2*(blobs+size), 2)
}

func TestQuotaUsageDropsAfterGC(t *testing.T) {
	ctx := t.Context()
	e := newQuotaEnv(t, "q", "other")
	config, layer := []byte(`{"quota":"gc"}`), sized(700, 'g')
	body, err := e.pushImage(t, "q/a", "v1", config, layer)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.pushImage(t, "other/b", "v1", config, layer); err != nil {
		t.Fatal(err)
	}
	total := int64(len(config) + len(layer) + len(body))
	e.wantUsage(t, "q", total, total, 1)
	if err := e.reg.DeleteManifest(ctx, "q/a", digest.FromBytes(body).String()); err != nil {
		t.Fatal(err)
	}
	e.wantUsage(t, "q", int64(len(config)+len(layer)), 0, 0)

	// Collect as if the upload leases (24h by default) were over.
	later := func() time.Time { return time.Now().Add(72 * time.Hour) }
	c, err := gc.New(e.meta, e.blobs, gc.Config{Now: later})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := c.Run(ctx, gc.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.LinksPruned != 2 || rep.Deleted != 0 {
		t.Errorf("gc report = %+v, want 2 links pruned, no blob deleted (other/b uses them)", rep)
	}
	e.wantUsage(t, "q", 0, 0, 0)
	e.wantUsage(t, "other", total, total, 1)
}

func TestQuotaConcurrentPushesForTheLastBytes(t *testing.T) {
	ctx := t.Context()
	e := newQuotaEnv(t, "q")
	e.setQuota(t, "q", wire.QuotaSettings{LimitBytes: 1000})
	const pushers = 4
	errs := make([]error, pushers)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range pushers {
		wg.Go(func() {
			<-start
			_, errs[i] = e.reg.PushBlob(context.WithoutCancel(ctx), "q/r", sized(600, byte('0'+i)))
		})
	}
	close(start)
	wg.Wait()
	won := 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		default:
			wantQuotaDenied(t, err)
		}
	}
	if won != 1 {
		t.Fatalf("%d of %d pushes racing for the last bytes won, want exactly 1 (errors %v)", won, pushers, errs)
	}
	e.wantUsage(t, "q", 600, 0, 0)
}

func TestQuotaWarningIsAuditedOncePerCrossing(t *testing.T) {
	ctx := t.Context()
	e := newQuotaEnv(t, "w")
	e.setQuota(t, "w", wire.QuotaSettings{LimitBytes: 1000, WarnBytes: 500})
	for i, n := range []int{400, 200, 100} { // crosses 500 on the second push only
		if _, err := e.reg.PushBlob(ctx, "w/a", sized(n, byte('a'+i))); err != nil {
			t.Fatal(err)
		}
	}
	events, err := e.meta.ListAudit(ctx, meta.AuditFilter{Action: "quota.warning", Project: "w"})
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 1 || !strings.Contains(events[0].Detail, "600 B, at or over its warning threshold of 500 B") {
		t.Errorf("warning events = %+v, want one naming 600 B over the 500 B threshold", events)
	}
	q, err := e.api.GetQuota(ctx, "w")
	if err != nil || !q.Usage.Warning || q.Usage.Percent != 70 {
		t.Errorf("quota = %+v, %v; want a warning at 70%%", q, err)
	}
}
