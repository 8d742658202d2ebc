package auth

import (
	"context"
	"errors"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/berth-registry/berth/internal/access"
	"github.com/berth-registry/berth/internal/auth/secret"
	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/berth-registry/berth/internal/meta"
	"golang.org/x/sync/singleflight"
)

// AuthOptions configures an Authenticator.
type AuthOptions struct {
	// Tokens verifies registry tokens (Bearer); nil makes Bearer fail.
	Tokens *TokenService
	// Workload are the trusted external issuers whose tokens a password
	// may be (see WorkloadRule).
	Workload []WorkloadRule
	// FailedLogins limits failed password checks: at most this many per
	// account and (separately) per client address in Window; then
	// ErrTooManyRequests until the window passes. Defaults 10 / 5m.
	MaxFailures int
	Window      time.Duration
	Now         func() time.Time
	Logger      *slog.Logger
}

// RobotPrefix starts the name of every robot account.
const RobotPrefix = "robot$"

// robotTouchInterval is how often a robot's last-used time is written.
const robotTouchInterval = time.Minute

// Authenticator checks credentials against the metadata store. It is safe
// for concurrent use.
type Authenticator struct {
	store meta.Store
	opts  AuthOptions
	log   *slog.Logger

	perAccount *failureLimiter
	perAddress *failureLimiter
	passwords  *passwordCache
	workload   *workloadVerifier

	touchMu      sync.Mutex
	touched      map[int64]time.Time
	touchedUsers map[int64]time.Time

	// logins coalesces concurrent checks of the same user name and
	// password, and argonSlots bounds the argon2id verifications running
	// at once (each takes ~19 MiB and tens of milliseconds of a core): 32
	// clients starting together with one robot-less CI password would
	// otherwise run 32 verifications side by side, and a flood of wrong
	// passwords could take the memory of the process.
	logins     singleflight.Group
	argonSlots chan struct{}
	// argonRuns counts argon2id verifications (for tests).
	argonRuns atomic.Int64
}

