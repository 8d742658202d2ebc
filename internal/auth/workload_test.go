package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"
	"github.com/google/go-cmp/cmp"

	"github.com/berth-registry/berth/internal/access"
	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/berth-registry/berth/internal/meta"
)

// testIssuer is a real OIDC issuer on 127.0.0.1: a discovery document and
// a JWK set, and tokens signed with a key made for the test.
type testIssuer struct {
	url string
	key *ecdsa.PrivateKey
	kid string
}

func newTestIssuer(t *testing.T) *testIssuer {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	iss := &testIssuer{key: key, kid: "test-key-1"}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, map[string]any{
			"issuer":                                iss.url,
			"jwks_uri":                              iss.url + "/keys",
			"authorization_endpoint":                iss.url + "/authorize",
			"token_endpoint":                        iss.url + "/token",
			"response_types_supported":              []string{"id_token"},
			"subject_types_supported":               []string{"public"},
			"id_token_signing_alg_values_supported": []string{"ES256"},
		})
	})
	mux.HandleFunc("GET /keys", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{
			{Key: &key.PublicKey, KeyID: iss.kid, Algorithm: "ES256", Use: "sig"},
		}})
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	iss.url = srv.URL
	return iss
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// token signs claims (iss defaults to the issuer) with the issuer's key.
func (i *testIssuer) token(t *testing.T, claims jwt.MapClaims) string {
	t.Helper()
	if _, ok := claims["iss"]; !ok {
		claims["iss"] = i.url
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, claims)
	tok.Header["kid"] = i.kid
	s, err := tok.SignedString(i.key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// noSecret is the secret hash of robots that only log in with workload
// tokens: it matches no secret.
var noSecret = "sha256:" + strings.Repeat("0", 64)

func TestWorkloadIdentity(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	for _, r := range []*meta.Robot{
		{Name: "robot$ci", SecretHash: noSecret, Permissions: []meta.RobotPermission{{Project: "*", Actions: []string{"pull", "push"}}}},
		{Name: "robot$k8s", SecretHash: noSecret, Permissions: []meta.RobotPermission{{Project: "*", Actions: []string{"pull"}}}},
	} {
		if err := f.store.CreateRobot(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	ci, other := newTestIssuer(t), newTestIssuer(t)
	a := f.auth(AuthOptions{Workload: []WorkloadRule{
		{Issuer: ci.url, Audience: "berth", Robot: "robot$ci",
			Claims: map[string]string{"repository": "acme/*", "ref": "refs/heads/main"}},
		{Issuer: ci.url, Audience: "berth-k8s", Robot: "robot$k8s",
			Claims: map[string]string{"kubernetes.io.namespace": "build-*"}},
		{Issuer: ci.url, Audience: "berth-ghost", Robot: "robot$ghost"},
		{Issuer: ci.url, Audience: "berth-off", Robot: "robot$off"},
		{Issuer: ci.url, Audience: "berth-old", Robot: "robot$old"},
		{Issuer: ci.url, Robot: "robot$ci"}, // no audience: ignored
	}})
	now := f.clk.Now()
	claims := func(aud string, extra jwt.MapClaims) jwt.MapClaims {
		c := jwt.MapClaims{"sub": "repo:acme/app:ref:refs/heads/main", "aud": aud,
			"iat": now.Unix(), "exp": now.Add(10 * time.Minute).Unix(),
			"repository": "acme/app", "ref": "refs/heads/main"}
		for k, v := range extra {
			c[k] = v
		}
		return c
	}
	ciRobot := &access.Principal{Kind: access.RobotKind, Name: "robot$ci",
		Permissions: []meta.RobotPermission{{Project: "*", Actions: []string{"pull", "push"}}}}
	tests := []struct {
		name string
		user string
		raw  string
		want *access.Principal // nil: ErrUnauthenticated
	}{
		{"matching claims", "", ci.token(t, claims("berth", nil)), ciRobot},
		{"audience among several", "ci", ci.token(t, claims("", jwt.MapClaims{"aud": []string{"sts", "berth"}})), ciRobot},
		{"username names the rule's robot", "robot$ci", ci.token(t, claims("berth", nil)), ciRobot},
		{"username names another robot", "robot$k8s", ci.token(t, claims("berth", nil)), nil},
		{"nested claim", "", ci.token(t, claims("berth-k8s", jwt.MapClaims{"kubernetes.io": map[string]any{"namespace": "build-7"}})),
			&access.Principal{Kind: access.RobotKind, Name: "robot$k8s",
				Permissions: []meta.RobotPermission{{Project: "*", Actions: []string{"pull"}}}}},
		{"nested claim does not match", "", ci.token(t, claims("berth-k8s", jwt.MapClaims{"kubernetes.io": map[string]any{"namespace": "prod"}})), nil},
		{"wrong audience", "", ci.token(t, claims("someone-else", nil)), nil},
		{"claim does not match", "", ci.token(t, claims("berth", jwt.MapClaims{"ref": "refs/heads/evil"})), nil},
		{"pattern does not cross a slash", "", ci.token(t, claims("berth", jwt.MapClaims{"repository": "acme/app/sub"})), nil},
		{"claim missing", "", ci.token(t, claims("berth", jwt.MapClaims{"ref": nil})), nil},
		{"expired", "", ci.token(t, claims("berth", jwt.MapClaims{"exp": now.Add(-time.Minute).Unix()})), nil},
		{"untrusted issuer", "", other.token(t, claims("berth", nil)), nil},
		{"trusted issuer named, other key", "", other.token(t, claims("berth", jwt.MapClaims{"iss": ci.url})), nil},
		{"unknown robot", "", ci.token(t, claims("berth-ghost", nil)), nil},
		{"disabled robot", "", ci.token(t, claims("berth-off", nil)), nil},
		{"expired robot", "", ci.token(t, claims("berth-old", nil)), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := a.Password(ctx, tt.user, tt.raw, "203.0.113.5")
			a.perAddress.reset("203.0.113.5")
			a.perAccount.reset(tt.user)
			if tt.want == nil {
				if !errors.Is(err, errdefs.ErrUnauthenticated) {
					t.Fatalf("Password = %+v, %v; want ErrUnauthenticated", p, err)
				}
				if err.Error() != badCredentials().Error() {
					t.Errorf("message %q differs from a wrong password's", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Password: %v", err)
			}
			if diff := cmp.Diff(*tt.want, p, cmpPrincipal); diff != "" {
				t.Errorf("principal (-want +got):\n%s", diff)
			}
		})
	}
}

func TestWorkloadIssuerDown(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	iss := newTestIssuer(t)
	var hits atomic.Int32
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
	}))
	t.Cleanup(down.Close)
	a := f.auth(AuthOptions{Workload: []WorkloadRule{{Issuer: down.URL, Audience: "berth", Robot: "robot$proj+ci"}}})
	raw := iss.token(t, jwt.MapClaims{"iss": down.URL, "aud": "berth", "exp": f.clk.Now().Add(time.Hour).Unix()})
	steps := []struct {
		name    string
		advance time.Duration
		hits    int32 // discovery requests so far
	}{
		{"discovery fails", 0, 1},
		{"retry is held back", 5 * time.Second, 1},
		{"retried after 10s", 5 * time.Second, 2},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			f.clk.Add(s.advance)
			_, err := a.Password(ctx, "", raw, "203.0.113.5")
			if !errors.Is(err, errdefs.ErrUnavailable) {
				t.Fatalf("err = %v, want ErrUnavailable", err)
			}
			if got := hits.Load(); got != s.hits {
				t.Errorf("%d discovery requests, want %d", got, s.hits)
			}
		})
	}
}

func TestClaimText(t *testing.T) {
	claims := map[string]any{
		"sub":           "system:serviceaccount:build:builder",
		"run_attempt":   float64(2),
		"ephemeral":     true,
		"kubernetes.io": map[string]any{"namespace": "build", "pod": map[string]any{"name": "p-1"}},
		"list":          []any{"a"},
	}
	tests := []struct {
		name, want string
		ok         bool
	}{
		{"sub", "system:serviceaccount:build:builder", true},
		{"run_attempt", "2", true},
		{"ephemeral", "true", true},
		{"kubernetes.io.namespace", "build", true},
		{"kubernetes.io.pod.name", "p-1", true},
		{"kubernetes.io", "", false},
		{"list", "", false},
		{"missing", "", false},
		{"kubernetes.io.missing", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := claimText(claims, tt.name)
			if got != tt.want || ok != tt.ok {
				t.Errorf("claimText = %q, %v; want %q, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}
