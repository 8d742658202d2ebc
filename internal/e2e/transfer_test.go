package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/berth-registry/berth/internal/api/admin/wire"
	"github.com/berth-registry/berth/internal/berthtest"
	adminapi "github.com/berth-registry/berth/internal/client"
	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/google/go-cmp/cmp"
	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// transferReport is the JSON `berth transfer -o json` prints.
type transferReport struct {
	Repositories int64  `json:"repositories"`
	Blobs        int64  `json:"blobs"`
	BlobsCopied  int64  `json:"blobs_copied"`
	BytesCopied  int64  `json:"bytes_copied"`
	Manifests    int64  `json:"manifests"`
	Tags         int64  `json:"tags"`
	Users        int64  `json:"users"`
	Projects     int64  `json:"projects"`
	Robots       int64  `json:"robots"`
	AuditEvents  int64  `json:"audit_events"`
	Phase        string `json:"phase"`
}

// TestTransfer moves an embedded registry up to PostgreSQL and S3 with
// `berth transfer`: content pushed by real clients (a crane image of
// several layers, a multi-platform index, an oras artifact and a referrer
// attached with oras) and access control (a user who is a member of the
// project, a robot of it), the embedded server stopped, the transfer run
// and run again (which copies nothing), and a replica on the new stores
// that must serve exactly what the embedded registry served, to the same
// user and robot credentials. A transfer to an unusable destination fails
// with a message that shows no secret.
func TestTransfer(t *testing.T) {
	craneBin, orasBin := berthtest.Tool(t, "crane"), berthtest.Tool(t, "oras")
	t.Parallel()
	dataDir := t.TempDir()
	p := start(t, berthtest.ProcessOptions{DataDir: dataDir})
	fillForTransfer(t, p, craneBin, orasBin)
	accounts := fillAccessForTransfer(t, p)
	want := snapshotRegistry(t, p.Registry())
	t.Logf("embedded registry: %d repositories, %d tags, %d manifests, %d referrer lists, %d distinct blobs",
		len(want.Catalog), len(want.Digests), len(want.Manifests), len(want.Referrers), len(want.blobSet()))
	if code := p.Stop(); code != 0 {
		t.Fatalf("embedded registry exited with %d after SIGTERM", code)
	}
	c := newBackends(t)
	transfer := func(t *testing.T, env []string, args ...string) (stdout, stderr string, code int) {
		t.Helper()
		return runBerth(t, c.bin, append(append([]string(nil), c.env...), env...),
			append([]string{"transfer", "--from-data-dir", dataDir}, args...)...)
	}

	var first map[string]int64
	if !t.Run("transfer", func(t *testing.T) {
		stdout, stderr, code := transfer(t, nil, "--to-metadata", c.db, "--to-storage", c.storage)
		if code != 0 {
			t.Fatalf("berth transfer: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
		}
		t.Logf("berth transfer:\n%s%s", stderr, stdout)
		first = parseTransferSummary(t, stdout)
		blobs := int64(len(want.blobSet()))
		if first["blobs"] != blobs || first["copied"] != blobs || first["repositories"] != int64(len(want.Catalog)) ||
			first["manifests"] != int64(len(want.Manifests)) || first["tags"] != int64(len(want.Digests)) {
			t.Errorf("summary %v; want %d repositories, %d blobs all copied, %d manifests, %d tags:\n%s",
				first, len(want.Catalog), blobs, len(want.Manifests), len(want.Digests), stdout)
		}
		// The users are the admin and the member; audit events at least
		// record the member's and the robot's creation.
		if first["users"] != 2 || first["projects"] < 1 || first["robots"] != 1 || first["audit events"] < 2 {
			t.Errorf("summary %v; want 2 users, the transfer project, 1 robot and its audit events:\n%s", first, stdout)
		}
		if !strings.Contains(stderr, "transferring from "+dataDir) || !strings.Contains(stderr, "done") {
			t.Errorf("stderr does not show where from and the end of the transfer:\n%s", stderr)
		}
		checkNoSecret(t, "berth transfer's output", stdout+stderr, c.bucket.Server.SecretKey)
	}) {
		t.FailNow()
	}
	t.Run("again copies nothing", func(t *testing.T) {
		stdout, stderr, code := transfer(t, nil, "--to-metadata", c.db, "--to-storage", c.storage, "-o", "json")
		if code != 0 {
			t.Fatalf("berth transfer again: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
		}
		var rep transferReport
		decodeJSON(t, stdout, &rep)
		wantRep := transferReport{Repositories: first["repositories"], Blobs: first["blobs"], Manifests: first["manifests"], Tags: first["tags"],
			Users: first["users"], Projects: first["projects"], Robots: first["robots"], AuditEvents: first["audit events"], Phase: "done"}
		if diff := cmp.Diff(wantRep, rep); diff != "" {
			t.Errorf("second transfer -o json (-want +got):\n%s", diff)
		}
	})
	t.Run("replica serves the same", func(t *testing.T) {
		r := berthtest.StartProcess(t, c.bin, c.options())
		got := snapshotRegistry(t, r.Registry())
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("what the replica serves differs from what the embedded registry served (-embedded +replica):\n%s", diff)
		}
		accounts.check(t, r)
	})
	t.Run("bad destination", func(t *testing.T) {
		const password = "pg-Pa55word-not-shown"
		const secret = "s3-Secret-not-shown"
		port := closedPort(t)
		for _, tc := range []struct {
			name     string
			env      []string
			metadata string
			want     string
		}{
			{"unreachable postgres", nil, fmt.Sprintf("postgres://berth:%s@127.0.0.1:%d/berth?sslmode=disable", password, port), fmt.Sprintf("127.0.0.1:%d", port)},
			{"wrong s3 secret", []string{"AWS_SECRET_ACCESS_KEY=" + secret}, c.db, c.bucket.Name},
		} {
			t.Run(tc.name, func(t *testing.T) {
				stdout, stderr, code := transfer(t, tc.env, "--to-metadata", tc.metadata, "--to-storage", c.storage)
				if code == 0 || !strings.Contains(stderr, "destination") || !strings.Contains(stderr, tc.want) {
					t.Errorf("transfer to a bad destination: exit %d, want non-zero and a message about the destination naming %q\nstdout:\n%s\nstderr:\n%s",
						code, tc.want, stdout, stderr)
				}
				checkNoSecret(t, "berth transfer's output", stdout+stderr, password, secret, c.bucket.Server.SecretKey)
			})
		}
	})
}

// fillForTransfer pushes the content TestTransfer moves, with real
// clients: an image of three layers built by crane append, two platform
// images and their index, an oras artifact, and an SBOM attached to the
// three-layer image through the referrers API.
func fillForTransfer(t *testing.T, p *berthtest.Process, craneBin, orasBin string) {
	t.Helper()
	h := host(p)
	dir := t.TempDir()
	crane := client{env: newToolEnv(t), bin: craneBin, flags: []string{"--insecure"}}
	oras := client{env: newToolEnv(t).in(dir), bin: orasBin, flags: []string{"--plain-http"}}

	rng := rand.New(rand.NewPCG(3, 4))
	args := []string{"append", "--oci-empty-base", "-t", h + "/transfer/layers:v1"}
	for i := range 3 {
		args = append(args, "-f", writeFile(t, dir, fmt.Sprintf("layer%d.tar.gz", i), gzipBytes(t, layerTar(t, rng, fmt.Sprintf("layer%d", i)))))
	}
	crane.run(t, args...)
	for tag, im := range map[string]*image{"amd64": newImage(t, "transfer-amd64", linuxAmd64), "arm64": newImage(t, "transfer-arm64", linuxArm64)} {
		layout := t.TempDir()
		writeLayout(t, layout, tag, im)
		crane.run(t, "push", layout, h+"/transfer/multi:"+tag)
	}
	crane.run(t, "index", "append", "-m", h+"/transfer/multi:amd64", "-m", h+"/transfer/multi:arm64", "-t", h+"/transfer/multi:latest")

	writeFile(t, dir, "readme.md", []byte("# moved up\n"))
	writeFile(t, dir, "data.bin", randomBytes(200<<10, 9))
	oras.run(t, "push", "--artifact-type", orasBundleType, h+"/transfer/bundle:v1", "readme.md:text/markdown", "data.bin:application/octet-stream")
	writeFile(t, dir, "sbom.spdx.json", []byte(`{"spdxVersion":"SPDX-2.3","name":"transfer","packages":[]}`))
	oras.run(t, "attach", "--distribution-spec", "v1.1-referrers-api", "--artifact-type", orasSBOMType,
		h+"/transfer/layers:v1", "sbom.spdx.json:application/spdx+json")
}

// registrySnapshot is everything a registry serves, read through the API:
// the catalog, every tag's digest, every manifest reachable from a tag or
// as a referrer (bytes and media type), the referrers of each, and the
// size of every blob they name (read back in full and checked against its
// digest).
type registrySnapshot struct {
	Catalog   []string
	Tags      map[string][]string
	Digests   map[string]digest.Digest
	Manifests map[string]snapshotManifest
	Referrers map[string][]digest.Digest
	Blobs     map[string]int
}

type snapshotManifest struct {
	MediaType string
	Content   string
}

// blobSet returns the distinct blob digests of the snapshot.
func (s *registrySnapshot) blobSet() map[string]bool {
	out := map[string]bool{}
	for k := range s.Blobs {
		_, d, _ := strings.Cut(k, "@")
		out[d] = true
	}
	return out
}

func snapshotRegistry(t *testing.T, reg *berthtest.Registry) *registrySnapshot {
	t.Helper()
	ctx := context.Background()
	s := &registrySnapshot{Tags: map[string][]string{}, Digests: map[string]digest.Digest{},
		Manifests: map[string]snapshotManifest{}, Referrers: map[string][]digest.Digest{}, Blobs: map[string]int{}}
	var err error
	if s.Catalog, err = reg.Catalog(ctx); err != nil {
		t.Fatal(err)
	}
	for _, repo := range s.Catalog {
		tags, err := reg.Tags(ctx, repo)
		if err != nil {
			t.Fatal(err)
		}
		s.Tags[repo] = tags
		for _, tag := range tags {
			_, _, dgst, err := reg.GetManifest(ctx, repo, tag)
			if err != nil {
				t.Fatal(err)
			}
			s.Digests[repo+":"+tag] = dgst
			s.walk(t, reg, repo, dgst)
		}
	}
	return s
}

// walk records manifest dgst of repo, its children, blobs and referrers.
func (s *registrySnapshot) walk(t *testing.T, reg *berthtest.Registry, repo string, dgst digest.Digest) {
	t.Helper()
	key := repo + "@" + dgst.String()
	if _, seen := s.Manifests[key]; seen {
		return
	}
	ctx := context.Background()
	body, mediaType, _, err := reg.GetManifest(ctx, repo, dgst.String())
	if err != nil {
		t.Fatal(err)
	}
	s.Manifests[key] = snapshotManifest{MediaType: mediaType, Content: string(body)}
	var m struct {
		Config    *v1.Descriptor  `json:"config"`
		Layers    []v1.Descriptor `json:"layers"`
		Blobs     []v1.Descriptor `json:"blobs"`
		Manifests []v1.Descriptor `json:"manifests"`
	}
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("manifest %s: %v", key, err)
	}
	blobs := append(slices.Clone(m.Layers), m.Blobs...)
	if m.Config != nil {
		blobs = append(blobs, *m.Config)
	}
	for _, b := range blobs {
		data, err := reg.GetBlob(ctx, repo, b.Digest)
		if err != nil {
			t.Fatalf("blob named by %s: %v", key, err)
		}
		s.Blobs[repo+"@"+b.Digest.String()] = len(data)
	}
	for _, child := range m.Manifests {
		s.walk(t, reg, repo, child.Digest)
	}
	idx, err := reg.Referrers(ctx, repo, dgst, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range idx.Manifests {
		s.Referrers[key] = append(s.Referrers[key], r.Digest)
		s.walk(t, reg, repo, r.Digest)
	}
}

// transferSummary matches the numbers of the table `berth transfer`
// prints.
var transferSummary = regexp.MustCompile(`(?m)^(repositories|blobs|manifests|tags|users|projects|robots|audit events)\s+(\d+)(?: \((\d+) copied)?`)

// parseTransferSummary reads the counts of the table output, with the
// number of blobs copied as "copied".
func parseTransferSummary(t *testing.T, out string) map[string]int64 {
	t.Helper()
	got := map[string]int64{}
	for _, m := range transferSummary.FindAllStringSubmatch(out, -1) {
		got[m[1]], _ = strconv.ParseInt(m[2], 10, 64)
		if m[3] != "" {
			got["copied"], _ = strconv.ParseInt(m[3], 10, 64)
		}
	}
	if len(got) != 9 {
		t.Fatalf("transfer summary lacks counts (got %v):\n%s", got, out)
	}
	return got
}

// transferAccounts are the credentials fillAccessForTransfer created.
type transferAccounts struct {
	user, password string
	robot, secret  string
}

// fillAccessForTransfer makes the user "mover" a developer of the private
// project "transfer" and gives the project a robot that may pull.
func fillAccessForTransfer(t *testing.T, p *berthtest.Process) transferAccounts {
	t.Helper()
	ctx := context.Background()
	admin, err := adminapi.New(p.URL, adminapi.Options{Username: berthtest.AdminUser, Secret: berthtest.AdminPassword})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.GetProject(ctx, "transfer"); errdefs.IsNotFound(err) {
		_, err = admin.CreateProject(ctx, wire.NewProject{Name: "transfer"})
		if err != nil {
			t.Fatalf("create project transfer: %v", err)
		}
	} else if err != nil {
		t.Fatalf("get project transfer: %v", err)
	}
	a := transferAccounts{user: "mover", password: "mover-Passw0rd-to-move"}
	if _, err := admin.CreateUser(ctx, wire.NewUser{Name: a.user, Password: a.password}); err != nil {
		t.Fatalf("create user: %v", err)
	}
	if _, err := admin.PutMember(ctx, "transfer", wire.Member{Kind: "user", Name: a.user, Role: "developer"}); err != nil {
		t.Fatalf("add member: %v", err)
	}
	robot, err := admin.CreateRobot(ctx, "transfer", wire.NewRobot{Name: "ci",
		Permissions: []wire.Permission{{Project: "transfer", Actions: []string{"pull"}}}})
	if err != nil {
		t.Fatalf("create robot: %v", err)
	}
	a.robot, a.secret = robot.Name, robot.Secret
	return a
}

// check signs in to r as the user and the robot (which may read the
// project only through their membership and permission), and with wrong
// secrets, which must be refused.
func (a transferAccounts) check(t *testing.T, r *berthtest.Process) {
	t.Helper()
	tags := r.URL + "/v2/transfer/layers/tags/list"
	for _, tc := range []struct {
		who, user, secret string
		want              int
	}{
		{"member", a.user, a.password, http.StatusOK},
		{"robot", a.robot, a.secret, http.StatusOK},
		{"member, wrong password", a.user, a.password + "x", http.StatusUnauthorized},
		{"robot, wrong secret", a.robot, a.secret + "x", http.StatusUnauthorized},
	} {
		resp, err := berthtest.WithCredentials(r.Client, tc.user, tc.secret).Get(tags)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s at the replica: GET %s = %d, want %d", tc.who, tags, resp.StatusCode, tc.want)
		}
	}
}
