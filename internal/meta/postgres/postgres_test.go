package postgres

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/meta/metatest"
	"github.com/berth-registry/berth/internal/pgtest"
	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// quiet keeps the store's log lines out of test output.
var quiet = slog.New(slog.DiscardHandler)

// newDatabase returns the URL of a fresh database holding the current
// schema: a copy of a template migrated once per test binary.
func newDatabase(tb testing.TB) string {
	tb.Helper()
	tpl := pgtest.Template(tb, "berth-meta", func(ctx context.Context, url string) error {
		return Migrate(ctx, url, Options{Logger: quiet})
	})
	return pgtest.NewDatabaseFrom(tb, tpl)
}

// openTest opens a store on url, closed when the test ends.
func openTest(tb testing.TB, url string, opts Options) *Store {
	tb.Helper()
	if opts.Logger == nil {
		opts.Logger = quiet
	}
	s, err := Open(tb.Context(), url, opts)
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() {
		if err := s.Close(); err != nil {
			tb.Errorf("Close: %v", err)
		}
	})
	return s
}

func TestConformance(t *testing.T) {
	metatest.Run(t, func(t *testing.T) meta.Store {
		return openTest(t, newDatabase(t), Options{})
	})
}

func BenchmarkStore(b *testing.B) {
	metatest.RunBenchmarks(b, func(b *testing.B) meta.Store {
		// Enough connections for the parallel benchmarks' 64 goroutines not
		// to queue for the pool.
		return openTest(b, newDatabase(b), Options{MaxConns: 32})
	})
}

// rawPool opens a pool on url without a Store.
func rawPool(t *testing.T, url string) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// schemaObjects lists the tables and functions of the current schema.
func schemaObjects(t *testing.T, pool *pgxpool.Pool) []string {
	t.Helper()
	rows, err := pool.Query(t.Context(), `
		SELECT 'table ' || tablename FROM pg_tables WHERE schemaname = current_schema()
		UNION ALL
		SELECT 'function ' || proname FROM pg_proc WHERE pronamespace = current_schema()::regnamespace
		ORDER BY 1`)
	if err != nil {
		t.Fatalf("list schema: %v", err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatalf("list schema: %v", err)
	}
	return names
}

var wantSchema = []string{
	"function berth_put_tag",
	"table audit_log", "table blob_leases", "table blobs", "table gc_tombstones", "table goose_db_version", "table immutability_rules",
	"table manifest_refs",
	"table manifests", "table project_members", "table project_quotas", "table projects", "table promotions", "table repositories",
	"table repository_blobs", "table retention_policies", "table retention_report", "table retention_runs",
	"table retention_trash", "table robots", "table scan_policies", "table scan_reports", "table signing_keys",
	"table tag_history", "table tags", "table uploads", "table users",
	"table vuln_affected", "table vuln_allowlist", "table vuln_generation", "table vuln_records", "table vuln_sources",
}

func TestMigrationsUpDownUp(t *testing.T) {
	ctx := t.Context()
	url := pgtest.NewDatabase(t)
	pool := rawPool(t, url)
	db := stdlib.OpenDBFromPool(pool)
	defer db.Close()
	p, err := newProvider(db, migrationsFS(), quiet)
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name string
		run  func() error
		want []string
	}{
		{"up", func() error { _, err := p.Up(ctx); return err }, wantSchema},
		{"down", func() error { _, err := p.DownTo(ctx, 0); return err }, []string{"table goose_db_version"}},
		{"up again", func() error { _, err := p.Up(ctx); return err }, wantSchema},
	}
	for _, st := range steps {
		if err := st.run(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		diff(t, "schema after "+st.name, st.want, schemaObjects(t, pool))
	}

	// The re-created schema is fully usable.
	s := openTest(t, url, Options{})
	r, err := s.EnsureRepository(ctx, "repo")
	if err != nil {
		t.Fatalf("EnsureRepository: %v", err)
	}
	if err := s.PutManifest(ctx, &meta.Manifest{RepositoryID: r.ID, Digest: "sha256:aa", MediaType: "x",
		Size: 1, Content: []byte("x")}, nil); err != nil {
		t.Fatalf("PutManifest: %v", err)
	}
	if _, err := s.PutTag(ctx, r.ID, "latest", "sha256:aa"); err != nil {
		t.Fatalf("PutTag: %v", err)
	}
}

// futureFS is the embedded migrations plus one this binary does not know.
func futureFS(t *testing.T) fstest.MapFS {
	t.Helper()
	fsys := fstest.MapFS{"99999_future.sql": &fstest.MapFile{Data: []byte(
		"-- +goose Up\nCREATE TABLE future (x integer);\n-- +goose Down\nDROP TABLE future;\n")}}
	entries, err := fs.ReadDir(migrationsFS(), ".")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		data, err := fs.ReadFile(migrationsFS(), e.Name())
		if err != nil {
			t.Fatal(err)
		}
		fsys[e.Name()] = &fstest.MapFile{Data: data}
	}
	return fsys
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	url := pgtest.NewDatabase(t)
	if err := migrate(t.Context(), rawPool(t, url), futureFS(t), quiet, false); err != nil {
		t.Fatalf("migrate to the future: %v", err)
	}
	for _, skip := range []bool{false, true} {
		t.Run(fmt.Sprintf("skip=%v", skip), func(t *testing.T) {
			s, err := Open(t.Context(), url, Options{SkipMigrations: skip, Logger: quiet})
			if err == nil {
				s.Close()
				t.Fatal("Open of a newer schema succeeded")
			}
			if !errors.Is(err, errdefs.ErrUnsupported) || !strings.Contains(err.Error(), "newer") {
				t.Errorf("Open = %v, want an ErrUnsupported that says the schema is newer", err)
			}
		})
	}
	err := Migrate(t.Context(), url, Options{Logger: quiet})
	if !errors.Is(err, errdefs.ErrUnsupported) {
		t.Errorf("Migrate of a newer schema = %v, want ErrUnsupported", err)
	}
}

