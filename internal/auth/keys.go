package auth

import (
	"cmp"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/berth-registry/berth/internal/meta"
)

// keyring is a snapshot of the signing keys, replaced as a whole on reload
// so that verification reads it without a lock.
type keyring struct {
	// current signs new tokens (nil only before the first key exists).
	current *signingKey
	// keys are every usable key, newest first.
	keys []*signingKey
	byID map[string]*signingKey
}

// signingKey is one parsed key of the store.
type signingKey struct {
	id        string
	priv      *ecdsa.PrivateKey
	createdAt time.Time
	retiredAt time.Time
}

// public returns the public key called kid, or nil.
func (r *keyring) public(kid string) *ecdsa.PublicKey {
	if k := r.byID[kid]; k != nil {
		return &k.priv.PublicKey
	}
	return nil
}

// reloadIfStale reloads the keys unless they were loaded less than a second
// ago (by the clock of the options), so that tokens naming unknown keys
// cannot turn into a flood of queries.
func (t *TokenService) reloadIfStale(ctx context.Context) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.opts.Now().Sub(t.lastReload) < time.Second {
		return nil
	}
	return t.reloadLocked(ctx)
}

// reloadLocked loads every key from the store and makes the newest
// unretired one current. If the store holds several unretired keys (two
// replicas created or rotated at once) it retires all but the newest, so
// that every replica converges on one current key. t.mu must be held.
func (t *TokenService) reloadLocked(ctx context.Context) error {
	stored, err := t.keys.ListSigningKeys(ctx)
	if err != nil {
		return fmt.Errorf("load signing keys: %w", err)
	}
	now := t.opts.Now()
	t.lastReload = now
	ring := &keyring{byID: make(map[string]*signingKey, len(stored))}
	for _, sk := range stored {
		k, err := parseSigningKey(sk)
		if err != nil {
			t.log.WarnContext(ctx, "skipping unusable signing key", "kid", sk.ID, "err", err)
			continue
		}
		ring.keys = append(ring.keys, k)
		ring.byID[k.id] = k
	}
	// Newest first, ties broken by id, so every replica picks the same key.
	slices.SortFunc(ring.keys, func(a, b *signingKey) int {
		if c := b.createdAt.Compare(a.createdAt); c != 0 {
			return c
		}
		return cmp.Compare(b.id, a.id)
	})
	for _, k := range ring.keys {
		if !k.retiredAt.IsZero() {
			continue
		}
		if ring.current == nil {
			ring.current = k
			continue
		}
		if err := t.keys.RetireSigningKey(ctx, k.id, now); err != nil && !errdefs.IsNotFound(err) {
			t.log.WarnContext(ctx, "retire a superseded signing key", "kid", k.id, "err", err)
			continue
		}
		t.log.InfoContext(ctx, "retired a superseded signing key", "kid", k.id, "current", ring.current.id)
		k.retiredAt = now
	}
	t.ring.Store(ring)
	return nil
}

// parseSigningKey parses a stored ES256 key.
func parseSigningKey(sk meta.SigningKey) (*signingKey, error) {
	if sk.Algorithm != jwt.SigningMethodES256.Alg() {
		return nil, errdefs.Unsupported("signing key algorithm %q (want ES256)", sk.Algorithm)
	}
	priv, err := x509.ParsePKCS8PrivateKey(sk.Private)
	if err != nil {
		return nil, errdefs.Wrap(errdefs.ErrInvalid, err, "parse signing key")
	}
	ec, ok := priv.(*ecdsa.PrivateKey)
	if !ok || ec.Curve != elliptic.P256() {
		return nil, errdefs.Invalid("signing key is not a P-256 ECDSA key")
	}
	return &signingKey{id: sk.ID, priv: ec, createdAt: sk.CreatedAt, retiredAt: sk.RetiredAt}, nil
}

// createKeyLocked generates a P-256 key and stores it, named by its RFC 7638
// thumbprint. A key that another replica stored under the same id
// (ErrAlreadyExists) is as good as ours. t.mu must be held.
func (t *TokenService) createKeyLocked(ctx context.Context) error {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return errdefs.Wrap(errdefs.ErrUnavailable, err, "generate signing key")
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return fmt.Errorf("encode signing key: %w", err)
	}
	kid, err := thumbprint(&priv.PublicKey)
	if err != nil {
		return err
	}
	k := meta.SigningKey{ID: kid, Algorithm: jwt.SigningMethodES256.Alg(), Private: der, CreatedAt: t.opts.Now().UTC()}
	if err := t.keys.PutSigningKey(ctx, k); err != nil && !errdefs.IsAlreadyExists(err) {
		return fmt.Errorf("store signing key %s: %w", kid, err)
	}
	t.log.InfoContext(ctx, "created a signing key", "kid", kid)
	return nil
}

// Rotate makes a new signing key current and retires the previous one,
// which goes on verifying the tokens it signed until Run deletes it
// (RefreshTTL+TTL, plus a minute, after its retirement).
func (t *TokenService) Rotate(ctx context.Context) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.rotateLocked(ctx)
}

