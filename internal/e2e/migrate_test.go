package e2e

import (
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/berth-registry/berth/internal/berthtest"
)

// migrateStatus is the JSON `berth migrate -o json` prints.
type migrateStatus struct {
	Database      string `json:"database"`
	VersionBefore int64  `json:"version_before"`
	Version       int64  `json:"version"`
	Latest        int64  `json:"latest"`
}

// TestMigrate runs `berth migrate` as a deployment step on PostgreSQL:
// --status on an empty database says it needs migrating (exit 1); a
// replica told not to migrate refuses that database, then starts once
// `berth migrate` has run; and a database a newer berth migrated is
// refused.
func TestMigrate(t *testing.T) {
	berthBinary(t)
	t.Parallel()
	c := newBackends(t)
	migrate := func(t *testing.T, args ...string) (stdout, stderr string, code int) {
		t.Helper()
		return runBerth(t, c.bin, nil, append([]string{"migrate", "--metadata", c.db}, args...)...)
	}
	var latest int64
	ok := t.Run("status of an empty database", func(t *testing.T) {
		stdout, stderr, code := migrate(t, "--status")
		if code != 1 || !strings.Contains(stdout, "needs") || !strings.Contains(stdout, "run berth migrate") ||
			!strings.Contains(stderr, "needs migrating") {
			t.Errorf("migrate --status: exit %d, want 1 and a message that it needs migrating\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
		}
		stdout, _, code = migrate(t, "--status", "-o", "json")
		var st migrateStatus
		decodeJSON(t, stdout, &st)
		latest = st.Latest
		if code != 1 || st.Version != 0 || st.Latest < 1 {
			t.Errorf("migrate --status -o json: exit %d, %+v; want exit 1, version 0 and latest >= 1", code, st)
		}
	})
	if !ok {
		t.FailNow()
	}
	t.Run("replica refuses an unmigrated database", func(t *testing.T) {
		stdout, stderr, code := runBerth(t, c.bin, append(c.env, "BERTH_MIGRATE=false"), c.serveArgs(t)...)
		if code == 0 || !strings.Contains(stderr, "berth migrate") || !strings.Contains(stderr, "older than this binary needs") {
			t.Errorf("serve with migrate false on an empty database: exit %d, want non-zero and a message saying to run berth migrate\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
		}
	})
	ok = t.Run("migrate", func(t *testing.T) {
		stdout, stderr, code := migrate(t)
		if code != 0 || !strings.Contains(stdout, fmt.Sprintf("migrated schema from version 0 to %d", latest)) {
			t.Fatalf("berth migrate: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
		}
		if stdout, stderr, code := migrate(t, "--status"); code != 0 || !strings.Contains(stdout, "up to date") {
			t.Errorf("migrate --status after migrating: exit %d, want 0 and \"up to date\"\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
		}
		if stdout, stderr, code := migrate(t); code != 0 || !strings.Contains(stdout, "up to date") {
			t.Errorf("berth migrate again: exit %d, want 0 and \"up to date\"\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
		}
	})
	if !ok {
		t.FailNow()
	}
	t.Run("replica starts on the migrated database", func(t *testing.T) {
		opts := c.options()
		opts.Env = append(opts.Env, "BERTH_MIGRATE=false")
		p := berthtest.StartProcess(t, c.bin, opts)
		pushImage(t, p.Registry(), "migrate/app", "v1", newImage(t, "migrate", linuxAmd64))
		if code := p.Stop(); code != 0 {
			t.Errorf("exit code %d after SIGTERM, want 0", code)
		}
	})
	t.Run("newer database", func(t *testing.T) {
		c.execDB(t, `INSERT INTO goose_db_version (version_id, is_applied) VALUES ($1, true)`, latest+1)
		stdout, stderr, code := runBerth(t, c.bin, c.env, c.serveArgs(t)...)
		if code == 0 || !strings.Contains(stderr, "newer than this binary knows") {
			t.Errorf("serve on a database at version %d: exit %d, want non-zero and a message that it is newer\nstdout:\n%s\nstderr:\n%s", latest+1, code, stdout, stderr)
		}
		t.Run("migrate", func(t *testing.T) {
			for _, args := range [][]string{nil, {"--status"}} {
				stdout, stderr, code := migrate(t, args...)
				if code == 0 || !strings.Contains(stdout+stderr, "newer") {
					t.Errorf("berth migrate %q on a database at version %d (binary knows %d): exit %d, want non-zero and a message that it is newer\nstdout:\n%s\nstderr:\n%s",
						args, latest+1, latest, code, stdout, stderr)
				}
			}
		})
	})
}

// serveArgs is the command line of a replica on c's backends.
func (c *scaleOut) serveArgs(t *testing.T) []string {
	t.Helper()
	return []string{"serve", "--addr", "127.0.0.1:0", "--data-dir", t.TempDir(), "--metadata", c.db, "--storage", c.storage}
}

// TestStartupErrors starts replicas on backends they cannot use: an
// unreachable PostgreSQL, wrong S3 credentials, a missing bucket. Each must
// exit non-zero at once (runBerth allows 20 seconds) with a message naming
// the backend, and never show a password or secret key.
func TestStartupErrors(t *testing.T) {
	berthBinary(t)
	t.Parallel()
	c := newBackends(t)
	const dbPassword = "db-Pa55word-never-shown"
	const wrongSecret = "wrong-Secret-never-shown"
	port := closedPort(t)
	badDB := fmt.Sprintf("postgres://berth:%s@127.0.0.1:%d/berth?sslmode=disable", dbPassword, port)
	missing := strings.Replace(c.storage, c.bucket.Name, "berth-no-such-bucket", 1)
	tests := []struct {
		name              string
		metadata, storage string
		env               []string
		// want must all appear in stderr.
		want []string
	}{
		{name: "unreachable postgres", metadata: badDB, storage: c.storage,
			want: []string{"PostgreSQL", fmt.Sprintf("127.0.0.1:%d", port)}},
		{name: "wrong s3 credentials", metadata: c.db, storage: c.storage,
			env:  []string{"AWS_SECRET_ACCESS_KEY=" + wrongSecret},
			want: []string{c.bucket.Name}},
		{name: "wrong s3 credentials in the URL", metadata: c.db,
			storage: withQuery(t, c.storage, "access-key", c.bucket.Server.AccessKey, "secret-key", wrongSecret),
			want:    []string{c.bucket.Name}},
		{name: "missing bucket", metadata: c.db, storage: missing,
			want: []string{"berth-no-such-bucket"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := []string{"serve", "--addr", "127.0.0.1:0", "--data-dir", t.TempDir(), "--metadata", tc.metadata, "--storage", tc.storage}
			stdout, stderr, code := runBerth(t, c.bin, append(append([]string(nil), c.env...), tc.env...), args...)
			if code == 0 {
				t.Fatalf("berth serve exited 0, want an error\nstdout:\n%s\nstderr:\n%s", stdout, stderr)
			}
			t.Logf("exit %d: %s", code, stderr)
			for _, w := range tc.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr does not name %q:\n%s", w, stderr)
				}
			}
			checkNoSecret(t, "berth serve's output", stdout+stderr, dbPassword, wrongSecret, c.bucket.Server.SecretKey)
		})
	}
}

// withQuery returns raw with the query parameters kv (name, value, ...)
// set.
func withQuery(t *testing.T, raw string, kv ...string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	for i := 0; i+1 < len(kv); i += 2 {
		q.Set(kv[i], kv[i+1])
	}
	u.RawQuery = q.Encode()
	return u.String()
}
