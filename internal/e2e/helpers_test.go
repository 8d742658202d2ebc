package e2e

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/berthtest"
	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// berthBinary skips the test under -short and returns the berth binary.
func berthBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test: runs berth serve and external programs")
	}
	return berthtest.Build(t)
}

// start runs a fresh `berth serve` for the test.
func start(t *testing.T, opts berthtest.ProcessOptions) *berthtest.Process {
	t.Helper()
	return berthtest.StartProcess(t, berthBinary(t), opts)
}

// host is the registry's HOST:PORT, as clients name it in references.
func host(p *berthtest.Process) string { return p.Addr }

// toolEnv runs external clients with a private HOME and config
// directories, so a test never reads or writes the user's configuration
// or credentials.
type toolEnv struct {
	home string
	// dir is the working directory; home unless set by in.
	dir string
	env []string
}

// newToolEnv returns a toolEnv rooted in a fresh temporary directory.
func newToolEnv(t *testing.T) *toolEnv {
	t.Helper()
	home := t.TempDir()
	env := make([]string, 0, len(os.Environ())+6)
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(name, "BERTH_"), strings.HasPrefix(name, "OCI_"), strings.HasPrefix(name, "SSL_CERT_"),
			strings.HasPrefix(name, "XDG_"), strings.HasPrefix(name, "REGCTL_"),
			name == "HOME", name == "DOCKER_CONFIG", name == "REGISTRY_AUTH_FILE", name == "HTTP_PROXY",
			name == "HTTPS_PROXY", name == "http_proxy", name == "https_proxy":
			continue
		}
		env = append(env, kv)
	}
	for _, d := range []string{"config", "data", "run", ".docker"} {
		if err := os.MkdirAll(filepath.Join(home, d), 0o700); err != nil {
			t.Fatalf("tool home: %v", err)
		}
	}
	bin := filepath.Join(home, "bin")
	writeCredentialHelper(t, bin)
	env = slices.DeleteFunc(env, func(kv string) bool { return strings.HasPrefix(kv, "PATH=") })
	env = append(env, "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	env = append(env, "HOME="+home, "XDG_CONFIG_HOME="+filepath.Join(home, "config"),
		"XDG_DATA_HOME="+filepath.Join(home, "data"), "XDG_RUNTIME_DIR="+filepath.Join(home, "run"),
		"DOCKER_CONFIG="+filepath.Join(home, ".docker"), "NO_PROXY=*")
	return &toolEnv{home: home, dir: home, env: env}
}

// writeCredentialHelper installs, in dir, a Docker credential helper
// (docker-credential-berthtest) that answers the test servers' admin
// credentials for any registry, and a Docker config.json (in the tool
// home's .docker, where DOCKER_CONFIG points) that names it. Every client
// under test (crane, oras, regctl, skopeo) reads Docker's configuration,
// and the servers listen on ports chosen at random, which a config.json
// "auths" entry could not name in advance.
func writeCredentialHelper(t *testing.T, dir string) {
	t.Helper()
	script := fmt.Sprintf(`#!/bin/sh
case "$1" in
get) read -r server; printf '{"ServerURL":"%%s","Username":"%s","Secret":"%s"}\n' "$server" ;;
list) echo '{}' ;;
*) cat >/dev/null ;;
esac
`, berthtest.AdminUser, berthtest.AdminPassword)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "docker-credential-berthtest"), []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
	home := filepath.Dir(dir)
	if err := os.WriteFile(filepath.Join(home, ".docker", "config.json"), []byte(`{"credsStore":"berthtest"}`), 0o600); err != nil {
		t.Fatal(err)
	}
}

// with returns a copy of e with extra KEY=VALUE variables.
func (e *toolEnv) with(kv ...string) *toolEnv {
	return &toolEnv{home: e.home, dir: e.dir, env: append(append([]string(nil), e.env...), kv...)}
}

// in returns a copy of e that runs tools in dir (for clients that name
// files by relative path).
func (e *toolEnv) in(dir string) *toolEnv {
	return &toolEnv{home: e.home, dir: dir, env: e.env}
}

// run runs tool with args and returns its stdout; the test fails if it
// exits non-zero.
func (e *toolEnv) run(t *testing.T, tool string, args ...string) string {
	t.Helper()
	out, errOut, err := e.exec(tool, nil, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\nstdout:\n%s\nstderr:\n%s", filepath.Base(tool), strings.Join(args, " "), err, out, errOut)
	}
	return out
}

