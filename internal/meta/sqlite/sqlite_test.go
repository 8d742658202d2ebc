package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/google/go-cmp/cmp"

	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/meta/metatest"
)

// quiet keeps the store's log lines out of test output.
var quiet = slog.New(slog.DiscardHandler)

// openTest opens a fresh store in a temporary directory, closed when the
// test ends.
func openTest(tb testing.TB, opts Options) (*Store, string) {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "meta", "berth.db")
	if opts.Logger == nil {
		opts.Logger = quiet
	}
	s, err := Open(tb.Context(), path, opts)
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() {
		if err := s.Close(); err != nil {
			tb.Errorf("Close: %v", err)
		}
	})
	return s, path
}

func TestConformance(t *testing.T) {
	metatest.Run(t, func(t *testing.T) meta.Store {
		s, _ := openTest(t, Options{})
		return s
	})
}

func BenchmarkStore(b *testing.B) {
	metatest.RunBenchmarks(b, func(b *testing.B) meta.Store {
		s, _ := openTest(b, Options{})
		return s
	})
}

// schemaTables lists the tables of the database behind db, except
// SQLite's own.
func schemaTables(t *testing.T, db *sql.DB) []string {
	t.Helper()
	rows, err := db.QueryContext(t.Context(),
		`SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name`)
	if err != nil {
		t.Fatalf("list tables: %v", err)
	}
	names, err := scanStrings(rows)
	if err != nil {
		t.Fatalf("list tables: %v", err)
	}
	return names
}

var wantTables = []string{
	"audit_log", "blob_leases", "blobs", "gc_tombstones", "goose_db_version", "immutability_rules", "manifest_refs", "manifests",
	"project_members", "project_quotas", "projects", "promotions", "repositories", "repository_blobs", "retention_policies", "retention_report", "retention_runs", "retention_trash", "robots",
	"scan_policies", "scan_reports", "signing_keys", "tag_history", "tags", "uploads", "users",
	"vuln_affected", "vuln_allowlist", "vuln_generation", "vuln_records", "vuln_sources",
}