func TestSkipMigrations(t *testing.T) {
	t.Run("fresh database is refused", func(t *testing.T) {
		s, err := Open(t.Context(), pgtest.NewDatabase(t), Options{SkipMigrations: true, Logger: quiet})
		if err == nil {
			s.Close()
			t.Fatal("Open with SkipMigrations of an empty database succeeded")
		}
		if !errors.Is(err, errdefs.ErrUnsupported) || !strings.Contains(err.Error(), "older") {
			t.Errorf("Open = %v, want an ErrUnsupported that says the schema is older", err)
		}
	})
	t.Run("current schema opens", func(t *testing.T) {
		s := openTest(t, newDatabase(t), Options{SkipMigrations: true})
		if err := s.Ping(t.Context()); err != nil {
			t.Errorf("Ping: %v", err)
		}
	})
}

func TestMigrateAndSchemaVersion(t *testing.T) {
	ctx := t.Context()
	url := pgtest.NewDatabase(t)
	latest, err := latestVersion(migrationsFS())
	if err != nil || latest < 1 {
		t.Fatalf("latestVersion = %d, %v", latest, err)
	}
	version := func(what string) int64 {
		t.Helper()
		cur, lat, err := SchemaVersion(ctx, url, Options{Logger: quiet})
		if err != nil {
			t.Fatalf("SchemaVersion %s: %v", what, err)
		}
		if lat != latest {
			t.Errorf("SchemaVersion %s: latest = %d, want %d", what, lat, latest)
		}
		return cur
	}
	if cur := version("of an empty database"); cur != 0 {
		t.Errorf("current version of an empty database = %d, want 0", cur)
	}
	if objs := schemaObjects(t, rawPool(t, url)); len(objs) != 0 {
		t.Errorf("schema after SchemaVersion = %v, want nothing (it changes nothing)", objs)
	}
	for i := range 2 {
		if err := Migrate(ctx, url, Options{Logger: quiet}); err != nil {
			t.Fatalf("Migrate #%d: %v", i+1, err)
		}
		if cur := version("after Migrate"); cur != latest {
			t.Errorf("current version after Migrate #%d = %d, want %d", i+1, cur, latest)
		}
	}
	openTest(t, url, Options{SkipMigrations: true})
}