// runStdin is run with stdin.
func (e *toolEnv) runStdin(t *testing.T, stdin io.Reader, tool string, args ...string) string {
	t.Helper()
	out, errOut, err := e.exec(tool, stdin, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\nstdout:\n%s\nstderr:\n%s", filepath.Base(tool), strings.Join(args, " "), err, out, errOut)
	}
	return out
}

// client runs one client program in a toolEnv with fixed trailing flags
// (such as --insecure or --plain-http).
type client struct {
	env   *toolEnv
	bin   string
	flags []string
}

// run runs the client with args and the fixed flags and returns stdout;
// the test fails if it exits non-zero.
func (c client) run(t *testing.T, args ...string) string {
	t.Helper()
	return c.env.run(t, c.bin, append(args, c.flags...)...)
}

// exec runs tool (for at most two minutes) and returns stdout, stderr and
// the error.
func (e *toolEnv) exec(tool string, stdin io.Reader, args ...string) (string, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, tool, args...)
	cmd.Env = e.env
	cmd.Dir = e.dir
	cmd.Stdin = stdin
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return stdout.String(), stderr.String(), err
}

// content is a blob with its descriptor.
type content struct {
	Desc v1.Descriptor
	Data []byte
}

func newContent(mediaType string, data []byte) content {
	return content{Desc: v1.Descriptor{MediaType: mediaType, Digest: digest.FromBytes(data), Size: int64(len(data))}, Data: data}
}

// image is a real OCI image made by the test: gzipped tar layers, a config
// whose diff_ids match them, and the manifest.
type image struct {
	Config   content
	Layers   []content
	Manifest content
}

// newImage builds a two-layer image for platform whose file contents
// derive from name, so different names give different layers.
func newImage(t *testing.T, name string, platform v1.Platform) *image {
	t.Helper()
	h := fnv.New64a()
	h.Write([]byte(name))
	rng := rand.New(rand.NewPCG(h.Sum64(), 0x5eed))
	im := &image{}
	var diffIDs []digest.Digest
	for i := range 2 {
		tarball := layerTar(t, rng, fmt.Sprintf("%s-%d", name, i))
		diffIDs = append(diffIDs, digest.FromBytes(tarball))
		im.Layers = append(im.Layers, newContent(v1.MediaTypeImageLayerGzip, gzipBytes(t, tarball)))
	}
	created := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	cfg, err := json.Marshal(v1.Image{
		Created:  &created,
		Platform: platform,
		Config:   v1.ImageConfig{Cmd: []string{"/bin/" + name}, Labels: map[string]string{"test": name}},
		RootFS:   v1.RootFS{Type: "layers", DiffIDs: diffIDs},
	})
	if err != nil {
		t.Fatalf("image config: %v", err)
	}
	im.Config = newContent(v1.MediaTypeImageConfig, cfg)
	man := v1.Manifest{
		Versioned:   specs.Versioned{SchemaVersion: 2},
		MediaType:   v1.MediaTypeImageManifest,
		Config:      im.Config.Desc,
		Annotations: map[string]string{"org.opencontainers.image.title": name},
	}
	for _, l := range im.Layers {
		man.Layers = append(man.Layers, l.Desc)
	}
	im.Manifest = newContent(v1.MediaTypeImageManifest, mustJSON(t, man))
	p := platform
	im.Manifest.Desc.Platform = &p
	return im
}

// blobs returns the config and the layers.
func (im *image) blobs() []content { return append([]content{im.Config}, im.Layers...) }

// layerTar returns an uncompressed tar with a directory and a few files of
// pseudo-random content.
func layerTar(t *testing.T, rng *rand.Rand, dir string) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	mod := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: dir + "/", Mode: 0o755, ModTime: mod}); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		data := make([]byte, 1000+rng.IntN(20000))
		for j := range data {
			data[j] = byte(rng.Uint32())
		}
		hdr := &tar.Header{Typeflag: tar.TypeReg, Name: fmt.Sprintf("%s/file-%d", dir, i), Mode: 0o644, Size: int64(len(data)), ModTime: mod}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(data); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func gzipBytes(t *testing.T, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// mustMarshal is mustJSON for goroutines other than the test's; it panics
// on values that cannot be marshalled (a bug in the test).
func mustMarshal(v any) []byte {
	data, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("marshal %T: %v", v, err))
	}
	return data
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("marshal %T: %v", v, err)
	}
	return data
}

