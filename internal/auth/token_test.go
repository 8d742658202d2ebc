package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/berth-registry/berth/internal/access"
	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/berth-registry/berth/internal/meta/sqlite"
)

// kidOf returns the kid in the header of raw.
func kidOf(t *testing.T, raw string) string {
	t.Helper()
	tok, _, err := jwt.NewParser().ParseUnverified(raw, &Claims{})
	if err != nil {
		t.Fatal(err)
	}
	kid, _ := tok.Header["kid"].(string)
	return kid
}

func TestIssueVerify(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	ts := newTokens(t, newStore(t), clk, TokenOptions{Issuer: "berth.test", Service: "registry.test"})
	if got := ts.Service(); got != "registry.test" {
		t.Errorf("Service() = %q", got)
	}
	grants := []ResourceActions{
		{Type: "repository", Name: "team/app", Actions: []string{"pull", "push"}},
		{Type: "registry", Name: "catalog", Actions: []string{"*"}},
	}
	raw, at, ttl, err := ts.Issue(ctx, "alice", access.UserKind, grants)
	if err != nil {
		t.Fatal(err)
	}
	if !at.Equal(clk.Now()) || ttl != 5*time.Minute {
		t.Errorf("issued at %v for %v, want %v for 5m", at, ttl, clk.Now())
	}
	c, err := ts.Verify(ctx, raw, UseAccess)
	if err != nil {
		t.Fatal(err)
	}
	want := &Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    "berth.test",
			Subject:   "alice",
			Audience:  jwt.ClaimStrings{"registry.test"},
			ExpiresAt: jwt.NewNumericDate(at.Add(5 * time.Minute)),
			NotBefore: jwt.NewNumericDate(at),
			IssuedAt:  jwt.NewNumericDate(at),
		},
		Access: grants,
		Kind:   access.UserKind,
		Use:    UseAccess,
	}
	if diff := cmp.Diff(want, c, cmpopts.IgnoreFields(jwt.RegisteredClaims{}, "ID")); diff != "" {
		t.Errorf("claims (-want +got):\n%s", diff)
	}
	if c.ID == "" {
		t.Error("token has no jti")
	}
	if _, _, _, err := ts.Issue(ctx, "", access.System, nil); !errdefs.IsInvalid(err) {
		t.Errorf("Issue(system) err = %v, want ErrInvalid", err)
	}
}

func TestVerifyRejects(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	store := newStore(t)
	ts := newTokens(t, store, clk, TokenOptions{})
	otherAud := newTokens(t, store, clk, TokenOptions{Service: "elsewhere"})
	otherIss := newTokens(t, store, clk, TokenOptions{Issuer: "evil"})

	good, _, _, err := ts.Issue(ctx, "alice", access.UserKind, nil)
	if err != nil {
		t.Fatal(err)
	}
	refresh, err := ts.IssueRefresh(ctx, "alice", access.UserKind)
	if err != nil {
		t.Fatal(err)
	}
	wrongAud, _, _, err := otherAud.Issue(ctx, "alice", access.UserKind, nil)
	if err != nil {
		t.Fatal(err)
	}
	wrongIss, _, _, err := otherIss.Issue(ctx, "alice", access.UserKind, nil)
	if err != nil {
		t.Fatal(err)
	}
	cur := ts.ring.Load().current
	validClaims := func() *Claims {
		now := clk.Now()
		return &Claims{RegisteredClaims: jwt.RegisteredClaims{Issuer: "berth", Subject: "mallory",
			Audience: jwt.ClaimStrings{"berth"}, IssuedAt: jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour))},
			Kind: access.UserKind, Use: UseAccess,
			Access: []ResourceActions{{Type: "repository", Name: "x/y", Actions: []string{"*"}}}}
	}

	// alg none, with the current kid.
	none := jwt.NewWithClaims(jwt.SigningMethodNone, validClaims())
	none.Header["kid"] = cur.id
	noneRaw, err := none.SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}
	// HS256 keyed with the public key, the classic algorithm confusion.
	pubDER, err := x509.MarshalPKIXPublicKey(&cur.priv.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	hs := jwt.NewWithClaims(jwt.SigningMethodHS256, validClaims())
	hs.Header["kid"] = cur.id
	hsRaw, err := hs.SignedString(pubPEM)
	if err != nil {
		t.Fatal(err)
	}
	// A well-formed ES256 token from a key that is not ours.
	foreign, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sign := func(kid string) string {
		tok := jwt.NewWithClaims(jwt.SigningMethodES256, validClaims())
		tok.Header["kid"] = kid
		s, err := tok.SignedString(foreign)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	// Our signature over other claims.
	parts := strings.Split(good, ".")
	forgedBody := strings.Split(sign(cur.id), ".")[1]
	swapped := parts[0] + "." + forgedBody + "." + parts[2]
	// Another character in the middle of the signature.
	sig := []byte(parts[2])
	if sig[10] == 'A' {
		sig[10] = 'B'
	} else {
		sig[10] = 'A'
	}
	tampered := parts[0] + "." + parts[1] + "." + string(sig)

	tests := []struct {
		name string
		raw  string
		use  string
	}{
		{"empty", "", UseAccess},
		{"garbage", "not.a.token", UseAccess},
		{"tampered signature", tampered, UseAccess},
		{"claims swapped under our signature", swapped, UseAccess},
		{"alg none", noneRaw, UseAccess},
		{"HS256 keyed with the public key", hsRaw, UseAccess},
		{"foreign key under our kid", sign(cur.id), UseAccess},
		{"unknown kid", sign("no-such-key"), UseAccess},
		{"no kid", sign(""), UseAccess},
		{"wrong audience", wrongAud, UseAccess},
		{"wrong issuer", wrongIss, UseAccess},
		{"refresh token as access token", refresh, UseAccess},
		{"access token as refresh token", good, UseRefresh},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ts.Verify(ctx, tt.raw, tt.use)
			if !errors.Is(err, errdefs.ErrUnauthenticated) {
				t.Fatalf("Verify = %+v, %v; want ErrUnauthenticated", c, err)
			}
		})
	}
	if _, err := ts.Verify(ctx, good, UseAccess); err != nil {
		t.Errorf("the untouched token: %v", err)
	}
	if _, err := ts.Verify(ctx, refresh, UseRefresh); err != nil {
		t.Errorf("the untouched refresh token: %v", err)
	}
	if n := ts.cache.size(); n != 1 {
		t.Errorf("%d tokens cached, want only the one valid access token", n)
	}
}

