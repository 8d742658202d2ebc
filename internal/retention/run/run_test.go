package run_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/blob/filesystem"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/meta/sqlite"
	"github.com/berth-registry/berth/internal/registry"
	"github.com/berth-registry/berth/internal/retention/run"
	"github.com/google/go-cmp/cmp"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// The executor runs on the real stores (a SQLite file and a blob
// directory) with a registry service pushing into them and a clock the
// test moves.

var quiet = slog.New(slog.DiscardHandler)

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

type env struct {
	meta  meta.Store
	reg   *registry.Service
	svc   *run.Service
	clock *clock
}

const window = 72 * time.Hour

// policyDoc expires dev-* tags and untagged manifests older than a day.
const policyDoc = `{"rules": [
	{"rulePriority": 1, "description": "dev builds", "selection": {"tagStatus": "tagged",
	 "tagPatternList": ["dev-*"], "countType": "sinceImagePushed", "countUnit": "days", "countNumber": 1}},
	{"rulePriority": 2, "selection": {"tagStatus": "untagged",
	 "countType": "sinceImagePushed", "countUnit": "days", "countNumber": 1}}]}`

// newEnv returns an env on fresh stores; opts adjust the executor's
// Config.
func newEnv(t *testing.T, opts ...func(*run.Config)) *env {
	t.Helper()
	dir := t.TempDir()
	m, err := sqlite.Open(t.Context(), filepath.Join(dir, "berth.db"), sqlite.Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	b, err := filesystem.New(filepath.Join(dir, "storage"), filesystem.Options{})
	if err != nil {
		t.Fatal(err)
	}
	clk := &clock{now: time.Now().UTC()}
	cfg := run.Config{Store: m, RestoreWindow: window, Now: clk.Now, Logger: quiet}
	for _, o := range opts {
		o(&cfg)
	}
	svc, err := run.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(svc.Close)
	if err := m.CreateProject(t.Context(), &meta.Project{Name: "app", CreatedBy: "admin"}); err != nil {
		t.Fatal(err)
	}
	reg := registry.New(m, b, registry.Options{Now: clk.Now})
	return &env{meta: m, reg: reg, svc: svc, clock: clk}
}

// push pushes a small image whose content depends on seed, tagged tag
// ("" for a push by digest).
func (e *env) push(t *testing.T, repo, tag, seed string) digest.Digest {
	t.Helper()
	put := func(data []byte) digest.Digest {
		d := digest.FromBytes(data)
		if _, err := e.reg.PutBlob(t.Context(), repo, d, bytes.NewReader(data)); err != nil {
			t.Fatalf("put blob: %v", err)
		}
		return d
	}
	config, layer := []byte(`{"seed":"`+seed+`"}`), []byte("layer of "+seed)
	m := v1.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: v1.MediaTypeImageManifest,
		Config:    v1.Descriptor{MediaType: v1.MediaTypeImageConfig, Digest: put(config), Size: int64(len(config))},
		Layers:    []v1.Descriptor{{MediaType: v1.MediaTypeImageLayerGzip, Digest: put(layer), Size: int64(len(layer))}},
	}
	body, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	ref := tag
	if ref == "" {
		ref = digest.FromBytes(body).String()
	}
	res, err := e.reg.PutManifest(t.Context(), registry.ManifestPut{Repository: repo, Reference: ref,
		ContentType: v1.MediaTypeImageManifest, Body: body})
	if err != nil {
		t.Fatalf("push %s:%s: %v", repo, ref, err)
	}
	return res.Digest
}

