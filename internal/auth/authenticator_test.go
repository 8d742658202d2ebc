package auth

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/berth-registry/berth/internal/access"
	"github.com/berth-registry/berth/internal/auth/secret"
	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/berth-registry/berth/internal/meta"
)

// fixture is a store with users and robots of every sort.
type fixture struct {
	store   meta.Store
	clk     *clock
	tokens  *TokenService
	project *meta.Project
	// secrets of the CLI logins and robots, by account name.
	secrets map[string]string
}

var ciPerms = []meta.RobotPermission{{Project: "proj", Actions: []string{"pull", "push"}}}

// passwordHashes hashes the fixture's passwords once for every test (each
// argon2id hash costs tens of milliseconds).
var passwordHashes = sync.OnceValue(func() map[string]string {
	out := map[string]string{}
	for _, pw := range []string{"alice-pw", "root-pw", "bob-pw", "dave-pw"} {
		h, err := secret.HashPassword(pw)
		if err != nil {
			panic(err)
		}
		out[pw] = h
	}
	return out
})

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	f := &fixture{store: newStore(t), clk: newClock(), secrets: map[string]string{}}
	f.tokens = newTokens(t, f.store, f.clk, TokenOptions{})
	newSecret := func(name string) string {
		s, err := secret.NewSecret()
		if err != nil {
			t.Fatal(err)
		}
		f.secrets[name] = s
		return secret.HashSecret(s)
	}
	hash := func(pw string) string {
		h := passwordHashes()[pw]
		if h == "" {
			t.Fatalf("no hash of %q made", pw)
		}
		return h
	}
	users := []*meta.User{
		{Name: "alice", PasswordHash: hash("alice-pw"), Groups: []string{"devs"}},
		{Name: "root", PasswordHash: hash("root-pw"), SysAdmin: true},
		{Name: "bob", PasswordHash: hash("bob-pw"), Disabled: true},
		{Name: "carol", Issuer: "https://idp.example", Subject: "c-1", CLISecretHash: newSecret("carol")},
		{Name: "dave", PasswordHash: hash("dave-pw"), CLISecretHash: newSecret("dave")},
	}
	for _, u := range users {
		if err := f.store.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	f.project = &meta.Project{Name: "proj"}
	if err := f.store.CreateProject(ctx, f.project); err != nil {
		t.Fatal(err)
	}
	robots := []*meta.Robot{
		{Name: "robot$proj+ci", ProjectID: f.project.ID, SecretHash: newSecret("robot$proj+ci"), Permissions: ciPerms},
		{Name: "robot$old", SecretHash: newSecret("robot$old"), ExpiresAt: f.clk.Now().Add(-time.Hour),
			Permissions: []meta.RobotPermission{{Project: "*", Actions: []string{"pull"}}}},
		{Name: "robot$off", SecretHash: newSecret("robot$off"), Disabled: true,
			Permissions: []meta.RobotPermission{{Project: "*", Actions: []string{"pull"}}}},
	}
	for _, r := range robots {
		if err := f.store.CreateRobot(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

func (f *fixture) auth(opts AuthOptions) *Authenticator {
	opts.Tokens, opts.Now, opts.Logger = f.tokens, f.clk.Now, quiet
	return NewAuthenticator(f.store, opts)
}

var cmpPrincipal = cmp.Options{cmpopts.EquateEmpty(), cmpopts.EquateApproxTime(time.Second)}

func TestPassword(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	tests := []struct {
		name, user, pw string
		want           *access.Principal // nil: ErrUnauthenticated
	}{
		{"local password", "alice", "alice-pw", &access.Principal{Kind: access.UserKind, Name: "alice", Groups: []string{"devs"}}},
		{"system administrator", "root", "root-pw", &access.Principal{Kind: access.UserKind, Name: "root", SysAdmin: true}},
		{"wrong password", "alice", "alice-pw2", nil},
		{"password of another user", "alice", "root-pw", nil},
		{"empty password", "alice", "", nil},
		{"unknown user", "zed", "alice-pw", nil},
		{"no credentials", "", "", nil},
		{"disabled user, right password", "bob", "bob-pw", nil},
		{"OIDC user, CLI secret", "carol", f.secrets["carol"], &access.Principal{Kind: access.UserKind, Name: "carol"}},
		{"OIDC user, empty password", "carol", "", nil},
		{"OIDC user, another's CLI secret", "carol", f.secrets["dave"], nil},
		{"local user, CLI secret", "dave", f.secrets["dave"], &access.Principal{Kind: access.UserKind, Name: "dave"}},
		{"local user, password", "dave", "dave-pw", &access.Principal{Kind: access.UserKind, Name: "dave"}},
		{"robot secret", "robot$proj+ci", f.secrets["robot$proj+ci"],
			&access.Principal{Kind: access.RobotKind, Name: "robot$proj+ci", ProjectID: f.project.ID, Permissions: ciPerms}},
		{"robot, wrong secret", "robot$proj+ci", f.secrets["dave"], nil},
		{"robot, hash as secret", "robot$proj+ci", secret.HashSecret(f.secrets["robot$proj+ci"]), nil},
		{"unknown robot", "robot$ghost", f.secrets["robot$proj+ci"], nil},
		{"expired robot", "robot$old", f.secrets["robot$old"], nil},
		{"disabled robot", "robot$off", f.secrets["robot$off"], nil},
	}
	var messages []string
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := f.auth(AuthOptions{}).Password(ctx, tt.user, tt.pw, "192.0.2.1")
			if tt.want != nil {
				if err != nil {
					t.Fatalf("Password: %v", err)
				}
				if diff := cmp.Diff(*tt.want, p, cmpPrincipal); diff != "" {
					t.Errorf("principal (-want +got):\n%s", diff)
				}
				return
			}
			if !errors.Is(err, errdefs.ErrUnauthenticated) {
				t.Fatalf("Password = %+v, %v; want ErrUnauthenticated", p, err)
			}
			if tt.pw != "" && strings.Contains(err.Error(), tt.pw) {
				t.Errorf("error %q quotes the password", err)
			}
			messages = append(messages, err.Error())
		})
	}
	// No user enumeration: every failure reads the same.
	for _, m := range messages[1:] {
		if m != messages[0] {
			t.Errorf("failure messages differ: %q and %q", messages[0], m)
		}
	}
}