func TestVerifyTimes(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	store := newStore(t)
	ts := newTokens(t, store, clk, TokenOptions{TTL: time.Minute})
	raw, _, _, err := ts.Issue(ctx, "bot", access.RobotKind, nil)
	if err != nil {
		t.Fatal(err)
	}
	// A token issued by a replica whose clock runs ahead.
	aheadClk := &clock{t: clk.Now().Add(10 * time.Minute)}
	ahead := newTokens(t, store, aheadClk, TokenOptions{})
	future, _, _, err := ahead.Issue(ctx, "bot", access.RobotKind, nil)
	if err != nil {
		t.Fatal(err)
	}
	aheadClk.Add(-10*time.Minute + 20*time.Second)
	slightlyAhead, _, _, err := ahead.Issue(ctx, "bot", access.RobotKind, nil)
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name    string
		raw     string
		advance time.Duration // clock moves before this case
		ok      bool
	}{
		{"fresh", raw, 0, true},
		{"issued 20s ahead (within leeway)", slightlyAhead, 0, true},
		{"issued 10m ahead", future, 0, false},
		{"20s after expiry (within leeway)", raw, time.Minute + 20*time.Second, true},
		{"expired, though cached", raw, 20 * time.Second, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk.Add(tt.advance)
			_, err := ts.Verify(ctx, tt.raw, UseAccess)
			if tt.ok && err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if !tt.ok && !errors.Is(err, errdefs.ErrUnauthenticated) {
				t.Fatalf("Verify err = %v, want ErrUnauthenticated", err)
			}
		})
	}
}

func TestTokenCache(t *testing.T) {
	now := time.Now()
	c := newTokenCache(10)
	claims := &Claims{Use: UseAccess}
	for i := range 25 {
		c.put(strings.Repeat("t", i+1), claims, now.Add(time.Minute), now)
		if n := c.size(); n > 10 {
			t.Fatalf("cache holds %d entries, bound is 10", n)
		}
	}
	last := strings.Repeat("t", 25)
	if c.get(last, now) != claims {
		t.Error("the newest entry is missing")
	}
	if c.get(last, now.Add(time.Minute)) != nil {
		t.Error("an entry is returned at its expiry")
	}
	c.put("expired", claims, now, now)
	if c.get("expired", now.Add(-time.Second)) != nil {
		t.Error("an already expired token was cached")
	}
}

// BenchmarkBearerCached measures the hot path: a Bearer token presented
// again and again (go test -bench Bearer ./internal/auth).
func BenchmarkBearerCached(b *testing.B) {
	ctx := context.Background()
	clk := newClock()
	store, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "berth.db"), sqlite.Options{Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	ts, err := NewTokenService(ctx, store, TokenOptions{Now: clk.Now, Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	a := NewAuthenticator(store, AuthOptions{Tokens: ts, Now: clk.Now, Logger: quiet})
	raw, _, _, err := ts.Issue(ctx, "alice", access.UserKind,
		[]ResourceActions{{Type: "repository", Name: "proj/app", Actions: []string{"pull"}}})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, _, err := a.Bearer(ctx, raw); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