// closedPort returns a port of 127.0.0.1 that nothing listens on.
func closedPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return port
}

// withCredentials is url with the given user and password.
func withCredentials(t *testing.T, raw, user, password string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(user, password)
	return u.String()
}

func TestConnectErrors(t *testing.T) {
	const secret = "s3cret-Pa55word"
	good := newDatabase(t)
	gu, err := url.Parse(good)
	if err != nil {
		t.Fatal(err)
	}
	dbName := strings.TrimPrefix(gu.Path, "/")
	admin := rawPool(t, good)
	role := "berth_pw_" + strings.ReplaceAll(dbName, "berth_", "")
	if _, err := admin.Exec(t.Context(), `CREATE ROLE `+pgx.Identifier{role}.Sanitize()+` LOGIN PASSWORD 'right-one'`); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = admin.Exec(context.Background(), `DROP ROLE `+pgx.Identifier{role}.Sanitize()) })
	conn, err := pgx.Connect(t.Context(), withCredentials(t, good, role, "right-one"))
	if err != nil {
		t.Fatalf("connect with the right password: %v", err)
	}
	_ = conn.Close(t.Context())

	closed := fmt.Sprintf("postgres://berth:%s@127.0.0.1:%d/registry?sslmode=disable", secret, closedPort(t))
	tests := []struct {
		name     string
		url      string
		class    error
		mentions []string
	}{
		{"unreachable server", closed, errdefs.ErrUnavailable,
			[]string{"127.0.0.1", "registry"}},
		{"wrong password", withCredentials(t, good, role, secret), errdefs.ErrUnavailable,
			[]string{gu.Hostname(), dbName, role}},
		{"missing database", strings.Replace(good, "/"+dbName, "/no_such_db", 1), errdefs.ErrUnavailable,
			[]string{"no_such_db"}},
		{"malformed URL", "postgres://berth:" + secret + "@127.0.0.1:notaport/registry", errdefs.ErrInvalid, nil},
	}
	trustsEveryone := false
	if conn, err := pgx.Connect(t.Context(), withCredentials(t, good, role, secret)); err == nil {
		trustsEveryone = true // possible on a server given by BERTHTEST_POSTGRES_URL
		_ = conn.Close(t.Context())
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "wrong password" && trustsEveryone {
				t.Skip("the server does not check passwords")
			}
			for name, open := range map[string]func() error{
				"Open":          func() error { _, err := Open(t.Context(), tc.url, Options{Logger: quiet}); return err },
				"Migrate":       func() error { return Migrate(t.Context(), tc.url, Options{Logger: quiet}) },
				"SchemaVersion": func() error { _, _, err := SchemaVersion(t.Context(), tc.url, Options{Logger: quiet}); return err },
				"OpenJobsPool": func() error {
					pool, err := OpenJobsPool(t.Context(), tc.url, Options{Logger: quiet})
					if err == nil {
						pool.Close()
					}
					return err
				},
			} {
				err := open()
				if !errors.Is(err, tc.class) {
					t.Fatalf("%s = %v, want class %v", name, err, tc.class)
				}
				msg := err.Error()
				if strings.Contains(msg, secret) {
					t.Errorf("%s error reveals the password: %s", name, msg)
				}
				for _, m := range tc.mentions {
					if !strings.Contains(msg, m) {
						t.Errorf("%s error %q does not mention %q", name, msg, m)
					}
				}
			}
		})
	}
}

