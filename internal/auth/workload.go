package auth

import (
	"context"
	"log/slog"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/golang-jwt/jwt/v5"

	"github.com/berth-registry/berth/internal/access"
	"github.com/berth-registry/berth/internal/errdefs"
)

// WorkloadRule lets the holder of a token from a trusted external OIDC
// issuer (a CI system, a Kubernetes cluster) act as a robot account,
// without a stored secret: the token is the password. A token maps to the
// robot of the first rule whose Issuer is its "iss", whose Audience is in
// its "aud", and whose Claims all match.
//
// Claim names are top-level claims ("repository", "ref", "sub"), or a path
// into nested objects with dots ("kubernetes.io.namespace"); string, number
// and boolean values are matched as text. Patterns are path.Match patterns,
// so "*" does not cross a "/": "refs/heads/*" matches "refs/heads/main" but
// not "refs/heads/fix/x".
type WorkloadRule struct {
	Issuer   string            `koanf:"issuer" yaml:"issuer"`     // e.g. https://token.actions.githubusercontent.com
	Audience string            `koanf:"audience" yaml:"audience"` // required "aud"
	Claims   map[string]string `koanf:"claims" yaml:"claims"`     // claim → path.Match pattern, all must match
	Robot    string            `koanf:"robot" yaml:"robot"`       // robot account the token acts as
}

// Validate reports what makes the rule unusable, or nil.
func (r WorkloadRule) Validate() error {
	switch {
	case r.Issuer == "":
		return errdefs.Invalid("workload rule: issuer is required")
	case r.Audience == "":
		return errdefs.Invalid("workload rule for %s: audience is required", r.Issuer)
	case !strings.HasPrefix(r.Robot, RobotPrefix):
		return errdefs.Invalid("workload rule for %s: robot %q is not a robot account name (robot$…)", r.Issuer, r.Robot)
	}
	for claim, pat := range r.Claims {
		if _, err := path.Match(pat, ""); err != nil {
			return errdefs.Invalid("workload rule for %s: claim %s: bad pattern %q", r.Issuer, claim, pat)
		}
	}
	return nil
}

// discoveryRetry is how long an issuer whose discovery failed is left
// alone, so that tokens naming an unreachable issuer do not turn every
// login into an outgoing request.
const discoveryRetry = 10 * time.Second

// discoveryTimeout bounds the discovery of an issuer.
const discoveryTimeout = 10 * time.Second

// workloadVerifier verifies workload tokens with go-oidc: discovery of each
// issuer on first use, then its JWKS, cached and refreshed by the library
// when a token names an unknown key.
type workloadVerifier struct {
	rules []WorkloadRule
	now   func() time.Time
	log   *slog.Logger

	mu      sync.Mutex
	issuers map[string]*issuerState
}

// issuerState is the verifier of one issuer, once discovered.
type issuerState struct {
	verifier *oidc.IDTokenVerifier
	failedAt time.Time
}

func newWorkloadVerifier(rules []WorkloadRule, now func() time.Time, log *slog.Logger) *workloadVerifier {
	w := &workloadVerifier{now: now, log: log, issuers: make(map[string]*issuerState)}
	for _, r := range rules {
		if err := r.Validate(); err != nil {
			log.Error("ignoring a workload identity rule", "err", err)
			continue
		}
		w.rules = append(w.rules, r)
		w.issuers[r.Issuer] = &issuerState{}
	}
	return w
}

// matches reports whether password looks like a JWT whose (unverified)
// issuer is one of the rules', and returns that issuer.
func (w *workloadVerifier) matches(password string) (string, bool) {
	if len(w.rules) == 0 || strings.Count(password, ".") != 2 {
		return "", false
	}
	var c jwt.RegisteredClaims
	if _, _, err := jwt.NewParser().ParseUnverified(password, &c); err != nil {
		return "", false
	}
	_, ok := w.issuers[c.Issuer]
	return c.Issuer, ok
}

