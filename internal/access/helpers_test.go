package access

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/meta/sqlite"
)

// t0 is the test clock's starting time.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// clock is a settable time source.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// events collects audit events.
type events struct {
	mu  sync.Mutex
	all []meta.AuditEvent
}

func (e *events) record(_ context.Context, ev meta.AuditEvent) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.all = append(e.all, ev)
}

func (e *events) last() meta.AuditEvent {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.all) == 0 {
		return meta.AuditEvent{}
	}
	return e.all[len(e.all)-1]
}

// env is a Service on a real SQLite store.
type env struct {
	store  meta.Store
	svc    *Service
	clock  *clock
	events *events
}

var sys = Principal{Kind: System, Name: "test"}

// newEnv opens a fresh SQLite store in a temporary directory and a Service
// with the given auto-create policy on it.
func newEnv(t *testing.T, auto AutoCreate) *env {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "meta.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	e := &env{store: st, clock: &clock{now: t0}, events: &events{}}
	e.svc = NewService(st, Options{AutoCreate: auto, Now: e.clock.Now, Audit: e.events.record})
	return e
}

// user creates a user with a valid password and returns its principal.
func (e *env) user(t *testing.T, name string, admin bool, groups ...string) Principal {
	t.Helper()
	u, err := e.svc.CreateUser(context.Background(), sys, NewUser{Name: name, Password: "password-" + name, SysAdmin: admin})
	if err != nil {
		t.Fatalf("create user %s: %v", name, err)
	}
	p := UserPrincipal(u)
	p.Groups = groups
	return p
}

// project creates a project.
func (e *env) project(t *testing.T, name string, public bool) *meta.Project {
	t.Helper()
	p, err := e.svc.CreateProject(context.Background(), sys, name, public)
	if err != nil {
		t.Fatalf("create project %s: %v", name, err)
	}
	return p
}

// member gives a user or group a role.
func (e *env) member(t *testing.T, project string, kind meta.MemberKind, name string, role Role) {
	t.Helper()
	if err := e.svc.PutMember(context.Background(), sys, project, kind, name, role); err != nil {
		t.Fatalf("put member %s %s in %s: %v", kind, name, project, err)
	}
}

// robot creates a robot and returns its principal.
func (e *env) robot(t *testing.T, nr NewRobot) Principal {
	t.Helper()
	r, sec, err := e.svc.CreateRobot(context.Background(), sys, nr)
	if err != nil {
		t.Fatalf("create robot %s: %v", nr.Name, err)
	}
	if sec == "" || r.SecretHash != "" {
		t.Fatalf("create robot %s: secret %q, hash %q; want a secret and no hash", nr.Name, sec, r.SecretHash)
	}
	return RobotPrincipal(r)
}

// classOf names the errdefs class of err for table comparisons.
func classOf(err error) string {
	for _, c := range []struct {
		class error
		name  string
	}{
		{errdefs.ErrNotFound, "not found"}, {errdefs.ErrDenied, "denied"}, {errdefs.ErrInvalid, "invalid"},
		{errdefs.ErrConflict, "conflict"}, {errdefs.ErrAlreadyExists, "already exists"},
	} {
		if errors.Is(err, c.class) {
			return c.name
		}
	}
	if err != nil {
		return "other: " + err.Error()
	}
	return "ok"
}