func (t *TokenService) rotateLocked(ctx context.Context) (err error) {
	defer errdefs.Wrapf(&err, "rotate signing key")
	old := t.ring.Load().current
	if err := t.createKeyLocked(ctx); err != nil {
		return err
	}
	if old != nil {
		if err := t.keys.RetireSigningKey(ctx, old.id, t.opts.Now().UTC()); err != nil && !errdefs.IsNotFound(err) {
			return fmt.Errorf("retire key %s: %w", old.id, err)
		}
	}
	return t.reloadLocked(ctx)
}

// maintenanceInterval is how often Run reloads, rotates and prunes keys.
const maintenanceInterval = time.Minute

// Run keeps the keys current until ctx ends: every minute it reloads them
// from the store, rotates when the current key is older than KeyRotation,
// and deletes keys retired longer ago than RefreshTTL+TTL (no token they
// signed can still be valid), plus one interval for replicas that signed
// with a key before learning it was retired. Errors are logged and retried
// next time.
func (t *TokenService) Run(ctx context.Context) {
	tick := time.NewTicker(maintenanceInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if err := t.maintain(ctx); err != nil && ctx.Err() == nil {
				t.log.WarnContext(ctx, "signing key maintenance", "err", err)
			}
		}
	}
}

// maintain is one round of Run.
func (t *TokenService) maintain(ctx context.Context) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.reloadLocked(ctx); err != nil {
		return err
	}
	now := t.opts.Now()
	ring := t.ring.Load()
	if ring.current == nil || !now.Before(ring.current.createdAt.Add(t.opts.KeyRotation)) {
		if err := t.rotateLocked(ctx); err != nil {
			return err
		}
		ring = t.ring.Load()
	}
	// A replica that has not reloaded since the retirement may have gone
	// on signing with the key for up to one more interval.
	grace := t.opts.RefreshTTL + t.opts.TTL + maintenanceInterval
	deleted := false
	for _, k := range ring.keys {
		if k.retiredAt.IsZero() || now.Sub(k.retiredAt) <= grace {
			continue
		}
		if err := t.keys.DeleteSigningKey(ctx, k.id); err != nil && !errdefs.IsNotFound(err) {
			return fmt.Errorf("delete expired signing key %s: %w", k.id, err)
		}
		t.log.InfoContext(ctx, "deleted an expired signing key", "kid", k.id)
		deleted = true
	}
	if deleted {
		return t.reloadLocked(ctx)
	}
	return nil
}

// jwk is the JSON Web Key of a P-256 public key.
type jwk struct {
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y"`
	Kid string `json:"kid,omitempty"`
	Use string `json:"use,omitempty"`
	Alg string `json:"alg,omitempty"`
}

// newJWK returns the JWK of pub.
func newJWK(pub *ecdsa.PublicKey) (jwk, error) {
	e, err := pub.ECDH()
	if err != nil {
		return jwk{}, fmt.Errorf("encode public key: %w", err)
	}
	pt := e.Bytes() // 0x04 || X || Y, 32 bytes each
	enc := base64.RawURLEncoding
	return jwk{Kty: "EC", Crv: "P-256", X: enc.EncodeToString(pt[1:33]), Y: enc.EncodeToString(pt[33:65])}, nil
}

// thumbprint returns the RFC 7638 JWK thumbprint of pub, base64url.
func thumbprint(pub *ecdsa.PublicKey) (string, error) {
	j, err := newJWK(pub)
	if err != nil {
		return "", err
	}
	// The required members in lexicographic order, no whitespace.
	canon := fmt.Sprintf(`{"crv":%q,"kty":%q,"x":%q,"y":%q}`, j.Crv, j.Kty, j.X, j.Y)
	sum := sha256.Sum256([]byte(canon))
	return base64.RawURLEncoding.EncodeToString(sum[:]), nil
}

// JWKS returns the JWK set (application/json) of the public halves of
// every key that still verifies tokens: the current key and the retired
// ones not yet deleted. Keys are reloaded first if the snapshot is more
// than a second old, so a set served by any replica includes a key another
// replica just created.
func (t *TokenService) JWKS(ctx context.Context) ([]byte, error) {
	if err := t.reloadIfStale(ctx); err != nil {
		return nil, fmt.Errorf("jwks: %w", err)
	}
	set := struct {
		Keys []jwk `json:"keys"`
	}{Keys: []jwk{}}
	for _, k := range t.ring.Load().keys {
		j, err := newJWK(&k.priv.PublicKey)
		if err != nil {
			return nil, fmt.Errorf("jwks: key %s: %w", k.id, err)
		}
		j.Kid, j.Use, j.Alg = k.id, "sig", jwt.SigningMethodES256.Alg()
		set.Keys = append(set.Keys, j)
	}
	b, err := json.Marshal(set)
	if err != nil {
		return nil, fmt.Errorf("jwks: %w", err)
	}
	return b, nil
}