// NewAuthenticator returns an Authenticator over the users and robots of
// store. Workload rules that cannot work (no issuer, audience or robot, a
// bad claim pattern) are logged and ignored.
func NewAuthenticator(store meta.Store, opts AuthOptions) *Authenticator {
	if opts.MaxFailures <= 0 {
		opts.MaxFailures = 10
	}
	if opts.Window <= 0 {
		opts.Window = 5 * time.Minute
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Authenticator{
		store:        store,
		opts:         opts,
		log:          opts.Logger,
		perAccount:   newFailureLimiter(opts.MaxFailures, opts.Window),
		perAddress:   newFailureLimiter(opts.MaxFailures, opts.Window),
		passwords:    newPasswordCache(),
		workload:     newWorkloadVerifier(opts.Workload, opts.Now, opts.Logger),
		touched:      make(map[int64]time.Time),
		touchedUsers: make(map[int64]time.Time),
		argonSlots:   make(chan struct{}, max(2, runtime.GOMAXPROCS(0))),
	}
}

// verifyPassword is secret.VerifyPassword once one of argonSlots is free.
func (a *Authenticator) verifyPassword(ctx context.Context, hash, password string) (bool, error) {
	select {
	case a.argonSlots <- struct{}{}:
	case <-ctx.Done():
		return false, errdefs.Wrap(errdefs.ErrUnavailable, ctx.Err(), "check password")
	}
	defer func() { <-a.argonSlots }()
	a.argonRuns.Add(1)
	return secret.VerifyPassword(hash, password)
}

// badCredentials is the one error every failed login gets, whatever the
// cause, so that a caller cannot tell an unknown account from a wrong
// password or a disabled account.
func badCredentials() error {
	return errdefs.Unauthenticated("invalid username or password")
}

// Password authenticates a username and password (HTTP Basic, the token endpoint's password grant, docker
// login): a local user's password; an OIDC or local user's CLI secret; a robot's secret (name "robot$…");
// or, when the password is a JWT from a trusted workload issuer, the robot its claims map to. Unknown user,
// wrong password, disabled or expired account: ErrUnauthenticated with the same message whatever the cause
// (no user enumeration); too many failures: ErrTooManyRequests. Successful robot logins update LastUsedAt
// (at most once a minute per robot). Successful argon2 checks are cached for 1 minute under an HMAC of the
// pair (process-random key) so that Basic auth on every request does not pay argon2 each time; a cache hit
// re-checks nothing else, so the cache must be dropped for a user when Forget(name) is called (password
// change, disable, delete).
//
// For a workload token the username is not checked, except that a robot
// name there restricts the rules tried to those of that robot. remote is
// the client address the per-address limit counts (no port); "" is not
// limited, so callers must always pass it.
func (a *Authenticator) Password(ctx context.Context, username, password, remote string) (access.Principal, error) {
	now := a.opts.Now()
	issuer, workload := a.workload.matches(password)
	// A workload token is signed, not guessable: only the per-address limit
	// applies to it, so that bad tokens cannot lock out every workload
	// login (they often come with no username at all).
	account := username
	if workload {
		account = ""
	}
	if a.blocked(account, remote, now) {
		a.log.InfoContext(ctx, "login refused: too many failures", "user", username, "remote", remote)
		return access.Principal{}, errdefs.TooManyRequests("too many failed logins; try again later")
	}
	var (
		p      access.Principal
		reason string
		err    error
	)
	switch {
	case workload:
		p, reason, err = a.checkWorkload(ctx, username, issuer, password, now)
	case username == "" && password == "":
		reason = "no credentials"
	case strings.HasPrefix(username, RobotPrefix):
		p, reason, err = a.checkRobot(ctx, username, password, now)
	default:
		p, reason, err = a.checkUser(ctx, username, password, now)
	}
	if err != nil {
		// The store or the issuer failed: not the caller's fault, so not
		// counted.
		return access.Principal{}, err
	}
	if reason != "" {
		if account != "" {
			a.perAccount.fail(account, now)
		}
		if remote != "" {
			a.perAddress.fail(remote, now)
		}
		a.log.InfoContext(ctx, "login failed", "user", username, "remote", remote, "reason", reason)
		return access.Principal{}, badCredentials()
	}
	if account != "" {
		a.perAccount.reset(account)
	}
	return p, nil
}

// blocked reports whether the account or the address (either may be "",
// which is not limited) has failed too often.
func (a *Authenticator) blocked(account, remote string, now time.Time) bool {
	return (account != "" && a.perAccount.blocked(account, now)) ||
		(remote != "" && a.perAddress.blocked(remote, now))
}

// The check functions below authenticate one kind of credential. Each
// returns the principal; or a reason for the log (never containing the
// secret) why the credentials are wrong; or an error if the store or an
// issuer could not answer.

// dummyRobotHash is checked when a robot does not exist, so that the
// answer takes as long as for one that does.
var dummyRobotHash = secret.HashSecret("no such robot")

// checkRobot checks a robot's secret.
func (a *Authenticator) checkRobot(ctx context.Context, name, secretText string, now time.Time) (access.Principal, string, error) {
	r, err := a.store.GetRobot(ctx, name)
	if errdefs.IsNotFound(err) {
		secret.VerifySecret(dummyRobotHash, secretText)
		return access.Principal{}, "unknown robot", nil
	}
	if err != nil {
		return access.Principal{}, "", errdefs.Wrap(errdefs.ErrUnavailable, err, "authenticate robot")
	}
	if !secret.VerifySecret(r.SecretHash, secretText) {
		return access.Principal{}, "wrong robot secret", nil
	}
	if reason := robotUnusable(r, now); reason != "" {
		return access.Principal{}, reason, nil
	}
	a.touchRobot(ctx, r, now)
	return robotPrincipal(r), "", nil
}

// robotUnusable returns why robot r cannot log in at now, or "".
func robotUnusable(r *meta.Robot, now time.Time) string {
	switch {
	case r.Disabled:
		return "robot disabled"
	case !r.ExpiresAt.IsZero() && !now.Before(r.ExpiresAt):
		return "robot expired"
	}
	return ""
}

// robotPrincipal returns the principal of robot r.
func robotPrincipal(r *meta.Robot) access.Principal {
	return access.Principal{Kind: access.RobotKind, Name: r.Name, Permissions: r.Permissions,
		ProjectID: r.ProjectID, ExpiresAt: r.ExpiresAt}
}

// userPrincipal returns the principal of user u.
func userPrincipal(u *meta.User) access.Principal {
	return access.Principal{Kind: access.UserKind, Name: u.Name, SysAdmin: u.SysAdmin, Groups: u.Groups}
}

// touchRobot records that r logged in, at most once a minute per robot
// (counting writes by other replicas, which show in r.LastUsedAt).
func (a *Authenticator) touchRobot(ctx context.Context, r *meta.Robot, now time.Time) {
	if !a.touchDue(a.touched, r.ID, r.LastUsedAt, now) {
		return
	}
	if err := a.store.TouchRobot(ctx, r.ID, now); err != nil {
		a.log.WarnContext(ctx, "record robot use", "robot", r.Name, "err", err)
	}
}

// touchDue reports whether the last-use time of account id (last, as
// stored) should be written at now: at most once a minute per account,
// counting what this process wrote (in seen) and what other replicas wrote
// (in last). It records now in seen when it says yes.
func (a *Authenticator) touchDue(seen map[int64]time.Time, id int64, last, now time.Time) bool {
	if now.Sub(last) < robotTouchInterval {
		return false
	}
	a.touchMu.Lock()
	defer a.touchMu.Unlock()
	if prev, ok := seen[id]; ok && now.Sub(prev) < robotTouchInterval {
		return false
	}
	if len(seen) >= 10_000 {
		clear(seen)
	}
	seen[id] = now
	return true
}

// dummyPasswordHash is an argon2id hash checked when an account has no
// password (unknown user, OIDC user), so that every password login costs
// one argon2id verification. Made on first use to spare processes that
// never check a password the ~20 ms.
var dummyPasswordHash = sync.OnceValue(func() string {
	h, err := secret.HashPassword("no such user")
	if err != nil {
		panic("auth: hash the dummy password: " + err.Error())
	}
	return h
})

// checkUser checks a user's password or CLI secret. Concurrent checks of
// the same pair share one (see Authenticator.logins).
func (a *Authenticator) checkUser(ctx context.Context, name, password string, now time.Time) (access.Principal, string, error) {
	if p, ok := a.passwords.get(name, password, now); ok {
		return p, "", nil
	}
	type result struct {
		p      access.Principal
		reason string
	}
	id := a.passwords.id(name, password)
	v, err, _ := a.logins.Do(string(id[:]), func() (any, error) {
		p, reason, err := a.checkUserOnce(context.WithoutCancel(ctx), name, password, now)
		return result{p, reason}, err
	})
	if err != nil {
		return access.Principal{}, "", err
	}
	r := v.(result)
	return r.p, r.reason, nil
}

// checkUserOnce is checkUser without the sharing.
func (a *Authenticator) checkUserOnce(ctx context.Context, name, password string, now time.Time) (access.Principal, string, error) {
	u, err := a.store.GetUser(ctx, name)
	if errdefs.IsNotFound(err) {
		_, _ = a.verifyPassword(ctx, dummyPasswordHash(), password)
		return access.Principal{}, "unknown user", nil
	}
	if err != nil {
		return access.Principal{}, "", errdefs.Wrap(errdefs.ErrUnavailable, err, "authenticate user")
	}
	hash := u.PasswordHash
	if hash == "" {
		hash = dummyPasswordHash()
	}
	pwOK, err := a.verifyPassword(ctx, hash, password)
	if errors.Is(err, errdefs.ErrUnavailable) {
		return access.Principal{}, "", err
	}
	if err != nil {
		a.log.ErrorContext(ctx, "stored password hash is malformed", "user", name, "err", err)
		pwOK = false
	}
	pwOK = pwOK && u.PasswordHash != ""
	cliOK := u.CLISecretHash != "" && secret.VerifySecret(u.CLISecretHash, password)
	switch {
	case !pwOK && !cliOK:
		return access.Principal{}, "wrong password", nil
	case u.Disabled:
		return access.Principal{}, "user disabled", nil
	}
	p := userPrincipal(u)
	if pwOK {
		a.passwords.put(name, password, p, now)
	}
	a.touchUser(ctx, u, now)
	return p, "", nil
}

// touchUser records that u signed in, at most once a minute per user (the
// password cache answers repeated logins within the minute anyway).
func (a *Authenticator) touchUser(ctx context.Context, u *meta.User, now time.Time) {
	if !a.touchDue(a.touchedUsers, u.ID, u.LastLoginAt, now) {
		return
	}
	if err := a.store.TouchUser(ctx, u.ID, now); err != nil {
		a.log.WarnContext(ctx, "record user sign-in", "user", u.Name, "err", err)
	}
}

// Bearer verifies a registry access token and returns its subject as a principal (Kind and Name only; no DB
// access) and the access it grants.
func (a *Authenticator) Bearer(ctx context.Context, raw string) (access.Principal, []ResourceActions, error) {
	if a.opts.Tokens == nil {
		return access.Principal{}, nil, errdefs.Unauthenticated("registry tokens are not enabled")
	}
	c, err := a.opts.Tokens.Verify(ctx, raw, UseAccess)
	if err != nil {
		return access.Principal{}, nil, err
	}
	switch c.Kind {
	case access.UserKind, access.RobotKind:
		if c.Subject == "" {
			return access.Principal{}, nil, errdefs.Unauthenticated("invalid registry token: no subject")
		}
		return access.Principal{Kind: c.Kind, Name: c.Subject}, c.Access, nil
	case access.Anonymous:
		return access.AnonymousPrincipal, c.Access, nil
	}
	return access.Principal{}, nil, errdefs.Unauthenticated("invalid registry token: principal kind %q", c.Kind)
}

// Lookup loads the current principal for kind and name (user: SysAdmin, Groups; robot: Permissions,
// ProjectID, ExpiresAt), or ErrUnauthenticated if it no longer exists, is disabled or expired. Used when a
// refresh token is redeemed and when a token holder's catalog must be filtered.
//
// Kind access.Anonymous returns the anonymous principal; other kinds fail.
// A store failure is of class errdefs.ErrUnavailable.
func (a *Authenticator) Lookup(ctx context.Context, kind access.Kind, name string) (access.Principal, error) {
	gone := errdefs.Unauthenticated("account %q no longer exists or is disabled", name)
	switch kind {
	case access.Anonymous:
		return access.AnonymousPrincipal, nil
	case access.UserKind:
		u, err := a.store.GetUser(ctx, name)
		if errdefs.IsNotFound(err) {
			return access.Principal{}, gone
		}
		if err != nil {
			return access.Principal{}, errdefs.Wrap(errdefs.ErrUnavailable, err, "look up user %q", name)
		}
		if u.Disabled {
			return access.Principal{}, gone
		}
		return userPrincipal(u), nil
	case access.RobotKind:
		r, err := a.store.GetRobot(ctx, name)
		if errdefs.IsNotFound(err) {
			return access.Principal{}, gone
		}
		if err != nil {
			return access.Principal{}, errdefs.Wrap(errdefs.ErrUnavailable, err, "look up robot %q", name)
		}
		if robotUnusable(r, a.opts.Now()) != "" {
			return access.Principal{}, gone
		}
		return robotPrincipal(r), nil
	}
	return access.Principal{}, errdefs.Unauthenticated("unknown principal kind %q", kind)
}

// Forget drops what the Authenticator remembers about the account called
// name (cached password checks). Call it when a user's password changes or
// the user is disabled or deleted.
func (a *Authenticator) Forget(name string) {
	a.passwords.forget(name)
}
