// Package pgtest gives tests a real PostgreSQL server: one per test binary,
// started on first use and stopped when the binary exits, with a fresh
// database per test.
//
// A package that uses it runs its tests through Main:
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
//
// and each test asks for a database:
//
//	url := pgtest.NewDatabase(t) // postgres://postgres@127.0.0.1:PORT/berth_123_4?sslmode=disable
//
// The server is Debian's PostgreSQL (the newest /usr/lib/postgresql/<ver>/bin,
// else initdb and postgres on PATH), initialised in a temporary directory and
// listening on 127.0.0.1 on a free port, with its unix socket inside that
// directory. It runs with fsync off: tests need speed, not durability. When
// the test binary runs as root the server runs as the postgres user (initdb
// refuses root). The cluster sorts text linguistically (ICU en-US) where the
// build supports it, so a query that forgets COLLATE "C" fails the byte-order
// tests instead of passing by luck. The postgres role connects without a
// password; every other role must give its password (scram-sha-256), so
// tests can check authentication failures.
//
// Set BERTHTEST_POSTGRES_URL (a postgres:// URL of a role that may create
// databases) to use an existing server instead. Without PostgreSQL the tests
// that need it are skipped, or fail when BERTHTEST_REQUIRE_TOOLS=1 (set by
// scripts/test.sh, which installs it).
package pgtest

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// URLEnv names the environment variable that points the tests at an
// existing server.
const URLEnv = "BERTHTEST_POSTGRES_URL"

// adminTimeout bounds one administrative statement (create, drop).
const adminTimeout = time.Minute

var (
	mainCalled atomic.Bool

	mu  sync.Mutex
	srv *instance // set by the first successful Start
	// startErr and skipReason remember why the first Start failed, so every
	// later test reports the same thing without trying again.
	startErr   error
	skipReason string
	started    bool

	templates = map[string]*template{}
	dbSeq     atomic.Int64
)

// instance is the server in use: started by this process (proc) or given
// by URLEnv.
type instance struct {
	baseURL string
	admin   *pgxpool.Pool
	proc    *server // nil for an external server
	// owned lists databases this process made and must drop at exit
	// (templates; test databases drop themselves at test end).
	owned []string
	// spares holds, per template, a copy made ahead of time for the next
	// test, so that copying (most of the cost of a fresh database) overlaps
	// the test before. copying counts the copies under way.
	spares  map[string]chan copyResult
	copying sync.WaitGroup
	// dropping counts the drops of test databases under way, which run in
	// the background: a drop waits (in steps of 100ms) for the backends of
	// the test's closed connections to exit. dropErrs collects failures,
	// which Main reports.
	dropping sync.WaitGroup
	dropMu   sync.Mutex
	dropErrs []error
}

type copyResult struct {
	name string
	err  error
}

// Begin allows the tests to start a server; End must run after them. Use
// the pair instead of Main when a TestMain has other helpers to clean up.
func Begin() { mainCalled.Store(true) }

// End stops the server, if a test started one, and reports what went
// wrong doing so.
func End() error { return shutdown() }