// writeLayout writes im as an OCI image layout in dir, tagged ref.
func writeLayout(t *testing.T, dir, ref string, im *image) {
	t.Helper()
	desc := im.Manifest.Desc
	desc.Annotations = map[string]string{v1.AnnotationRefName: ref}
	index := v1.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: v1.MediaTypeImageIndex, Manifests: []v1.Descriptor{desc}}
	files := map[string][]byte{
		v1.ImageLayoutFile: mustJSON(t, v1.ImageLayout{Version: v1.ImageLayoutVersion}),
		"index.json":       mustJSON(t, index),
	}
	for _, c := range append(im.blobs(), im.Manifest) {
		files[filepath.Join("blobs", c.Desc.Digest.Algorithm().String(), c.Desc.Digest.Encoded())] = c.Data
	}
	for name, data := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// layout is an OCI image layout read back from disk.
type layout struct {
	dir   string
	Index v1.Index
}

func readLayout(t *testing.T, dir string) *layout {
	t.Helper()
	l := &layout{dir: dir}
	data, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if err != nil {
		t.Fatalf("read layout: %v", err)
	}
	if err := json.Unmarshal(data, &l.Index); err != nil {
		t.Fatalf("parse %s/index.json: %v", dir, err)
	}
	return l
}

// blob returns the bytes of dgst in the layout, checking their digest.
func (l *layout) blob(t *testing.T, dgst digest.Digest) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(l.dir, "blobs", dgst.Algorithm().String(), dgst.Encoded()))
	if err != nil {
		t.Fatalf("layout %s: %v", l.dir, err)
	}
	if got := digest.FromBytes(data); got != dgst {
		t.Fatalf("layout %s: blob %s holds content with digest %s", l.dir, dgst, got)
	}
	return data
}

// checkImageLayout checks that the layout in dir holds exactly im: one
// manifest with the same bytes, and every blob byte-identical.
func checkImageLayout(t *testing.T, dir string, im *image) {
	t.Helper()
	l := readLayout(t, dir)
	if len(l.Index.Manifests) != 1 {
		t.Fatalf("layout %s lists %d manifests, want 1: %+v", dir, len(l.Index.Manifests), l.Index.Manifests)
	}
	if got := l.Index.Manifests[0].Digest; got != im.Manifest.Desc.Digest {
		t.Fatalf("layout %s holds manifest %s, want %s", dir, got, im.Manifest.Desc.Digest)
	}
	checkBytes(t, "manifest", l.blob(t, im.Manifest.Desc.Digest), im.Manifest.Data)
	for _, c := range im.blobs() {
		checkBytes(t, "blob "+c.Desc.Digest.String(), l.blob(t, c.Desc.Digest), c.Data)
	}
}

// pushImage pushes im's blobs and manifest to repo, tagged tag, with the
// plain HTTP client.
func pushImage(t *testing.T, reg *berthtest.Registry, repo, tag string, im *image) {
	t.Helper()
	ctx := context.Background()
	for _, c := range im.blobs() {
		if _, err := reg.PushBlob(ctx, repo, c.Data); err != nil {
			t.Fatalf("push blob to %s: %v", repo, err)
		}
	}
	if _, err := reg.PutManifest(ctx, repo, tag, im.Manifest.Desc.MediaType, im.Manifest.Data); err != nil {
		t.Fatalf("push manifest %s:%s: %v", repo, tag, err)
	}
}

// checkPulled checks that repo holds im byte for byte: the manifest by
// digest and every blob.
func checkPulled(t *testing.T, reg *berthtest.Registry, repo string, im *image) {
	t.Helper()
	ctx := context.Background()
	body, _, _, err := reg.GetManifest(ctx, repo, im.Manifest.Desc.Digest.String())
	if err != nil {
		t.Fatalf("get manifest: %v", err)
	}
	checkBytes(t, repo+" manifest", body, im.Manifest.Data)
	for _, c := range im.blobs() {
		got, err := reg.GetBlob(ctx, repo, c.Desc.Digest)
		if err != nil {
			t.Fatalf("get blob: %v", err)
		}
		checkBytes(t, repo+" blob "+c.Desc.Digest.String(), got, c.Data)
	}
}

// checkBytes fails unless got and want are the same bytes.
func checkBytes(t *testing.T, what string, got, want []byte) {
	t.Helper()
	if !bytes.Equal(got, want) {
		t.Errorf("%s: got %d bytes (digest %s), want %d bytes (digest %s)", what, len(got), digest.FromBytes(got), len(want), digest.FromBytes(want))
	}
}

// writeFile writes data to a file named name in dir and returns its path.
func writeFile(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// readFile returns the content of path.
func readFile(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

var (
	linuxAmd64 = v1.Platform{OS: "linux", Architecture: "amd64"}
	linuxArm64 = v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}
)
