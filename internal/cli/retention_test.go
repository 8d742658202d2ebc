package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/api/admin/wire"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/opencontainers/go-digest"
)

func TestRetentionCommands(t *testing.T) {
	e := newCLIEnv(t)
	e.login(t, "alice", "alice-password")
	ctx := t.Context()
	repo, err := e.srv.Store.EnsureRepository(ctx, "team/api")
	if err != nil {
		t.Fatal(err)
	}
	content := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"}`)
	dgst := digest.FromBytes(content)
	if err := e.srv.Store.PutManifest(ctx, &meta.Manifest{RepositoryID: repo.ID, Digest: dgst, Content: content,
		MediaType: "application/vnd.oci.image.manifest.v1+json", Size: int64(len(content)), PushedAt: time.Now()}, nil); err != nil {
		t.Fatal(err)
	}
	for _, tag := range []string{"dev-1", "v1"} {
		if _, err := e.srv.Store.PutTag(ctx, repo.ID, tag, dgst); err != nil {
			t.Fatal(err)
		}
	}
	policy := filepath.Join(t.TempDir(), "policy.json")
	doc := `{"rules":[{"rulePriority":1,"selection":{"tagStatus":"tagged","tagPrefixList":["dev-"],"countType":"always"}}]}`
	if err := os.WriteFile(policy, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}

	if out := mustRun(t, "retention", "set", "team", "-f", policy, "--schedule", "daily@03:00"); !strings.Contains(out, "daily@03:00") {
		t.Errorf("set printed:\n%s", out)
	}
	var got wire.RetentionPolicy
	if err := json.Unmarshal([]byte(mustRun(t, "retention", "get", "team", "-o", "json")), &got); err != nil || !got.Enabled {
		t.Fatalf("get -o json: %+v, %v", got, err)
	}
	if code, _, errOut := runIn(t, "", "retention", "set", "team", "-f", policy, "--schedule", "sometimes"); code == 0 || !strings.Contains(errOut, "schedule") {
		t.Errorf("bad schedule: exit %d, stderr %q", code, errOut)
	}

	code, out, errOut := runIn(t, "", "retention", "run", "team", "--dry-run", "--wait")
	if code != 0 || !strings.Contains(out, "would delete") || !strings.Contains(out, "team/api:dev-1") ||
		strings.Contains(out, "team/api:v1") || !strings.Contains(errOut, "tags examined 2") {
		t.Fatalf("dry run: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	if out := mustRun(t, "retention", "run", "team", "--wait"); !strings.Contains(out, "succeeded") {
		t.Fatalf("run --wait printed:\n%s", out)
	}
	var runs []wire.RetentionRun
	if err := json.Unmarshal([]byte(mustRun(t, "retention", "runs", "team", "-o", "json")), &runs); err != nil || len(runs) != 2 {
		t.Fatalf("runs: %+v, %v", runs, err)
	}
	var report []wire.RetentionDecision
	if err := json.Unmarshal([]byte(mustRun(t, "retention", "report", "team", "2", "-o", "json")), &report); err != nil ||
		len(report) != 1 || report[0].Tag != "dev-1" || report[0].Outcome != "deleted" {
		t.Fatalf("report: %+v, %v", report, err)
	}
	if out := mustRun(t, "retention", "trash", "team"); !strings.Contains(out, "dev-1") {
		t.Fatalf("trash:\n%s", out)
	}
	if out := mustRun(t, "retention", "restore", "team", "team/api:dev-1"); !strings.Contains(out, "Restored team/api:dev-1") {
		t.Fatalf("restore printed %q", out)
	}
	if code, _, errOut := runIn(t, "", "retention", "restore", "team", "team/api:dev-1"); code == 0 || !strings.Contains(errOut, "nothing to restore") {
		t.Errorf("restore twice: exit %d, stderr %q", code, errOut)
	}
	e.login(t, "bob", "bob-password")
	if code, _, errOut := runIn(t, "", "retention", "run", "team"); code == 0 || !strings.Contains(errOut, "may not") {
		t.Errorf("run as a guest: exit %d, stderr %q", code, errOut)
	}
}

func TestRestoreTarget(t *testing.T) {
	tests := []struct {
		in   string
		want wire.RestoreRequest
		bad  bool
	}{
		{in: "team/api:v1", want: wire.RestoreRequest{Repository: "team/api", Tag: "v1"}},
		{in: "host:5000/team/api:v1", want: wire.RestoreRequest{Repository: "host:5000/team/api", Tag: "v1"}},
		{in: "team/api@sha256:abc", want: wire.RestoreRequest{Repository: "team/api", Digest: "sha256:abc"}},
		{in: "team/api", bad: true},
		{in: "team/api:bad tag", bad: true},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := restoreTarget(tc.in)
			if (err != nil) != tc.bad || got != tc.want {
				t.Errorf("restoreTarget(%q) = %+v, %v", tc.in, got, err)
			}
		})
	}
}