// Main runs the package's tests and then stops the server, if any test
// started one. Call it from TestMain; it does not return.
func Main(m *testing.M) {
	Begin()
	code := m.Run()
	if err := End(); err != nil {
		fmt.Fprintln(os.Stderr, "pgtest:", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

// Start returns the URL of the server's maintenance database (postgres),
// starting the server on first use. It skips the test when PostgreSQL is not
// installed (fails instead when BERTHTEST_REQUIRE_TOOLS=1) and fails it when
// the server cannot start. Tests should create their own databases with
// NewDatabase rather than write to this one.
func Start(tb testing.TB) string {
	tb.Helper()
	return startInstance(tb).baseURL
}

func startInstance(tb testing.TB) *instance {
	tb.Helper()
	if !mainCalled.Load() {
		tb.Fatal("pgtest: call pgtest.Main(m) from TestMain, so the server is stopped when the tests end")
	}
	mu.Lock()
	defer mu.Unlock()
	if !started {
		started = true
		srv, skipReason, startErr = start()
	}
	switch {
	case skipReason != "" && os.Getenv("BERTHTEST_REQUIRE_TOOLS") == "1":
		tb.Fatalf("pgtest: %s (BERTHTEST_REQUIRE_TOOLS=1)", skipReason)
	case skipReason != "":
		tb.Skipf("pgtest: %s; run scripts/test.sh, which installs Debian's postgresql package, or set %s", skipReason, URLEnv)
	case startErr != nil:
		tb.Fatalf("pgtest: %v", startErr)
	}
	return srv
}

// start brings up the server given by URLEnv, or a new one.
func start() (_ *instance, skip string, _ error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	in := &instance{baseURL: os.Getenv(URLEnv)}
	if in.baseURL == "" {
		bin, reason := findBinaries()
		if reason != "" {
			return nil, reason, nil
		}
		p, err := startServer(ctx, bin)
		if err != nil {
			return nil, "", err
		}
		in.proc, in.baseURL = p, p.url()
	}
	if err := checkURL(in.baseURL); err != nil {
		return nil, "", err
	}
	admin, err := pgxpool.New(ctx, in.baseURL)
	if err == nil {
		err = admin.Ping(ctx)
	}
	if err != nil {
		if admin != nil {
			admin.Close()
		}
		if in.proc != nil {
			err = fmt.Errorf("%w\n%s", err, in.proc.stop())
		}
		return nil, "", fmt.Errorf("connect to the test server: %w", err)
	}
	in.admin = admin
	in.spares = map[string]chan copyResult{}
	return in, "", nil
}

// shutdown drops what this process owns on an external server, or stops
// and removes the server it started.
func shutdown() error {
	mu.Lock()
	defer mu.Unlock()
	if srv == nil {
		return nil
	}
	in := srv
	srv = nil
	in.copying.Wait()
	in.dropping.Wait()
	firstErr := errors.Join(in.dropErrs...)
	if in.proc == nil {
		for _, ch := range in.spares {
			if r := <-ch; r.err == nil {
				in.owned = append(in.owned, r.name)
			}
		}
		for _, name := range in.owned {
			if err := in.drop(name, slices.Contains(in.templates(), name)); err != nil && firstErr == nil {
				firstErr = err
			}
		}
	}
	in.admin.Close()
	if in.proc != nil {
		if log := in.proc.stop(); log != "" && firstErr == nil {
			firstErr = fmt.Errorf("stop server: %s", log)
		}
	}
	return firstErr
}

// NewDatabase creates an empty database (a copy of template0) and returns
// its URL. The database is dropped, with any connection still open to it,
// in the background once the test ends; Main waits for the drops and fails
// the run if one fails.
func NewDatabase(tb testing.TB) string {
	tb.Helper()
	return NewDatabaseFrom(tb, "template0")
}

// NewDatabaseFrom creates a database copied from template (a name returned
// by Template, or template0) and returns its URL. The database is dropped
// as NewDatabase's is.
func NewDatabaseFrom(tb testing.TB, template string) string {
	tb.Helper()
	in := startInstance(tb)
	name, err := in.takeCopy(template)
	if err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
	tb.Cleanup(func() {
		in.dropping.Add(1)
		go func() {
			defer in.dropping.Done()
			if err := in.drop(name, false); err != nil {
				in.dropMu.Lock()
				in.dropErrs = append(in.dropErrs, err)
				in.dropMu.Unlock()
			}
		}()
	})
	return in.databaseURL(name)
}

// template is one database built by Template.
type template struct {
	once sync.Once
	name string
	err  error
}

// Template builds a template database once per test binary and key, by
// running setup (which must close every connection it opens) on a new
// empty database, and returns its name for NewDatabaseFrom. Copying a
// prepared template is much faster than preparing every database anew. The
// template accepts no connections once built, and is dropped when the
// binary exits.
func Template(tb testing.TB, key string, setup func(ctx context.Context, url string) error) string {
	tb.Helper()
	in := startInstance(tb)
	mu.Lock()
	tpl := templates[key]
	if tpl == nil {
		tpl = &template{}
		templates[key] = tpl
	}
	mu.Unlock()
	tpl.once.Do(func() { tpl.name, tpl.err = in.buildTemplate(setup) })
	if tpl.err != nil {
		tb.Fatalf("pgtest: template %q: %v", key, tpl.err)
	}
	return tpl.name
}

func (in *instance) buildTemplate(setup func(ctx context.Context, url string) error) (string, error) {
	name := fmt.Sprintf("berth_%d_tpl_%d", os.Getpid(), dbSeq.Add(1))
	if err := in.create(name, "template0"); err != nil {
		return "", err
	}
	mu.Lock()
	in.owned = append(in.owned, name)
	mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
	defer cancel()
	if err := setup(ctx, in.databaseURL(name)); err != nil {
		return "", fmt.Errorf("set up: %w", err)
	}
	ident := pgx.Identifier{name}.Sanitize()
	// A copy fails while anyone is connected to the source: end whatever
	// setup left open, then let nobody in again.
	_, err := in.admin.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE datname = $1 AND pid <> pg_backend_pid()`, name)
	if err == nil {
		_, err = in.admin.Exec(ctx, `ALTER DATABASE `+ident+` WITH ALLOW_CONNECTIONS false IS_TEMPLATE true`)
	}
	if err != nil {
		return "", fmt.Errorf("mark %s as a template: %w", name, err)
	}
	return name, nil
}

// takeCopy returns a new copy of template: the spare made ahead of time
// (waiting for it if it is still being made), and starts the next spare.
func (in *instance) takeCopy(template string) (string, error) {
	mu.Lock()
	ch := in.spares[template]
	if ch == nil {
		// One spare, and one more started per copy taken: exactly one
		// result is ever left over, so a producer never blocks for good.
		ch = make(chan copyResult, 1)
		in.spares[template] = ch
		in.startCopy(template, ch)
	}
	mu.Unlock()
	r := <-ch
	in.startCopy(template, ch)
	return r.name, r.err
}

// startCopy copies template in the background into ch.
func (in *instance) startCopy(template string, ch chan<- copyResult) {
	in.copying.Add(1)
	go func() {
		defer in.copying.Done()
		name := fmt.Sprintf("berth_%d_%d", os.Getpid(), dbSeq.Add(1))
		ch <- copyResult{name, in.create(name, template)}
	}()
}

// templates lists the names of the templates built so far.
func (in *instance) templates() []string {
	var out []string
	for _, t := range templates {
		out = append(out, t.name)
	}
	return out
}

// create makes database name as a copy of template.
func (in *instance) create(name, template string) error {
	ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
	defer cancel()
	_, err := in.admin.Exec(ctx, `CREATE DATABASE `+pgx.Identifier{name}.Sanitize()+
		` TEMPLATE `+pgx.Identifier{template}.Sanitize())
	if err != nil {
		return fmt.Errorf("create database %s from %s: %w", name, template, err)
	}
	return nil
}

// drop removes database name, ending its connections; isTemplate first
// lifts the template mark, which forbids dropping.
func (in *instance) drop(name string, isTemplate bool) error {
	ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
	defer cancel()
	ident := pgx.Identifier{name}.Sanitize()
	if isTemplate {
		if _, err := in.admin.Exec(ctx, `ALTER DATABASE `+ident+` WITH IS_TEMPLATE false`); err != nil {
			return fmt.Errorf("drop database %s: %w", name, err)
		}
	}
	if _, err := in.admin.Exec(ctx, `DROP DATABASE IF EXISTS `+ident+` WITH (FORCE)`); err != nil {
		return fmt.Errorf("drop database %s: %w", name, err)
	}
	return nil
}

// databaseURL is the base URL with its database replaced by name.
func (in *instance) databaseURL(name string) string {
	u, _ := url.Parse(in.baseURL) // checked by start
	u.Path = "/" + name
	u.RawPath = ""
	return u.String()
}

// checkURL accepts only postgres:// URLs, whose database can be replaced.
// It does not quote the URL, which may hold a password.
func checkURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return fmt.Errorf("%s must be a postgres:// URL", URLEnv)
	}
	return nil
}
