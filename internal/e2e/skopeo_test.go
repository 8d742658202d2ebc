package e2e

import (
	"path/filepath"
	"testing"

	"github.com/berth-registry/berth/internal/berthtest"
)

// skopeoPolicy accepts any image: the tests check content by digest
// themselves. Passing it with --policy keeps skopeo away from the
// machine's /etc/containers/policy.json.
const skopeoPolicy = `{"default":[{"type":"insecureAcceptAnything"}]}`

// TestSkopeo copies an OCI layout written by the test into the registry
// with skopeo and back into a new layout, keeping digests, and compares
// both ends byte for byte.
func TestSkopeo(t *testing.T) {
	skopeo := berthtest.Tool(t, "skopeo")
	t.Parallel()
	p := start(t, berthtest.ProcessOptions{})
	reg, h := p.Registry(), host(p)
	env := newToolEnv(t)
	policy := writeFile(t, env.home, "policy.json", []byte(skopeoPolicy))

	im := newImage(t, "skopeo", linuxAmd64)
	src := t.TempDir()
	writeLayout(t, src, "v1", im)
	ref := "docker://" + h + "/skopeo/app:v1"
	// skopeo 1.9 reads neither Docker's credsStore nor a helper for any
	// host, so the credentials go on the command line.
	creds := berthtest.AdminUser + ":" + berthtest.AdminPassword

	env.run(t, skopeo, "copy", "--quiet", "--policy", policy, "--preserve-digests", "--dest-tls-verify=false", "--dest-creds", creds, "oci:"+src+":v1", ref)
	checkPulled(t, reg, "skopeo/app", im)
	checkBytes(t, "skopeo inspect --raw", []byte(env.run(t, skopeo, "inspect", "--raw", "--tls-verify=false", "--creds", creds, ref)), im.Manifest.Data)

	back := filepath.Join(t.TempDir(), "back")
	env.run(t, skopeo, "copy", "--quiet", "--policy", policy, "--preserve-digests", "--src-tls-verify=false", "--src-creds", creds, ref, "oci:"+back+":v1")
	checkImageLayout(t, back, im)
}