// rawDB opens path as the writer pool does, without a Store.
func rawDB(t *testing.T, path string) *sql.DB {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", dsn(path, time.Second, true))
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func TestMigrationsUpDownUp(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "berth.db")
	db := rawDB(t, path)
	p, err := newProvider(db, migrationsFS(), quiet)
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name string
		run  func() error
		want []string
	}{
		{"up", func() error { _, err := p.Up(ctx); return err }, wantTables},
		{"down", func() error { _, err := p.DownTo(ctx, 0); return err }, []string{"goose_db_version"}},
		{"up again", func() error { _, err := p.Up(ctx); return err }, wantTables},
	}
	for _, st := range steps {
		if err := st.run(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		diff(t, "tables after "+st.name, st.want, schemaTables(t, db))
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	// The re-created schema is fully usable.
	s, err := Open(ctx, path, Options{Logger: quiet})
	if err != nil {
		t.Fatalf("Open after up/down/up: %v", err)
	}
	defer s.Close()
	r, err := s.EnsureRepository(ctx, "repo")
	if err != nil {
		t.Fatalf("EnsureRepository: %v", err)
	}
	if err := s.PutManifest(ctx, &meta.Manifest{RepositoryID: r.ID, Digest: "sha256:aa", MediaType: "x",
		Size: 1, Content: []byte("x")}, nil); err != nil {
		t.Fatalf("PutManifest: %v", err)
	}
}

// futureFS is the embedded migrations plus one this binary does not know.
func futureFS(t *testing.T) fstest.MapFS {
	t.Helper()
	fsys := fstest.MapFS{"99999_future.sql": &fstest.MapFile{Data: []byte(
		"-- +goose Up\nCREATE TABLE future (x INTEGER);\n-- +goose Down\nDROP TABLE future;\n")}}
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
	path := filepath.Join(t.TempDir(), "berth.db")
	db := rawDB(t, path)
	if err := migrate(t.Context(), db, futureFS(t), quiet, false); err != nil {
		t.Fatalf("migrate to the future: %v", err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	for _, skip := range []bool{false, true} {
		t.Run(fmt.Sprintf("skip=%v", skip), func(t *testing.T) {
			s, err := Open(t.Context(), path, Options{SkipMigrations: skip, Logger: quiet})
			if err == nil {
				s.Close()
				t.Fatal("Open of a newer schema succeeded")
			}
			if !errors.Is(err, errdefs.ErrUnsupported) || !strings.Contains(err.Error(), "newer") {
				t.Errorf("Open = %v, want an ErrUnsupported that says the schema is newer", err)
			}
		})
	}
}

func TestSkipMigrations(t *testing.T) {
	dir := t.TempDir()
	t.Run("fresh file is refused", func(t *testing.T) {
		s, err := Open(t.Context(), filepath.Join(dir, "fresh.db"), Options{SkipMigrations: true, Logger: quiet})
		if err == nil {
			s.Close()
			t.Fatal("Open with SkipMigrations of an empty database succeeded")
		}
		if !errors.Is(err, errdefs.ErrUnsupported) || !strings.Contains(err.Error(), "older") {
			t.Errorf("Open = %v, want an ErrUnsupported that says the schema is older", err)
		}
	})
	t.Run("current schema opens", func(t *testing.T) {
		path := filepath.Join(dir, "current.db")
		s, err := Open(t.Context(), path, Options{Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		s, err = Open(t.Context(), path, Options{SkipMigrations: true, Logger: quiet})
		if err != nil {
			t.Fatalf("Open with SkipMigrations: %v", err)
		}
		defer s.Close()
		if err := s.Ping(t.Context()); err != nil {
			t.Errorf("Ping: %v", err)
		}
	})
}

func TestReopenKeepsData(t *testing.T) {
	ctx := t.Context()
	// Characters that a DSN or URI would otherwise misread.
	path := filepath.Join(t.TempDir(), "dir with space?#%", "new", "berth.db")
	s, err := Open(ctx, path, Options{Logger: quiet})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	r, err := s.EnsureRepository(ctx, "keep/me")
	if err != nil {
		t.Fatal(err)
	}
	m := &meta.Manifest{RepositoryID: r.ID, Digest: "sha256:bb", MediaType: "x", Size: 3,
		Content: []byte("abc"), PushedAt: time.UnixMicro(1_700_000_000_123_456).UTC()}
	if err := s.PutManifest(ctx, m, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutTag(ctx, r.ID, "latest", m.Digest); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("database file: %v", err)
	}

	s, err = Open(ctx, path, Options{Logger: quiet})
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer s.Close()
	got, err := s.GetTaggedManifest(ctx, r.ID, "latest", true)
	if err != nil {
		t.Fatalf("GetTaggedManifest after reopen: %v", err)
	}
	diff(t, "manifest after reopen", m, got)
}

func TestPragmas(t *testing.T) {
	s, _ := openTest(t, Options{})
	tests := []struct {
		pool   string
		db     *sql.DB
		pragma string
		want   string
	}{
		{"writer", s.writer, "journal_mode", "wal"},
		{"reader", s.reader, "journal_mode", "wal"},
		{"writer", s.writer, "synchronous", "2"}, // FULL
		{"writer", s.writer, "foreign_keys", "1"},
		{"writer", s.writer, "busy_timeout", "5000"},
		{"reader", s.reader, "query_only", "1"},
		{"reader", s.reader, "busy_timeout", "5000"},
	}
	for _, tc := range tests {
		t.Run(tc.pool+"/"+tc.pragma, func(t *testing.T) {
			var got string
			if err := tc.db.QueryRowContext(t.Context(), "PRAGMA "+tc.pragma).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("PRAGMA %s = %q, want %q", tc.pragma, got, tc.want)
			}
		})
	}
	if _, err := s.reader.ExecContext(t.Context(), `DELETE FROM blobs`); err == nil {
		t.Error("the reader pool accepted a write")
	}
	if n := s.writer.Stats().MaxOpenConnections; n != 1 {
		t.Errorf("writer pool allows %d connections, want 1", n)
	}
}

// TestStatementsPreparedAtOpen: a statement prepared lazily inside a
// transaction would wait for the writer connection the transaction holds.
func TestStatementsPreparedAtOpen(t *testing.T) {
	s, _ := openTest(t, Options{})
	for _, q := range statements {
		if s.wstmts.lookup(q) == nil {
			t.Errorf("not prepared on the writer: %s", q)
		}
	}
	// And a statement Open did not prepare still runs inside a transaction.
	err := s.inTx(t.Context(), func(q *querier) error {
		var n int
		return q.tx.queryRow(t.Context(), `SELECT COUNT(*) FROM tags`).Scan(&n)
	})
	if err != nil {
		t.Errorf("unregistered statement in a transaction: %v", err)
	}
}

func TestErrorClasses(t *testing.T) {
	t.Run("locked by another process", func(t *testing.T) {
		s, path := openTest(t, Options{BusyTimeout: 20 * time.Millisecond})
		other := rawDB(t, path)
		tx, err := other.BeginTx(t.Context(), nil) // IMMEDIATE: takes the write lock
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		err = s.PutBlob(t.Context(), meta.Blob{Digest: "sha256:cc", Size: 1})
		if !errors.Is(err, errdefs.ErrUnavailable) {
			t.Errorf("PutBlob while another process writes = %v, want ErrUnavailable", err)
		}
	})
	t.Run("closed store", func(t *testing.T) {
		s, err := Open(t.Context(), filepath.Join(t.TempDir(), "b.db"), Options{Logger: quiet})
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
	})
	t.Run("canceled context", func(t *testing.T) {
		s, _ := openTest(t, Options{})
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if _, err := s.GetRepository(ctx, "x"); !errors.Is(err, context.Canceled) {
			t.Errorf("GetRepository with a canceled context = %v, want context.Canceled", err)
		}
	})
	t.Run("memory database", func(t *testing.T) {
		if _, err := Open(t.Context(), ":memory:", Options{}); !errors.Is(err, errdefs.ErrInvalid) {
			t.Errorf("Open(:memory:) = %v, want ErrInvalid", err)
		}
	})
}

func diff(t *testing.T, what string, want, got any) {
	t.Helper()
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", what, d)
	}
}