// fixture pushes two repositories of images and sets the policy; every
// dev-* tag and the untagged manifest are old enough to go once the clock
// moves two days, except dev-locked, which an immutability rule keeps.
func (e *env) fixture(t *testing.T) {
	t.Helper()
	e.push(t, "app/api", "v1", "api v1")
	e.push(t, "app/api", "dev-1", "api dev 1")
	e.push(t, "app/api", "dev-2", "api dev 2")
	e.push(t, "app/api", "dev-locked", "api locked")
	untagged := e.push(t, "app/api", "", "api untagged")
	e.push(t, "app/web", "dev-a", "web dev a")
	e.push(t, "app/web", "stable", "web stable")
	e.push(t, "other/api", "dev-1", "another project")
	imm, _ := meta.ImmutabilityOf(e.meta)
	p, err := e.meta.GetProject(t.Context(), "app")
	if err != nil {
		t.Fatal(err)
	}
	if err := imm.PutImmutabilityRule(t.Context(), &meta.ImmutabilityRule{ProjectID: p.ID, Tags: []string{"dev-locked"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.PutPolicy(t.Context(), "app", run.PolicyInput{Policy: json.RawMessage(policyDoc), Enabled: true, By: "alice"}); err != nil {
		t.Fatalf("PutPolicy: %v", err)
	}
	e.clock.Advance(48 * time.Hour)
	_ = untagged
}

// runNow starts a run of project app and waits for it to end.
func (e *env) runNow(t *testing.T, dry bool) *meta.RetentionRun {
	t.Helper()
	r, err := e.svc.Start(t.Context(), "app", dry, run.TriggerManual, "alice")
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	e.svc.Wait()
	got, err := e.svc.GetRun(t.Context(), "app", r.ID)
	if err != nil {
		t.Fatalf("GetRun: %v", err)
	}
	if got.Status != meta.RunSucceeded {
		t.Fatalf("run %d ended %s: %s", got.ID, got.Status, got.Error)
	}
	return got
}

// report returns the report lines of run id as "repo:tag outcome" (or
// "repo@digest outcome" for untagged manifests), sorted.
func (e *env) report(t *testing.T, id int64) []string {
	t.Helper()
	lines, err := e.svc.Report(t.Context(), "app", id, 0, 0)
	if err != nil {
		t.Fatalf("Report: %v", err)
	}
	var out []string
	for _, l := range lines {
		out = append(out, unit(l.Repository, l.Tag, l.Digest)+" "+l.Outcome)
	}
	sort.Strings(out)
	return out
}

func unit(repo, tag string, d digest.Digest) string {
	if tag == "" {
		return repo + "@" + d.String()
	}
	return repo + ":" + tag
}

func TestDryRunEqualsRun(t *testing.T) {
	e := newEnv(t)
	e.fixture(t)
	dry := e.runNow(t, true)
	wouldGo := e.report(t, dry.ID)
	if _, err := e.reg.GetManifest(t.Context(), "app/api", "dev-1", false); err != nil {
		t.Fatalf("a dry run deleted dev-1: %v", err)
	}
	real := e.runNow(t, false)
	went := e.report(t, real.ID)
	var planned, deleted []string
	for _, l := range wouldGo {
		planned = append(planned, l[:len(l)-len(" would delete")])
	}
	for _, l := range went {
		deleted = append(deleted, l[:len(l)-len(" deleted")])
	}
	if diff := cmp.Diff(planned, deleted); diff != "" {
		t.Fatalf("the dry run's report differs from what the run deleted (-dry +real):\n%s", diff)
	}
	if len(deleted) != 7 {
		t.Fatalf("deleted %v; want dev-1, dev-2, dev-a and their 3 manifests, and the untagged one", deleted)
	}
	// What the trash holds is what the report says went.
	trash, err := e.svc.Trash(t.Context(), "app", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	var trashed []string
	for _, r := range trash {
		trashed = append(trashed, unit(r.Repository, r.Tag, r.Digest))
	}
	sort.Strings(trashed)
	if diff := cmp.Diff(deleted, trashed); diff != "" {
		t.Fatalf("trash differs from the report (-report +trash):\n%s", diff)
	}
	for _, kept := range []struct{ repo, tag string }{{"app/api", "v1"}, {"app/api", "dev-locked"}, {"app/web", "stable"}, {"other/api", "dev-1"}} {
		if _, err := e.reg.GetManifest(t.Context(), kept.repo, kept.tag, false); err != nil {
			t.Errorf("%s:%s must be kept: %v", kept.repo, kept.tag, err)
		}
	}
	if p := real.Progress; p.RepositoriesDone != 2 || p.RepositoriesTotal != 2 || p.TagsExamined != 6 || p.TagsDeleted != 3 {
		t.Fatalf("progress = %+v", p)
	}
}

func errorsIs(err, target error) bool { return err != nil && errors.Is(err, target) }
