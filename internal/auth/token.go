package auth

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/berth-registry/berth/internal/access"
	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/berth-registry/berth/internal/meta"
)

// ResourceActions is one entry of a token's "access" claim (Docker token spec).
type ResourceActions struct {
	Type    string   `json:"type"`    // "repository" or "registry"
	Name    string   `json:"name"`    // repository name, or "catalog"
	Actions []string `json:"actions"` // "pull", "push", "delete", "*"
}

// Claims are a registry token's claims.
type Claims struct {
	jwt.RegisteredClaims
	Access []ResourceActions `json:"access,omitempty"`
	Kind   access.Kind       `json:"kind,omitempty"` // principal kind of the subject
	Use    string            `json:"use,omitempty"`  // "access" or "refresh"
}

// The values of Claims.Use.
const (
	// UseAccess marks a short-lived access token sent as a Bearer token.
	UseAccess = "access"
	// UseRefresh marks a long-lived refresh token, redeemed at the token
	// endpoint for access tokens.
	UseRefresh = "refresh"
)

// TokenOptions configures a TokenService. Zero fields take the defaults
// named on each.
type TokenOptions struct {
	Issuer      string        // "iss"; default "berth"
	Service     string        // "aud" and the service= of challenges; default "berth"
	TTL         time.Duration // access tokens; default 5m
	RefreshTTL  time.Duration // refresh tokens (containerd/helm "offline" tokens); default 720h
	KeyRotation time.Duration // a new signing key this often; default 720h
	Now         func() time.Time
	Logger      *slog.Logger
}

