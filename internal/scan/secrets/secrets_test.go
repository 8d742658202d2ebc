package secrets_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"math/big"
	"strings"
	"testing"

	"github.com/berth-registry/berth/internal/scan"
	"github.com/berth-registry/berth/internal/scan/layers"
	"github.com/berth-registry/berth/internal/scan/layers/layertest"
	"github.com/berth-registry/berth/internal/scan/secrets"
	"github.com/google/go-cmp/cmp"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// randomFrom returns n random characters of alphabet, so that no
// real-looking secret is ever committed: every fixture is made at test time.
func randomFrom(t *testing.T, alphabet string, n int) string {
	t.Helper()
	var b strings.Builder
	for range n {
		i, err := rand.Int(rand.Reader, big.NewInt(int64(len(alphabet))))
		if err != nil {
			t.Fatal(err)
		}
		b.WriteByte(alphabet[i.Int64()])
	}
	return b.String()
}

// distinct returns n different random characters of alphabet (a value of
// known high entropy).
func distinct(t *testing.T, alphabet string, n int) string {
	t.Helper()
	for {
		b := []byte(alphabet)
		for i := len(b) - 1; i > 0; i-- {
			j, err := rand.Int(rand.Reader, big.NewInt(int64(i+1)))
			if err != nil {
				t.Fatal(err)
			}
			b[i], b[j.Int64()] = b[j.Int64()], b[i]
		}
		if v := string(b[:n]); strings.ContainsAny(v, digits) {
			return v
		}
	}
}

const (
	upper  = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	lower  = "abcdefghijklmnopqrstuvwxyz"
	digits = "0123456789"
)

type fakes struct {
	pemHeader, awsID, awsSecret, github, gitlab, slack, generic string
}

func makeFakes(t *testing.T) fakes {
	return fakes{
		pemHeader: "-----BEGIN " + "RSA PRIVATE" + " KEY-----",
		awsID:     "AK" + "IA" + randomFrom(t, upper+"234567", 16),
		awsSecret: randomFrom(t, upper+lower+digits+"/+", 40),
		github:    "gh" + "p_" + randomFrom(t, upper+lower+digits, 36),
		gitlab:    "glp" + "at-" + randomFrom(t, upper+lower+digits, 20),
		slack:     "xo" + "xb-" + randomFrom(t, digits, 12) + "-" + randomFrom(t, digits, 12) + "-" + randomFrom(t, upper+lower+digits, 24),
		generic:   distinct(t, upper+lower+digits, 28),
	}
}

func TestScan(t *testing.T) {
	f := makeFakes(t)
	tests := []struct {
		name, body string
		want       []string // rule@line
	}{
		{"pem", "x\n" + f.pemHeader + "\n" + randomFrom(t, upper+lower, 64) + "\n", []string{"private-key@2"}},
		{"aws pair", "[default]\naws_access_key_id = " + f.awsID + "\naws_secret_access_key = " + f.awsSecret + "\n",
			[]string{"aws-access-key-id@2", "aws-secret-access-key@3"}},
		{"github", "TOKEN=" + f.github + "\n", []string{"github-token@1"}},
		{"gitlab", "token: " + f.gitlab, []string{"gitlab-token@1"}},
		{"slack", `{"slack": "` + f.slack + `"}`, []string{"slack-token@1"}},
		{"generic", `db_password = "` + f.generic + `"`, []string{"generic-secret@1"}},
		{"generic placeholder", `password = "changeme-changeme-changeme-1"`, nil},
		{"generic low entropy", `password = "aaaaaaaaaaaaaaaaaaaaaaaa1"`, nil},
		{"generic from env", `password = "${DB_PASSWORD}"`, nil},
		{"binary", "\x00\x01ELF " + f.github, nil},
		{"nothing", "hello world\n", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := secrets.Scan("etc/x", strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			var rules []string
			for _, fd := range got {
				rules = append(rules, fd.Rule+"@"+itoa(fd.Line))
				if fd.Kind != scan.KindSecret || fd.Path != "etc/x" || fd.Fingerprint == "" {
					t.Errorf("finding %+v: want kind secret, path and fingerprint", fd)
				}
			}
			if diff := cmp.Diff(tt.want, rules); diff != "" {
				t.Errorf("rules (-want +got):\n%s", diff)
			}
			b, _ := json.Marshal(got)
			for _, secret := range []string{f.awsID, f.awsSecret, f.github, f.gitlab, f.slack, f.generic} {
				if strings.Contains(string(b), secret) || strings.Contains(string(b), secret[4:]) {
					t.Errorf("a finding reveals the secret: %s", b)
				}
			}
		})
	}
}

func itoa(i int) string {
	b, _ := json.Marshal(i)
	return string(b)
}

func TestVisitLayers(t *testing.T) {
	f := makeFakes(t)
	st := layertest.NewStore(t)
	l1 := st.Layer(t, layertest.Gzip,
		layertest.File{Path: "root/.aws/credentials", Body: []byte("aws_access_key_id = " + f.awsID + "\n")},
		layertest.File{Path: "usr/share/doc/pkg/README", Body: []byte(f.github)},
		layertest.File{Path: "big", Body: []byte(strings.Repeat("x", 2000) + f.github)},
	)
	l2 := st.Layer(t, layertest.Gzip, layertest.Whiteout("root/.aws/credentials"),
		layertest.File{Path: "app/.env", Body: []byte("GITHUB_TOKEN=" + f.github + "\n")})
	sc := secrets.New(secrets.Options{MaxFileSize: 1000})
	img, err := layers.Flatten(context.Background(), st.Opener(), st.Image(t, v1.Image{}, l1, l2), layers.Options{Visit: sc.Visit})
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	var got []string
	for _, fd := range sc.Findings() {
		got = append(got, fd.Path+" "+fd.Rule+" "+fd.Layer)
	}
	want := []string{
		"app/.env github-token " + l2.Digest.String(),
		"root/.aws/credentials aws-access-key-id " + l1.Digest.String(),
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("findings (-want +got):\n%s", diff)
	}
}

func TestFingerprint(t *testing.T) {
	a, b := secrets.Fingerprint("ghp_0123456789abcdef0123"), secrets.Fingerprint("ghp_0123456789abcdef0124")
	if a == b || !strings.HasPrefix(a, "ghp_…#") || len(a) != len("ghp_…#")+12 {
		t.Errorf("fingerprints %q, %q: want distinct, prefix ghp_ and 12 hex digits", a, b)
	}
	if s := secrets.Fingerprint("short"); strings.HasPrefix(s, "shor") {
		t.Errorf("Fingerprint of a short value shows part of it: %q", s)
	}
}