func TestRobotLastUsed(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	a := f.auth(AuthOptions{})
	login := func() time.Time {
		t.Helper()
		if _, err := a.Password(ctx, "robot$proj+ci", f.secrets["robot$proj+ci"], "192.0.2.1"); err != nil {
			t.Fatal(err)
		}
		r, err := f.store.GetRobot(ctx, "robot$proj+ci")
		if err != nil {
			t.Fatal(err)
		}
		return r.LastUsedAt
	}
	first := f.clk.Now()
	steps := []struct {
		name    string
		advance time.Duration
		want    time.Time
	}{
		{"first login", 0, first},
		{"30s later: not written again", 30 * time.Second, first},
		{"61s after the first: written", 31 * time.Second, first.Add(61 * time.Second)},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			f.clk.Add(s.advance)
			if got := login(); !got.Equal(s.want) {
				t.Errorf("LastUsedAt = %v, want %v", got, s.want)
			}
		})
	}
}

func TestRateLimit(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	type attempt struct {
		user, pw, remote string
		want             error // nil: success
	}
	unauth, tooMany := errdefs.ErrUnauthenticated, errdefs.ErrTooManyRequests
	tests := []struct {
		name     string
		attempts []attempt
		wait     time.Duration // then one more attempt
		after    attempt
	}{
		{
			name: "per account, from any address",
			attempts: []attempt{
				{"alice", "x", "192.0.2.1", unauth},
				{"alice", "y", "192.0.2.2", unauth},
				{"alice", "z", "192.0.2.3", unauth},
				{"alice", "alice-pw", "192.0.2.4", tooMany},
				{"root", "root-pw", "192.0.2.4", nil},
			},
			wait:  5 * time.Minute,
			after: attempt{"alice", "alice-pw", "192.0.2.4", nil},
		},
		{
			name: "per address, over any account",
			attempts: []attempt{
				{"alice", "x", "198.51.100.7", unauth},
				{"zed", "x", "198.51.100.7", unauth},
				{"robot$proj+ci", "x", "198.51.100.7", unauth},
				{"root", "root-pw", "198.51.100.7", tooMany},
				{"root", "root-pw", "198.51.100.8", nil},
			},
			wait:  5 * time.Minute,
			after: attempt{"root", "root-pw", "198.51.100.7", nil},
		},
		{
			name: "still blocked inside the window",
			attempts: []attempt{
				{"dave", "x", "192.0.2.1", unauth},
				{"dave", "x", "192.0.2.1", unauth},
				{"dave", "x", "192.0.2.1", unauth},
			},
			wait:  4 * time.Minute,
			after: attempt{"dave", "dave-pw", "192.0.2.9", tooMany},
		},
		{
			name: "a success clears the account's count",
			attempts: []attempt{
				{"dave", "x", "192.0.2.1", unauth},
				{"dave", "x", "192.0.2.2", unauth},
				{"dave", "dave-pw", "192.0.2.3", nil},
				{"dave", "x", "192.0.2.4", unauth},
				{"dave", "x", "192.0.2.5", unauth},
			},
			after: attempt{"dave", "dave-pw", "192.0.2.6", nil},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := f.auth(AuthOptions{MaxFailures: 3, Window: 5 * time.Minute})
			try := func(i int, at attempt) {
				t.Helper()
				_, err := a.Password(ctx, at.user, at.pw, at.remote)
				if (at.want == nil) != (err == nil) || (at.want != nil && !errors.Is(err, at.want)) {
					t.Fatalf("attempt %d (%s from %s): err = %v, want %v", i, at.user, at.remote, err, at.want)
				}
			}
			for i, at := range tt.attempts {
				try(i, at)
			}
			f.clk.Add(tt.wait)
			try(len(tt.attempts), tt.after)
		})
	}
}

