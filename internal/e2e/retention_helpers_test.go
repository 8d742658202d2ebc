package e2e

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/berthtest"
	"github.com/berth-registry/berth/internal/blob"
	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// The retention tests speak to the admin API with raw HTTP and their own
// copies of the wire shapes, as any client would: a change of the JSON the
// server answers breaks them.

// rtRun is a retention run as GET .../retention/runs/{id} shows it.
type rtRun struct {
	ID       int64  `json:"id"`
	DryRun   bool   `json:"dry_run"`
	Status   string `json:"status"`
	Error    string `json:"error"`
	Finished string `json:"finished_at"`
	Progress struct {
		RepositoriesDone  int64 `json:"repositories_done"`
		RepositoriesTotal int64 `json:"repositories_total"`
		TagsExamined      int64 `json:"tags_examined"`
		TagsDeleted       int64 `json:"tags_deleted"`
		ManifestsDeleted  int64 `json:"manifests_deleted"`
		TagsSkipped       int64 `json:"tags_skipped"`
	} `json:"progress"`
}

// finished reports whether the run reached an end state.
func (r *rtRun) finished() bool {
	switch r.Status {
	case "succeeded", "failed", "interrupted":
		return true
	}
	return false
}

// rtDecision is one line of a run's report.
type rtDecision struct {
	Seq        int64  `json:"seq"`
	Repository string `json:"repository"`
	Tag        string `json:"tag"`
	Digest     string `json:"digest"`
	Rule       int    `json:"rule"`
	Reason     string `json:"reason"`
	Outcome    string `json:"outcome"`
}

// key names what the line deleted: "repo:tag@digest", or "repo@digest"
// for an untagged manifest.
func (d rtDecision) key() string {
	if d.Tag != "" {
		return d.Repository + ":" + d.Tag + "@" + d.Digest
	}
	return d.Repository + "@" + d.Digest
}

// rtTrashEntry is one row of the trash listing.
type rtTrashEntry struct {
	ID         int64  `json:"id"`
	Repository string `json:"repository"`
	Tag        string `json:"tag"`
	Digest     string `json:"digest"`
	RunID      int64  `json:"run_id"`
}

// rtAdmin calls the admin API of one server as the admin.
type rtAdmin struct {
	base string
	http *http.Client
}

func newRTAdmin(p *berthtest.Process) *rtAdmin { return &rtAdmin{base: p.URL, http: p.Client} }

// call sends in (if not nil) as JSON and decodes the answer into out (if
// not nil); it returns an error unless the status is want.
func (a *rtAdmin) call(ctx context.Context, method, path string, in, out any, want int) error {
	var body io.Reader
	if in != nil {
		data, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(data)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := a.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != want {
		return fmt.Errorf("%s %s: status %d, want %d: %s", method, path, resp.StatusCode, want, data)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("%s %s: decode %s: %w", method, path, data, err)
		}
	}
	return nil
}

// must is call that fails the test on error.
func (a *rtAdmin) must(t *testing.T, method, path string, in, out any, want int) {
	t.Helper()
	if err := a.call(t.Context(), method, path, in, out, want); err != nil {
		t.Fatal(err)
	}
}

func retentionAPI(project string) string {
	return "/api/v1/projects/" + url.PathEscape(project) + "/retention"
}

// setPolicy stores policy (the rule document) as project's policy, manual
// runs only.
func (a *rtAdmin) setPolicy(t *testing.T, project string, policy string) {
	t.Helper()
	in := map[string]any{"policy": json.RawMessage(policy), "enabled": false}
	a.must(t, "PUT", retentionAPI(project), in, nil, http.StatusOK)
}

// addImmutable adds a project immutability rule for tags.
func (a *rtAdmin) addImmutable(t *testing.T, project string, tags ...string) {
	t.Helper()
	a.must(t, "POST", "/api/v1/projects/"+url.PathEscape(project)+"/immutability",
		map[string]any{"tags": tags}, nil, http.StatusCreated)
}

// startRun starts a run (or dry run) of project's policy.
func (a *rtAdmin) startRun(t *testing.T, project string, dry bool) *rtRun {
	t.Helper()
	var r rtRun
	a.must(t, "POST", retentionAPI(project)+"/runs", map[string]any{"dry_run": dry}, &r, http.StatusAccepted)
	if r.ID <= 0 {
		t.Fatalf("started run has id %d", r.ID)
	}
	return &r
}