func (o *TokenOptions) setDefaults() {
	if o.Issuer == "" {
		o.Issuer = "berth"
	}
	if o.Service == "" {
		o.Service = "berth"
	}
	if o.TTL <= 0 {
		o.TTL = 5 * time.Minute
	}
	if o.RefreshTTL <= 0 {
		o.RefreshTTL = 720 * time.Hour
	}
	if o.KeyRotation <= 0 {
		o.KeyRotation = 720 * time.Hour
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// leeway is the clock skew tolerated on exp, nbf and iat.
const leeway = 30 * time.Second

// TokenService issues and verifies registry tokens signed with ES256 keys
// kept in the metadata store. It is safe for concurrent use.
type TokenService struct {
	keys   meta.SigningKeys
	opts   TokenOptions
	log    *slog.Logger
	parser *jwt.Parser

	ring atomic.Pointer[keyring]
	// mu serialises key loads and changes made by this process.
	mu         sync.Mutex
	lastReload time.Time

	cache *tokenCache
}

// NewTokenService returns a token service over the keys of keys (shared by
// every replica). On an empty store it creates the first signing key; when
// several replicas start at once, each ends with the same current key and
// can verify the keys of all the others.
func NewTokenService(ctx context.Context, keys meta.SigningKeys, opts TokenOptions) (*TokenService, error) {
	opts.setDefaults()
	t := &TokenService{
		keys: keys,
		opts: opts,
		log:  opts.Logger,
		parser: jwt.NewParser(
			jwt.WithValidMethods([]string{jwt.SigningMethodES256.Alg()}),
			jwt.WithIssuer(opts.Issuer),
			jwt.WithAudience(opts.Service),
			jwt.WithLeeway(leeway),
			jwt.WithTimeFunc(opts.Now),
			jwt.WithIssuedAt(),
			jwt.WithExpirationRequired(),
		),
		cache: newTokenCache(tokenCacheSize),
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.reloadLocked(ctx); err != nil {
		return nil, fmt.Errorf("start token service: %w", err)
	}
	if t.ring.Load().current == nil {
		if err := t.createKeyLocked(ctx); err != nil {
			return nil, fmt.Errorf("start token service: %w", err)
		}
		if err := t.reloadLocked(ctx); err != nil {
			return nil, fmt.Errorf("start token service: %w", err)
		}
		if t.ring.Load().current == nil {
			return nil, errdefs.Unavailable("start token service: no current signing key after creating one")
		}
	}
	return t, nil
}

// Service returns the service name: the audience of the tokens and the
// service= parameter of Bearer challenges.
func (t *TokenService) Service() string { return t.opts.Service }

// Issue signs an access token for subject (a principal of kind kind; "" for
// an anonymous caller) granting grants. It returns the token, when it was
// issued and how long it lives (TTL), for the token endpoint's response.
// It refuses kind access.System: Berth's own jobs never hold tokens.
func (t *TokenService) Issue(ctx context.Context, subject string, kind access.Kind, grants []ResourceActions) (token string, issuedAt time.Time, expiresIn time.Duration, err error) {
	if kind == access.System {
		return "", time.Time{}, 0, errdefs.Invalid("issue token: system principals get no tokens")
	}
	now := t.opts.Now().Truncate(time.Second)
	token, err = t.sign(now, subject, kind, UseAccess, t.opts.TTL, grants)
	if err != nil {
		return "", time.Time{}, 0, err
	}
	return token, now, t.opts.TTL, nil
}

// IssueRefresh signs a refresh token for subject, valid for RefreshTTL. It
// grants nothing by itself: the token endpoint redeems it for access tokens
// after checking (Authenticator.Lookup) that the subject still exists.
func (t *TokenService) IssueRefresh(ctx context.Context, subject string, kind access.Kind) (string, error) {
	if kind == access.System || kind == access.Anonymous || subject == "" {
		return "", errdefs.Invalid("issue refresh token: only users and robots get refresh tokens")
	}
	return t.sign(t.opts.Now().Truncate(time.Second), subject, kind, UseRefresh, t.opts.RefreshTTL, nil)
}

// sign makes and signs a token with the current key.
func (t *TokenService) sign(now time.Time, subject string, kind access.Kind, use string, ttl time.Duration, grants []ResourceActions) (string, error) {
	cur := t.ring.Load().current
	if cur == nil {
		return "", errdefs.Unavailable("sign token: no current signing key")
	}
	id := make([]byte, 16)
	if _, err := rand.Read(id); err != nil {
		return "", errdefs.Wrap(errdefs.ErrUnavailable, err, "sign token: read random id")
	}
	c := &Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    t.opts.Issuer,
			Subject:   subject,
			Audience:  jwt.ClaimStrings{t.opts.Service},
			ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
			NotBefore: jwt.NewNumericDate(now),
			IssuedAt:  jwt.NewNumericDate(now),
			ID:        base64.RawURLEncoding.EncodeToString(id),
		},
		Access: grants,
		Kind:   kind,
		Use:    use,
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, c)
	tok.Header["kid"] = cur.id
	s, err := tok.SignedString(cur.priv)
	if err != nil {
		return "", fmt.Errorf("sign token with key %s: %w", cur.id, err)
	}
	return s, nil
}

// Verify checks raw, a token of this service, and returns its claims: the
// algorithm must be ES256, the kid a key in the store, iss the Issuer, aud
// include the Service, exp, nbf and iat hold (30 s of leeway), and use
// equal use (UseAccess or UseRefresh). Any failure is of class
// errdefs.ErrUnauthenticated.
//
// Verified access tokens are cached until they expire, so verifying one
// again is a map lookup. The returned Claims may be shared with other
// callers and must not be modified.
func (t *TokenService) Verify(ctx context.Context, raw, use string) (*Claims, error) {
	now := t.opts.Now()
	if use == UseAccess {
		if c := t.cache.get(raw, now); c != nil {
			return c, nil
		}
	}
	c := &Claims{}
	if _, err := t.parser.ParseWithClaims(raw, c, t.keyFunc(ctx)); err != nil {
		return nil, errdefs.Wrap(errdefs.ErrUnauthenticated, err, "invalid registry token")
	}
	if c.Use != use {
		return nil, errdefs.Unauthenticated("invalid registry token: a %q token, not an %q token", c.Use, use)
	}
	if use == UseAccess {
		t.cache.put(raw, c, c.ExpiresAt.Time, now)
	}
	return c, nil
}

// errUnknownKey is returned by the key function for a kid not in the store.
var errUnknownKey = errors.New("unknown signing key")

// keyFunc returns the jwt key function: the public key named by the
// token's kid, reloading the keys (at most once a second) if the kid is not
// known here yet, as happens just after another replica rotated.
func (t *TokenService) keyFunc(ctx context.Context) jwt.Keyfunc {
	return func(tok *jwt.Token) (any, error) {
		if tok.Method != jwt.SigningMethodES256 {
			return nil, fmt.Errorf("signing method %s not allowed", tok.Method.Alg())
		}
		kid, _ := tok.Header["kid"].(string)
		if kid == "" {
			return nil, errors.New("token names no key (kid)")
		}
		if pub := t.ring.Load().public(kid); pub != nil {
			return pub, nil
		}
		if err := t.reloadIfStale(ctx); err != nil {
			t.log.WarnContext(ctx, "reload signing keys for an unknown kid", "err", err)
		}
		if pub := t.ring.Load().public(kid); pub != nil {
			return pub, nil
		}
		return nil, errUnknownKey
	}
}
