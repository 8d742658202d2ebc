// Package admintest starts Berth's admin API on 127.0.0.1 for tests: the
// real handler over a real SQLite file, the real access service,
// authenticator, token service and audit recorder, all on a fixed clock so
// outputs are stable. It serves the tests of api/admin, client and cli.
package admintest

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/access"
	"github.com/berth-registry/berth/internal/api"
	"github.com/berth-registry/berth/internal/api/admin"
	"github.com/berth-registry/berth/internal/api/authn"
	"github.com/berth-registry/berth/internal/audit"
	"github.com/berth-registry/berth/internal/auth"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/meta/sqlite"
)

// Epoch is the servers' fixed clock.
var Epoch = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)

// AdminPassword is the password of the "admin" system administrator every
// server starts with.
const AdminPassword = "admin-password-1"

// Admin is the principal of the "admin" user, for setting up fixtures
// through Access.
var Admin = access.Principal{Kind: access.UserKind, Name: "admin", SysAdmin: true}

// Server is a running admin API.
type Server struct {
	// URL is the base URL, e.g. http://127.0.0.1:40123.
	URL    string
	Store  *sqlite.Store
	Access *access.Service
	Audit  *audit.Recorder
}

// Start starts a server that the test's cleanup stops.
func Start(t testing.TB) *Server {
	t.Helper()
	ctx := context.Background()
	quiet := slog.New(slog.DiscardHandler)
	store, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "berth.db"), sqlite.Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	clock := func() time.Time { return Epoch }
	rec := audit.New(store, audit.Options{Now: clock, Logger: quiet})
	acc := access.NewService(store, access.Options{AutoCreate: access.AutoCreateAdmins, Now: clock, Audit: rec.Record, Logger: quiet})
	if _, _, err := acc.EnsureAdmin(ctx, AdminPassword); err != nil {
		t.Fatal(err)
	}
	s := &Server{Store: store, Access: acc, Audit: rec}
	s.URL = s.serve(t, nil)
	return s
}

// WithScanner serves s's store, access service and audit recorder again,
// with sc serving the scan and SBOM routes, and returns a Server pointing
// at that second handler (s keeps answering those routes with 503).
func (s *Server) WithScanner(t testing.TB, sc admin.Scanner) *Server {
	t.Helper()
	out := *s
	out.URL = s.serve(t, sc)
	return &out
}

// serve starts an admin API over s's parts (sc may be nil) that the test's
// cleanup stops, and returns its URL.
func (s *Server) serve(t testing.TB, sc admin.Scanner) string {
	t.Helper()
	quiet := slog.New(slog.DiscardHandler)
	clock := func() time.Time { return Epoch }
	tokens, err := auth.NewTokenService(t.Context(), s.Store, auth.TokenOptions{Now: clock, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	authr := auth.NewAuthenticator(s.Store, auth.AuthOptions{Tokens: tokens, Now: clock, Logger: quiet})
	guard := authn.New(authn.Options{Auth: authr, Tokens: tokens, Access: s.Access, Audit: s.Audit.Record})
	mux := http.NewServeMux()
	mux.Handle(admin.Prefix, admin.New(admin.Options{Access: s.Access, Guard: guard, Roles: s.Store, Audit: s.Audit, Scanner: sc}))
	srv := httptest.NewServer(api.Handler(mux, quiet, nil))
	t.Cleanup(srv.Close)
	return srv.URL
}

// AddUser creates a local user.
func (s *Server) AddUser(t testing.TB, name, password string, sysAdmin bool) {
	t.Helper()
	_, err := s.Access.CreateUser(context.Background(), Admin, access.NewUser{Name: name, Password: password, SysAdmin: sysAdmin})
	if err != nil {
		t.Fatal(err)
	}
}

// AddProject creates a project.
func (s *Server) AddProject(t testing.TB, name string, public bool) {
	t.Helper()
	if _, err := s.Access.CreateProject(context.Background(), Admin, name, public); err != nil {
		t.Fatal(err)
	}
}

// AddMember grants role in project to user.
func (s *Server) AddMember(t testing.TB, project, user string, role access.Role) {
	t.Helper()
	if err := s.Access.PutMember(context.Background(), Admin, project, meta.MemberUser, user, role); err != nil {
		t.Fatal(err)
	}
}

// FlushAudit writes the queued audit events, so the audit routes see them.
func (s *Server) FlushAudit(t testing.TB) {
	t.Helper()
	if err := s.Audit.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
}