func TestOpenJobsPool(t *testing.T) {
	url := pgtest.NewDatabase(t) // the queue needs no metadata schema
	pool, err := OpenJobsPool(t.Context(), url, Options{MaxConns: 7, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var app string
	if err := pool.QueryRow(t.Context(), `SHOW application_name`).Scan(&app); err != nil {
		t.Fatal(err)
	}
	if app != "berth" || pool.Config().MaxConns != 7 {
		t.Errorf("pool: application_name %q, %d connections; want berth, 7", app, pool.Config().MaxConns)
	}
}

func TestErrorClasses(t *testing.T) {
	t.Run("closed store", func(t *testing.T) {
		s, err := Open(t.Context(), newDatabase(t), Options{Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if err := s.Ping(t.Context()); !errors.Is(err, errdefs.ErrUnavailable) {
			t.Errorf("Ping after Close = %v, want ErrUnavailable", err)
		}
		if _, err := s.EnsureRepository(t.Context(), "x"); !errors.Is(err, errdefs.ErrUnavailable) {
			t.Errorf("EnsureRepository after Close = %v, want ErrUnavailable", err)
		}
		err = s.WithTx(t.Context(), func(meta.Querier) error { return nil })
		if !errors.Is(err, errdefs.ErrUnavailable) {
			t.Errorf("WithTx after Close = %v, want ErrUnavailable", err)
		}
	})
	t.Run("canceled context", func(t *testing.T) {
		s := openTest(t, newDatabase(t), Options{})
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if _, err := s.GetRepository(ctx, "x"); !errors.Is(err, context.Canceled) {
			t.Errorf("GetRepository with a canceled context = %v, want context.Canceled", err)
		}
	})
	t.Run("text the database cannot hold", func(t *testing.T) {
		s := openTest(t, newDatabase(t), Options{})
		if _, err := s.EnsureRepository(t.Context(), "nul\x00byte"); !errors.Is(err, errdefs.ErrInvalid) {
			t.Errorf("EnsureRepository with a NUL byte = %v, want ErrInvalid", err)
		}
	})
	t.Run("a failed primitive leaves the transaction usable to roll back", func(t *testing.T) {
		s := openTest(t, newDatabase(t), Options{})
		ctx := t.Context()
		err := s.WithTx(ctx, func(tx meta.Querier) error {
			r, err := tx.EnsureRepository(ctx, "repo")
			if err != nil {
				return err
			}
			_, err = tx.PutTag(ctx, r.ID, "latest", "sha256:absent")
			return err
		})
		if !errors.Is(err, errdefs.ErrNotFound) {
			t.Fatalf("WithTx = %v, want the primitive's ErrNotFound", err)
		}
		if _, err := s.GetRepository(ctx, "repo"); !errors.Is(err, errdefs.ErrNotFound) {
			t.Errorf("GetRepository after the rollback = %v, want ErrNotFound", err)
		}
	})
}

func TestTimesAreKeptToTheMicrosecond(t *testing.T) {
	s := openTest(t, newDatabase(t), Options{})
	ctx := t.Context()
	// 999 nanoseconds past a microsecond: the server would round up, the
	// store truncates as the SQLite backend does.
	tm := time.Date(2030, 1, 2, 3, 4, 5, 123456999, time.UTC)
	if err := s.PutBlob(ctx, meta.Blob{Digest: "sha256:ab", Size: 1, CreatedAt: tm}); err != nil {
		t.Fatal(err)
	}
	b, err := s.GetBlob(ctx, "sha256:ab")
	if err != nil {
		t.Fatal(err)
	}
	if want := tm.Truncate(time.Microsecond); !b.CreatedAt.Equal(want) {
		t.Errorf("CreatedAt = %v, want %v", b.CreatedAt, want)
	}
}

func diff(t *testing.T, what string, want, got any) {
	t.Helper()
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", what, d)
	}
}