// verifier returns the verifier of issuer, discovering it if needed.
func (w *workloadVerifier) verifier(ctx context.Context, issuer string) (*oidc.IDTokenVerifier, error) {
	w.mu.Lock()
	st := w.issuers[issuer]
	v, failedAt := st.verifier, st.failedAt
	w.mu.Unlock()
	if v != nil {
		return v, nil
	}
	if !failedAt.IsZero() && w.now().Sub(failedAt) < discoveryRetry {
		return nil, errdefs.Unavailable("workload issuer %s is unreachable; retrying shortly", issuer)
	}
	// Discovery outlives the request that triggers it: go-oidc keeps the
	// client for fetching keys later.
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), discoveryTimeout)
	defer cancel()
	p, err := oidc.NewProvider(dctx, issuer)
	w.mu.Lock()
	defer w.mu.Unlock()
	if err != nil {
		st.failedAt = w.now()
		return nil, errdefs.Wrap(errdefs.ErrUnavailable, err, "discover workload issuer %s", issuer)
	}
	if st.verifier == nil {
		// The audience is checked per rule, the rest here.
		st.verifier = p.Verifier(&oidc.Config{SkipClientIDCheck: true, Now: w.now})
	}
	return st.verifier, nil
}

// checkWorkload authenticates raw, a token of issuer, as the robot of the
// first rule it satisfies. username, if a robot name, restricts the rules
// to those of that robot.
func (a *Authenticator) checkWorkload(ctx context.Context, username, issuer, raw string, now time.Time) (access.Principal, string, error) {
	w := a.workload
	v, err := w.verifier(ctx, issuer)
	if err != nil {
		a.log.WarnContext(ctx, "workload identity unavailable", "issuer", issuer, "err", err)
		return access.Principal{}, "", err
	}
	tok, err := v.Verify(ctx, raw)
	if err != nil {
		return access.Principal{}, "workload token rejected: " + err.Error(), nil
	}
	var claims map[string]any
	if err := tok.Claims(&claims); err != nil {
		return access.Principal{}, "workload token claims unreadable", nil
	}
	for _, rule := range w.rules {
		if rule.Issuer != issuer || !slices.Contains(tok.Audience, rule.Audience) || !claimsMatch(rule.Claims, claims) {
			continue
		}
		if strings.HasPrefix(username, RobotPrefix) && username != rule.Robot {
			continue
		}
		r, err := a.store.GetRobot(ctx, rule.Robot)
		if errdefs.IsNotFound(err) {
			return access.Principal{}, "workload rule names an unknown robot " + rule.Robot, nil
		}
		if err != nil {
			return access.Principal{}, "", errdefs.Wrap(errdefs.ErrUnavailable, err, "authenticate workload")
		}
		if reason := robotUnusable(r, now); reason != "" {
			return access.Principal{}, reason, nil
		}
		a.touchRobot(ctx, r, now)
		return robotPrincipal(r), "", nil
	}
	return access.Principal{}, "no workload rule matches the token (subject " + tok.Subject + ")", nil
}

// claimsMatch reports whether every claim of want matches its pattern in
// claims.
func claimsMatch(want map[string]string, claims map[string]any) bool {
	for name, pat := range want {
		v, ok := claimText(claims, name)
		if !ok {
			return false
		}
		if m, err := path.Match(pat, v); err != nil || !m {
			return false
		}
	}
	return true
}

// claimText returns the claim called name as text: a top-level claim, or
// a dotted path into nested objects (the segments may themselves contain
// dots, as in "kubernetes.io.namespace").
func claimText(claims map[string]any, name string) (string, bool) {
	if v, ok := claims[name]; ok {
		return scalarText(v)
	}
	for i := strings.IndexByte(name, '.'); i >= 0; {
		if sub, ok := claims[name[:i]].(map[string]any); ok {
			if s, ok := claimText(sub, name[i+1:]); ok {
				return s, true
			}
		}
		j := strings.IndexByte(name[i+1:], '.')
		if j < 0 {
			break
		}
		i += 1 + j
	}
	return "", false
}

// scalarText formats a string, number or boolean claim value.
func scalarText(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case bool:
		return strconv.FormatBool(x), true
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), true
	}
	return "", false
}
