package pgtest

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"
)

func TestMain(m *testing.M) { Main(m) }

func connect(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	return conn
}

func tables(t *testing.T, conn *pgx.Conn) []string {
	t.Helper()
	rows, err := conn.Query(t.Context(), `SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return names
}

func TestDatabasesAreSeparateAndEmpty(t *testing.T) {
	a, b := NewDatabase(t), NewDatabase(t)
	if a == b {
		t.Fatalf("two databases share the URL %s", a)
	}
	ca := connect(t, a)
	if _, err := ca.Exec(t.Context(), `CREATE TABLE only_in_a (x int)`); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]string{"only_in_a"}, tables(t, ca)); d != "" {
		t.Errorf("tables of a (-want +got):\n%s", d)
	}
	if got := tables(t, connect(t, b)); len(got) != 0 {
		t.Errorf("tables of a fresh database = %v, want none", got)
	}
}

func TestDatabaseIsDroppedAtTestEnd(t *testing.T) {
	var name string
	t.Run("uses a database", func(t *testing.T) {
		url := NewDatabase(t)
		conn := connect(t, url) // still open at cleanup: the drop must end it
		if err := conn.QueryRow(t.Context(), `SELECT current_database()`).Scan(&name); err != nil {
			t.Fatal(err)
		}
	})
	startInstance(t).dropping.Wait()
	var n int
	err := connect(t, Start(t)).QueryRow(t.Context(), `SELECT count(*) FROM pg_database WHERE datname = $1`, name).Scan(&n)
	if err != nil || n != 0 {
		t.Errorf("database %s after its test: count %d, %v; want dropped", name, n, err)
	}
}

func TestTemplate(t *testing.T) {
	calls := 0
	setup := func(ctx context.Context, url string) error {
		calls++
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			return err
		}
		defer conn.Close(ctx)
		_, err = conn.Exec(ctx, `CREATE TABLE prepared (x int); INSERT INTO prepared VALUES (42)`)
		return err
	}
	tpl := Template(t, "answer", setup)
	if again := Template(t, "answer", setup); again != tpl || calls != 1 {
		t.Errorf("second Template = %q after %d setups, want %q after 1", again, calls, tpl)
	}
	for range 2 {
		var x int
		if err := connect(t, NewDatabaseFrom(t, tpl)).QueryRow(t.Context(), `SELECT x FROM prepared`).Scan(&x); err != nil || x != 42 {
			t.Errorf("copy of the template: x = %d, %v; want 42", x, err)
		}
	}
	// Nobody may connect to the template itself (a connection would block
	// every copy).
	tplURL := strings.Replace(Start(t), "/postgres?", "/"+tpl+"?", 1)
	if conn, err := pgx.Connect(t.Context(), tplURL); err == nil {
		_ = conn.Close(t.Context())
		t.Error("connected to the template database")
	}
}

// The server this package starts sorts text linguistically, so that a query
// missing COLLATE "C" cannot pass the byte-order tests by luck.
func TestDefaultCollationIsNotByteOrder(t *testing.T) {
	if os.Getenv(URLEnv) != "" {
		t.Skipf("%s names an existing server, whose collation is its own", URLEnv)
	}
	rows, err := connect(t, NewDatabase(t)).Query(t.Context(),
		`SELECT x FROM (VALUES ('a/b'), ('a-b'), ('aB'), ('a_b'), ('A')) v(x) ORDER BY x`)
	if err != nil {
		t.Fatal(err)
	}
	got, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]string{"A", "a-b", "a/b", "aB", "a_b"}, got); d == "" {
		t.Errorf("the test cluster sorts byte-wise; want a linguistic default collation")
	}
}

func TestPasswordsAreChecked(t *testing.T) {
	if os.Getenv(URLEnv) != "" {
		t.Skipf("%s names an existing server, whose authentication is its own", URLEnv)
	}
	admin := connect(t, Start(t))
	if _, err := admin.Exec(t.Context(), `CREATE ROLE pgtest_pw LOGIN PASSWORD 'right'`); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = admin.Exec(context.Background(), `DROP ROLE pgtest_pw`) })
	url := strings.Replace(NewDatabase(t), "postgres@", "pgtest_pw:%s@", 1)
	conn, err := pgx.Connect(t.Context(), strings.Replace(url, "%s", "right", 1))
	if err != nil {
		t.Fatalf("right password: %v", err)
	}
	_ = conn.Close(t.Context())
	_, err = pgx.Connect(t.Context(), strings.Replace(url, "%s", "wrong", 1))
	var pgErr interface{ SQLState() string }
	if !errors.As(err, &pgErr) || pgErr.SQLState() != "28P01" {
		t.Errorf("wrong password: %v, want SQLSTATE 28P01", err)
	}
}
