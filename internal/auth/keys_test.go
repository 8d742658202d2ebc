package auth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"slices"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/google/go-cmp/cmp"

	"github.com/berth-registry/berth/internal/access"
	"github.com/berth-registry/berth/internal/meta"
)

// jwksKids parses a JWK set with go-jose (an independent reader), checks
// that every key is an ES256 signing key whose kid is its RFC 7638
// thumbprint, and returns the kids in order.
func jwksKids(t *testing.T, ts *TokenService) []string {
	t.Helper()
	b, err := ts.JWKS(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(b, &set); err != nil {
		t.Fatalf("JWKS %s: %v", b, err)
	}
	var kids []string
	for _, k := range set.Keys {
		if _, ok := k.Key.(*ecdsa.PublicKey); !ok || k.Algorithm != "ES256" || k.Use != "sig" || !k.IsPublic() {
			t.Errorf("JWK %s: key %T, alg %q, use %q; want a public ES256 signing key", k.KeyID, k.Key, k.Algorithm, k.Use)
		}
		tp, err := k.Thumbprint(crypto.SHA256)
		if err != nil {
			t.Fatal(err)
		}
		if got := base64.RawURLEncoding.EncodeToString(tp); got != k.KeyID {
			t.Errorf("kid %s is not the key's thumbprint %s", k.KeyID, got)
		}
		kids = append(kids, k.KeyID)
	}
	return kids
}

func TestRotation(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	store := newStore(t)
	ts := newTokens(t, store, clk, TokenOptions{TTL: time.Minute, RefreshTTL: time.Hour, KeyRotation: 100 * time.Hour})

	old, _, _, err := ts.Issue(ctx, "alice", access.UserKind, nil)
	if err != nil {
		t.Fatal(err)
	}
	oldRefresh, err := ts.IssueRefresh(ctx, "alice", access.UserKind)
	if err != nil {
		t.Fatal(err)
	}
	k1 := kidOf(t, old)
	if diff := cmp.Diff([]string{k1}, jwksKids(t, ts)); diff != "" {
		t.Errorf("JWKS before rotation (-want +got):\n%s", diff)
	}

	clk.Add(time.Second)
	if err := ts.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	fresh, _, _, err := ts.Issue(ctx, "alice", access.UserKind, nil)
	if err != nil {
		t.Fatal(err)
	}
	k2 := kidOf(t, fresh)
	if k2 == k1 {
		t.Fatal("the token issued after Rotate uses the old key")
	}
	for name, raw := range map[string]string{"old": old, "new": fresh} {
		if _, err := ts.Verify(ctx, raw, UseAccess); err != nil {
			t.Errorf("%s token after rotation: %v", name, err)
		}
	}
	if diff := cmp.Diff([]string{k2, k1}, jwksKids(t, ts)); diff != "" {
		t.Errorf("JWKS after rotation (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{k2}, unretired(t, store)); diff != "" {
		t.Errorf("unretired keys (-want +got):\n%s", diff)
	}

	// Within RefreshTTL+TTL of the retirement the old key stays.
	clk.Add(30 * time.Minute)
	if err := ts.maintain(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := ts.Verify(ctx, oldRefresh, UseRefresh); err != nil {
		t.Errorf("refresh token of the retired key: %v", err)
	}
	// After it, the old key is deleted; the current one is kept.
	clk.Add(time.Hour)
	if err := ts.maintain(ctx); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{k2}, jwksKids(t, ts)); diff != "" {
		t.Errorf("JWKS after the grace period (-want +got):\n%s", diff)
	}
	keys, err := store.ListSigningKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 || keys[0].ID != k2 {
		t.Errorf("store holds %d keys, want only %s", len(keys), k2)
	}
}

func TestMaintainRotatesWhenDue(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	store := newStore(t)
	ts := newTokens(t, store, clk, TokenOptions{KeyRotation: time.Hour})
	k1 := ts.ring.Load().current.id

	clk.Add(59 * time.Minute)
	if err := ts.maintain(ctx); err != nil {
		t.Fatal(err)
	}
	if got := ts.ring.Load().current.id; got != k1 {
		t.Errorf("rotated after 59m of a 1h rotation period")
	}
	clk.Add(time.Minute)
	if err := ts.maintain(ctx); err != nil {
		t.Fatal(err)
	}
	k2 := ts.ring.Load().current.id
	if k2 == k1 {
		t.Fatal("not rotated after the rotation period")
	}
	if diff := cmp.Diff([]string{k2}, unretired(t, store)); diff != "" {
		t.Errorf("unretired keys (-want +got):\n%s", diff)
	}
}

func TestTwoServicesAgree(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	store := newStore(t)
	a := newTokens(t, store, clk, TokenOptions{})
	b := newTokens(t, store, clk, TokenOptions{})
	if a.ring.Load().current.id != b.ring.Load().current.id {
		t.Fatal("the second service made a key of its own on a store that had one")
	}
	fromA, _, _, err := a.Issue(ctx, "alice", access.UserKind, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Verify(ctx, fromA, UseAccess); err != nil {
		t.Fatalf("B verifies A's token: %v", err)
	}

	// A rotates: B learns the new key when a token names it, at most
	// once a second.
	if err := a.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	rotated, _, _, err := a.Issue(ctx, "alice", access.UserKind, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Verify(ctx, rotated, UseAccess); err == nil {
		t.Error("B reloaded keys within a second of its last load")
	}
	clk.Add(time.Second)
	if _, err := b.Verify(ctx, rotated, UseAccess); err != nil {
		t.Fatalf("B verifies a token of A's new key: %v", err)
	}
	fromB, _, _, err := b.Issue(ctx, "bob", access.UserKind, nil)
	if err != nil {
		t.Fatal(err)
	}
	if kidOf(t, fromB) != kidOf(t, rotated) {
		t.Error("B signs with another key than A after reloading")
	}
	if diff := cmp.Diff(jwksKids(t, a), jwksKids(t, b)); diff != "" {
		t.Errorf("JWKS of A and B differ (-A +B):\n%s", diff)
	}
}

func TestConcurrentStartConverges(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	store := newStore(t)
	services := make([]*TokenService, 4)
	var wg sync.WaitGroup
	for i := range services {
		wg.Go(func() {
			ts, err := NewTokenService(ctx, store, TokenOptions{Now: clk.Now, Logger: quiet})
			if err != nil {
				t.Error(err)
				return
			}
			services[i] = ts
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	checkConverged(t, clk, store, services)
}

func TestDuplicateCurrentKeysConverge(t *testing.T) {
	// Two replicas that created (or rotated to) a key at once leave two
	// unretired keys; whoever loads next retires all but the newest.
	ctx := context.Background()
	clk := newClock()
	store := newStore(t)
	a := newTokens(t, store, clk, TokenOptions{})
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	kid, err := thumbprint(&priv.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.PutSigningKey(ctx, meta.SigningKey{ID: kid, Algorithm: "ES256", Private: der,
		CreatedAt: clk.Now().Add(time.Second)}); err != nil {
		t.Fatal(err)
	}
	b := newTokens(t, store, clk, TokenOptions{})
	if got := b.ring.Load().current.id; got != kid {
		t.Errorf("B's current key is %s, want the newest", got)
	}
	checkConverged(t, clk, store, []*TokenService{a, b})
}

// checkConverged reloads every service and checks that they share one
// current key, the only unretired key of the store, and verify each
// other's tokens.
func checkConverged(t *testing.T, clk *clock, store meta.SigningKeys, services []*TokenService) {
	t.Helper()
	ctx := context.Background()
	clk.Add(time.Second)
	for _, ts := range services {
		if err := ts.reloadIfStale(ctx); err != nil {
			t.Fatal(err)
		}
	}
	cur := unretired(t, store)
	if len(cur) != 1 {
		t.Fatalf("store holds %d unretired keys, want 1", len(cur))
	}
	var tokens []string
	for i, ts := range services {
		if got := ts.ring.Load().current.id; got != cur[0] {
			t.Errorf("service %d signs with %s, want %s", i, got, cur[0])
		}
		raw, _, _, err := ts.Issue(ctx, "alice", access.UserKind, nil)
		if err != nil {
			t.Fatal(err)
		}
		tokens = append(tokens, raw)
	}
	for i, ts := range services {
		for j, raw := range tokens {
			if _, err := ts.Verify(ctx, raw, UseAccess); err != nil {
				t.Errorf("service %d rejects the token of service %d: %v", i, j, err)
			}
		}
	}
	if !slices.Contains(jwksKids(t, services[0]), cur[0]) {
		t.Error("JWKS lacks the current key")
	}
}