// getRun returns run id of project.
func (a *rtAdmin) getRun(ctx context.Context, project string, id int64) (*rtRun, error) {
	var r rtRun
	err := a.call(ctx, "GET", retentionAPI(project)+"/runs/"+strconv.FormatInt(id, 10), nil, &r, http.StatusOK)
	return &r, err
}

// waitRun polls run id until it ends (at most 30 s) and fails the test
// unless it succeeded.
func (a *rtAdmin) waitRun(t *testing.T, project string, id int64) *rtRun {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		r, err := a.getRun(t.Context(), project, id)
		if err != nil {
			t.Fatal(err)
		}
		if r.finished() {
			if r.Status != "succeeded" {
				t.Fatalf("retention run %d ended %s: %s", id, r.Status, r.Error)
			}
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("retention run %d still %s after 30s (progress %+v)", id, r.Status, r.Progress)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// report returns the whole report of run id, a page at a time.
func (a *rtAdmin) report(t *testing.T, project string, id int64) []rtDecision {
	t.Helper()
	var all []rtDecision
	for after := int64(0); ; {
		var page struct {
			Decisions []rtDecision `json:"decisions"`
			Next      int64        `json:"next"`
		}
		a.must(t, "GET", fmt.Sprintf("%s/runs/%d/report?after=%d", retentionAPI(project), id, after), nil, &page, http.StatusOK)
		all = append(all, page.Decisions...)
		if page.Next == 0 {
			return all
		}
		if page.Next <= after {
			t.Fatalf("report of run %d: next page %d after %d", id, page.Next, after)
		}
		after = page.Next
	}
}

// trash returns the whole trash of project, a page at a time.
func (a *rtAdmin) trash(t *testing.T, project string) []rtTrashEntry {
	t.Helper()
	var all []rtTrashEntry
	for before := int64(0); ; {
		var page struct {
			Entries []rtTrashEntry `json:"entries"`
			Next    int64          `json:"next"`
		}
		path := retentionAPI(project) + "/trash"
		if before > 0 {
			path += "?before=" + strconv.FormatInt(before, 10)
		}
		a.must(t, "GET", path, nil, &page, http.StatusOK)
		all = append(all, page.Entries...)
		if page.Next == 0 {
			return all
		}
		if before > 0 && page.Next >= before {
			t.Fatalf("trash of %s: next page before %d after one before %d", project, page.Next, before)
		}
		before = page.Next
	}
}

// reportKeys returns the sorted keys of the lines with outcome; it fails
// the test on a line with another outcome.
func reportKeys(t *testing.T, lines []rtDecision, outcome string) []string {
	t.Helper()
	keys := make([]string, 0, len(lines))
	for _, l := range lines {
		if l.Outcome != outcome {
			t.Errorf("report line %+v: outcome %q, want %q", l, l.Outcome, outcome)
			continue
		}
		keys = append(keys, l.key())
	}
	slices.Sort(keys)
	return keys
}

// retentionRepo is what the retention fixture pushed to one repository.
type retentionRepo struct {
	repo string
	// images are the fixture's images, indexes and signatures by name.
	images map[string]*image
	// tags maps each tag to the digest it was pushed at.
	tags map[string]digest.Digest
}

// pushRetentionRepo pushes the retention fixture to repo:
//   - index "build-0" with untagged children amd64-a and arm64-b;
//   - images "build-1" … "build-5", build-1 with a signature (referrer);
//   - index "stable" with children arm64-b (shared with build-0) and
//     amd64-c, with a signature;
//   - image "release-1" (the test makes it immutable);
//   - an image pushed by digest only ("untagged").
func pushRetentionRepo(t *testing.T, reg *berthtest.Registry, repo string) *retentionRepo {
	t.Helper()
	r := &retentionRepo{repo: repo, images: map[string]*image{}, tags: map[string]digest.Digest{}}
	putImage := func(name, tag string, platform v1.Platform) *image {
		im := newImage(t, repo+"/"+name, platform)
		for _, c := range im.blobs() {
			if _, err := reg.PushBlob(t.Context(), repo, c.Data); err != nil {
				t.Fatalf("push blob: %v", err)
			}
		}
		r.putManifest(t, reg, tag, im.Manifest)
		r.images[name] = im
		return im
	}
	putIndex := func(tag string, children ...*image) *image {
		idx := v1.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: v1.MediaTypeImageIndex}
		for _, c := range children {
			idx.Manifests = append(idx.Manifests, c.Manifest.Desc)
		}
		im := &image{Manifest: newContent(v1.MediaTypeImageIndex, mustJSON(t, idx))}
		r.putManifest(t, reg, tag, im.Manifest)
		r.images[tag] = im
		return im
	}
	a := putImage("amd64-a", "", linuxAmd64)
	b := putImage("arm64-b", "", linuxArm64)
	putIndex("build-0", a, b)
	for i := 1; i <= 5; i++ {
		putImage(fmt.Sprintf("build-%d", i), fmt.Sprintf("build-%d", i), linuxAmd64)
	}
	r.putSignature(t, reg, r.images["build-1"].Manifest.Desc, "sig-build-1")
	c := putImage("amd64-c", "", linuxAmd64)
	stable := putIndex("stable", b, c)
	r.putSignature(t, reg, stable.Manifest.Desc, "sig-stable")
	putImage("release-1", "release-1", linuxAmd64)
	putImage("untagged", "", linuxAmd64)
	return r
}

// putManifest pushes m by tag, or by digest when tag is "".
func (r *retentionRepo) putManifest(t *testing.T, reg *berthtest.Registry, tag string, m content) {
	t.Helper()
	ref := tag
	if ref == "" {
		ref = m.Desc.Digest.String()
	}
	if _, err := reg.PutManifest(t.Context(), r.repo, ref, m.Desc.MediaType, m.Data); err != nil {
		t.Fatalf("push manifest %s:%s: %v", r.repo, ref, err)
	}
	if tag != "" {
		r.tags[tag] = m.Desc.Digest
	}
}

// putSignature pushes an untagged artifact whose subject is subject, as
// image name (its config is the empty JSON blob, shared by every
// signature).
func (r *retentionRepo) putSignature(t *testing.T, reg *berthtest.Registry, subject v1.Descriptor, name string) {
	t.Helper()
	empty := newContent(v1.MediaTypeEmptyJSON, []byte("{}"))
	sig := newContent("application/vnd.test.signature", []byte("signature of "+subject.Digest.String()+" "+name))
	for _, c := range []content{empty, sig} {
		if _, err := reg.PushBlob(t.Context(), r.repo, c.Data); err != nil {
			t.Fatalf("push blob: %v", err)
		}
	}
	subj := v1.Descriptor{MediaType: subject.MediaType, Digest: subject.Digest, Size: subject.Size}
	m := v1.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: v1.MediaTypeImageManifest,
		ArtifactType: "application/vnd.test.signature", Config: empty.Desc, Layers: []v1.Descriptor{sig.Desc}, Subject: &subj}
	c := newContent(v1.MediaTypeImageManifest, mustJSON(t, m))
	r.putManifest(t, reg, "", c)
	r.images[name] = &image{Config: empty, Layers: []content{sig}, Manifest: c}
}

