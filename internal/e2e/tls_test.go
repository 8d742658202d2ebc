package e2e

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-registry/berth/internal/berthtest"
)

// TestClientsTLS round-trips content over HTTPS with a self-signed
// certificate that each client is told to trust the way it allows (CA
// file, certificate directory, SSL_CERT_FILE), never by skipping
// verification.
func TestClientsTLS(t *testing.T) {
	t.Parallel()
	cert := berthtest.NewTLSCert(t)
	p := start(t, berthtest.ProcessOptions{TLS: cert})
	reg, h := p.Registry(), host(p)
	if !strings.HasPrefix(p.URL, "https://") {
		t.Fatalf("server URL %s is not HTTPS", p.URL)
	}

	t.Run("crane", func(t *testing.T) {
		crane := berthtest.Tool(t, "crane")
		env := newToolEnv(t).with("SSL_CERT_FILE=" + cert.CAFile)
		im := newImage(t, "tls-crane", linuxAmd64)
		src := t.TempDir()
		writeLayout(t, src, "v1", im)
		env.run(t, crane, "push", src, h+"/tls/crane:v1")
		checkPulled(t, reg, "tls/crane", im)
		out := filepath.Join(t.TempDir(), "pulled")
		env.run(t, crane, "pull", "--format", "oci", h+"/tls/crane:v1", out)
		checkImageLayout(t, out, im)
	})

	t.Run("oras", func(t *testing.T) {
		oras := berthtest.Tool(t, "oras")
		dir := t.TempDir()
		env := newToolEnv(t).in(dir)
		data := randomBytes(200<<10, 3)
		writeFile(t, dir, "payload.bin", data)
		env.run(t, oras, "push", "--ca-file", cert.CAFile, "--artifact-type", "application/vnd.berth.test.tls", h+"/tls/oras:v1", "payload.bin")
		out := t.TempDir()
		env.run(t, oras, "pull", "--ca-file", cert.CAFile, "-o", out, h+"/tls/oras:v1")
		checkBytes(t, "pulled payload", readFile(t, filepath.Join(out, "payload.bin")), data)
	})

	t.Run("skopeo", func(t *testing.T) {
		skopeo := berthtest.Tool(t, "skopeo")
		env := newToolEnv(t)
		policy := writeFile(t, env.home, "policy.json", []byte(skopeoPolicy))
		im := newImage(t, "tls-skopeo", linuxAmd64)
		src := t.TempDir()
		writeLayout(t, src, "v1", im)
		ref := "docker://" + h + "/tls/skopeo:v1"
		creds := berthtest.AdminUser + ":" + berthtest.AdminPassword // skopeo 1.9 reads no credsStore
		env.run(t, skopeo, "copy", "--quiet", "--policy", policy, "--preserve-digests", "--dest-cert-dir", cert.Dir, "--dest-creds", creds, "oci:"+src+":v1", ref)
		checkPulled(t, reg, "tls/skopeo", im)
		back := filepath.Join(t.TempDir(), "back")
		env.run(t, skopeo, "copy", "--quiet", "--policy", policy, "--preserve-digests", "--src-cert-dir", cert.Dir, "--src-creds", creds, ref, "oci:"+back+":v1")
		checkImageLayout(t, back, im)
	})

	t.Run("regctl", func(t *testing.T) {
		regctl := berthtest.Tool(t, "regctl")
		env := newToolEnv(t)
		env.run(t, regctl, "registry", "set", "--tls", "enabled", "--cacert", string(readFile(t, cert.CAFile)),
			"--cred-helper", "docker-credential-berthtest", h)
		im := newImage(t, "tls-regctl", linuxAmd64)
		pushImage(t, reg, "tls/regctl-src", "v1", im)
		env.run(t, regctl, "image", "copy", h+"/tls/regctl-src:v1", h+"/tls/regctl:v1")
		checkPulled(t, reg, "tls/regctl", im)
		checkBytes(t, "regctl manifest get", []byte(env.run(t, regctl, "manifest", "get", "--format", "raw-body", h+"/tls/regctl:v1")), im.Manifest.Data)
	})
}