func TestPasswordCacheForget(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	a := f.auth(AuthOptions{})
	if _, err := a.Password(ctx, "alice", "alice-pw", "192.0.2.1"); err != nil {
		t.Fatal(err)
	}
	// Disable alice behind the Authenticator's back: the cached check
	// still admits her (that is what the cache is for) ...
	u, err := f.store.GetUser(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	u.Disabled = true
	if err := f.store.UpdateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Password(ctx, "alice", "alice-pw", "192.0.2.1"); err != nil {
		t.Fatalf("cached login: %v", err)
	}
	// ... a wrong password is not admitted by the cache ...
	if _, err := a.Password(ctx, "alice", "alice-pw ", "192.0.2.1"); !errors.Is(err, errdefs.ErrUnauthenticated) {
		t.Fatalf("wrong password err = %v", err)
	}
	// ... and after Forget the account is read again.
	a.Forget("alice")
	if _, err := a.Password(ctx, "alice", "alice-pw", "192.0.2.1"); !errors.Is(err, errdefs.ErrUnauthenticated) {
		t.Fatalf("after Forget: err = %v, want ErrUnauthenticated", err)
	}
	// Entries expire after a minute by themselves.
	if _, err := a.Password(ctx, "root", "root-pw", "192.0.2.1"); err != nil {
		t.Fatal(err)
	}
	if _, ok := a.passwords.get("root", "root-pw", f.clk.Now().Add(59*time.Second)); !ok {
		t.Error("entry gone before a minute")
	}
	if _, ok := a.passwords.get("root", "root-pw", f.clk.Now().Add(time.Minute)); ok {
		t.Error("entry alive after a minute")
	}
}

func TestBearer(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	a := f.auth(AuthOptions{})
	grants := []ResourceActions{{Type: "repository", Name: "proj/app", Actions: []string{"pull"}}}
	issue := func(sub string, kind access.Kind) string {
		raw, _, _, err := f.tokens.Issue(ctx, sub, kind, grants)
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	refresh, err := f.tokens.IssueRefresh(ctx, "alice", access.UserKind)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		raw  string
		want *access.Principal
	}{
		{"user", issue("alice", access.UserKind), &access.Principal{Kind: access.UserKind, Name: "alice"}},
		{"robot", issue("robot$proj+ci", access.RobotKind), &access.Principal{Kind: access.RobotKind, Name: "robot$proj+ci"}},
		{"anonymous", issue("", access.Anonymous), &access.AnonymousPrincipal},
		{"user without a name", issue("", access.UserKind), nil},
		{"unknown kind", issue("x", access.Kind("wizard")), nil},
		{"refresh token", refresh, nil},
		{"garbage", "abc", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, got, err := a.Bearer(ctx, tt.raw)
			if tt.want == nil {
				if !errors.Is(err, errdefs.ErrUnauthenticated) {
					t.Fatalf("Bearer = %+v, %v; want ErrUnauthenticated", p, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(*tt.want, p, cmpPrincipal); diff != "" {
				t.Errorf("principal (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(grants, got); diff != "" {
				t.Errorf("grants (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLookup(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	a := f.auth(AuthOptions{})
	tests := []struct {
		kind access.Kind
		name string
		want *access.Principal
	}{
		{access.UserKind, "alice", &access.Principal{Kind: access.UserKind, Name: "alice", Groups: []string{"devs"}}},
		{access.UserKind, "root", &access.Principal{Kind: access.UserKind, Name: "root", SysAdmin: true}},
		{access.UserKind, "bob", nil},
		{access.UserKind, "zed", nil},
		{access.RobotKind, "robot$proj+ci", &access.Principal{Kind: access.RobotKind, Name: "robot$proj+ci", ProjectID: f.project.ID, Permissions: ciPerms}},
		{access.RobotKind, "robot$old", nil},
		{access.RobotKind, "robot$off", nil},
		{access.RobotKind, "alice", nil},
		{access.Anonymous, "", &access.AnonymousPrincipal},
		{access.System, "", nil},
	}
	for _, tt := range tests {
		t.Run(string(tt.kind)+" "+tt.name, func(t *testing.T) {
			p, err := a.Lookup(ctx, tt.kind, tt.name)
			if tt.want == nil {
				if !errors.Is(err, errdefs.ErrUnauthenticated) {
					t.Fatalf("Lookup = %+v, %v; want ErrUnauthenticated", p, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(*tt.want, p, cmpPrincipal); diff != "" {
				t.Errorf("principal (-want +got):\n%s", diff)
			}
		})
	}
}

// Clients starting together with the same credentials share one argon2id
// check: without that, 32 CI jobs signing in at once would run 32
// verifications of ~19 MiB each side by side.
func TestConcurrentLoginsShareOneCheck(t *testing.T) {
	f := newFixture(t)
	a := f.auth(AuthOptions{})
	const n = 32
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			_, errs[i] = a.Password(context.Background(), "alice", "alice-pw", "192.0.2.1")
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("login %d: %v", i, err)
		}
	}
	// Usually exactly one; a goroutine that missed the cache just before
	// the first check filled it may run one more.
	if got := a.argonRuns.Load(); got < 1 || got > 4 {
		t.Errorf("%d concurrent logins ran argon2id %d times, want 1 (at most a few)", n, got)
	}
}

// A user's sign-ins are recorded, at most once a minute.
func TestUserLastLogin(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	a := f.auth(AuthOptions{})
	login := func() time.Time {
		t.Helper()
		if _, err := a.Password(ctx, "alice", "alice-pw", "192.0.2.1"); err != nil {
			t.Fatal(err)
		}
		u, err := f.store.GetUser(ctx, "alice")
		if err != nil {
			t.Fatal(err)
		}
		return u.LastLoginAt
	}
	first := f.clk.Now()
	steps := []struct {
		name    string
		advance time.Duration
		want    time.Time
	}{
		{"first login", 0, first},
		{"30s later: not written again", 30 * time.Second, first},
		{"61s after the first: written", 31 * time.Second, first.Add(61 * time.Second)},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			f.clk.Add(s.advance)
			if got := login(); !got.Equal(s.want) {
				t.Errorf("LastLoginAt = %v, want %v", got, s.want)
			}
		})
	}
}