// digestOf returns the manifest digest of the fixture image name.
func (r *retentionRepo) digestOf(name string) string {
	return r.images[name].Manifest.Desc.Digest.String()
}

// checkManifestPulls checks that the fixture image name pulls
// byte-identical by digest: the manifest and every blob it names
// (an index has none of its own).
func (r *retentionRepo) checkManifestPulls(t *testing.T, reg *berthtest.Registry, name string) {
	t.Helper()
	im := r.images[name]
	body, _, _, err := reg.GetManifest(t.Context(), r.repo, im.Manifest.Desc.Digest.String())
	if err != nil {
		t.Errorf("pull %s (%s): %v", name, im.Manifest.Desc.Digest, err)
		return
	}
	checkBytes(t, r.repo+" manifest "+name, body, im.Manifest.Data)
	for _, c := range im.blobs() {
		if c.Data == nil {
			continue
		}
		got, err := reg.GetBlob(t.Context(), r.repo, c.Desc.Digest)
		if err != nil {
			t.Errorf("pull blob %s of %s: %v", c.Desc.Digest, name, err)
			continue
		}
		checkBytes(t, r.repo+" blob of "+name, got, c.Data)
	}
}

// rtCrashBlobs are the config and layer every crash-test manifest shares.
func rtCrashBlobs() []content {
	return []content{
		newContent(v1.MediaTypeImageConfig, []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`)),
		newContent(v1.MediaTypeImageLayerGzip, randomBytes(2048, 5)),
	}
}

// rtCrashManifest is the manifest of repo:tag in the crash test: the
// shared config and layer, made distinct by an annotation.
func rtCrashManifest(repo, tag string, shared []content) content {
	m := v1.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: v1.MediaTypeImageManifest,
		Config: shared[0].Desc, Layers: []v1.Descriptor{shared[1].Desc},
		Annotations: map[string]string{"test.tag": repo + ":" + tag}}
	return newContent(v1.MediaTypeImageManifest, mustMarshal(m))
}

// seedCrashTags pushes the shared blobs to each crash-test repository,
// then rtCrashTags manifests to each, 8 at once, and returns the shared
// blobs.
func seedCrashTags(t *testing.T, reg *berthtest.Registry) []content {
	t.Helper()
	shared := rtCrashBlobs()
	for r := range rtCrashRepos {
		for _, c := range shared {
			if _, err := reg.PushBlob(t.Context(), fmt.Sprintf("%s/app-%d", rtCrashProject, r), c.Data); err != nil {
				t.Fatalf("push blob: %v", err)
			}
		}
	}
	errs := blob.ParallelEach(t.Context(), rtCrashRepos*rtCrashTags, 8, func(ctx context.Context, n int) error {
		repo, tag := fmt.Sprintf("%s/app-%d", rtCrashProject, n%rtCrashRepos), fmt.Sprintf("t-%04d", n/rtCrashRepos)
		m := rtCrashManifest(repo, tag, shared)
		_, err := reg.PutManifest(ctx, repo, tag, m.Desc.MediaType, m.Data)
		return err
	})
	for n, err := range errs {
		if err != nil {
			t.Fatalf("push manifest %d: %v", n, err)
		}
	}
	return shared
}

// countTrash reads how many trash rows run id has written so far
// (read-only; the server may be running).
func countTrash(t *testing.T, dataDir string, id int64) int {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dataDir, "berth.db")+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRowContext(t.Context(), "SELECT count(*) FROM retention_trash WHERE run_id = ?", id).Scan(&n); err != nil {
		t.Fatalf("count trash rows: %v", err)
	}
	return n
}

// killMidRun polls run id of the crash project (its progress through the
// API, and the trash rows it has committed) until it has deleted some
// tags and not all, then kills p with SIGKILL. It returns how many trash
// rows the run had committed; the test fails if the run ended first.
func killMidRun(t *testing.T, p *berthtest.Process, admin *rtAdmin, dataDir string, id int64) int {
	t.Helper()
	all := rtCrashRepos * rtCrashTags * 9 / 10 * 2 // a tag and its manifest each
	deadline := time.Now().Add(20 * time.Second)
	for {
		r, err := admin.getRun(t.Context(), rtCrashProject, id)
		if err != nil {
			t.Fatal(err)
		}
		if r.finished() {
			t.Fatalf("the run ended (%s, %+v) before the kill: the test did not crash it midway", r.Status, r.Progress)
		}
		if r.Progress.TagsDeleted > 0 || countTrash(t, dataDir, id) > 0 {
			p.Kill()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the run deleted nothing within 20s (%+v)", r.Progress)
		}
		time.Sleep(5 * time.Millisecond)
	}
	n := countTrash(t, dataDir, id)
	if n == 0 || n >= all {
		t.Fatalf("after the kill the run has %d of %d trash rows: not midway", n, all)
	}
	return n
}

// killedRunWait bounds how long after the restart the killed run may stay
// running: its heartbeat goes stale after 10 s and every process looks
// for stale runs at start and every 5 s.
const killedRunWait = 20 * time.Second

// checkKilledRun waits until the restarted server reports the run killed
// midway interrupted (within killedRunWait; never failed or succeeded) and
// returns it.
func checkKilledRun(t *testing.T, admin *rtAdmin, id int64) *rtRun {
	t.Helper()
	start := time.Now()
	deadline := start.Add(killedRunWait)
	for {
		r, err := admin.getRun(t.Context(), rtCrashProject, id)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case r.Status == "interrupted":
			t.Logf("the killed run was marked interrupted %s after the restart: %s", time.Since(start).Round(time.Millisecond), r.Error)
			return r
		case r.Status != "running":
			t.Fatalf("the killed run is reported %s after the restart (%+v); want interrupted", r.Status, r)
		case time.Now().After(deadline):
			t.Fatalf("the killed run is still running %s after the restart (%+v); want interrupted", killedRunWait, r)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
