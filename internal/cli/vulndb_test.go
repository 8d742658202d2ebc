package cli

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/vuln/osv"
)

func TestVulnDBImportAndStatus(t *testing.T) {
	dir := t.TempDir()
	status := func(t *testing.T) vulnDBStatus {
		t.Helper()
		code, out, errOut := run(t, "vulndb", "status", "--data-dir", dir, "-o", "json")
		if code != 0 {
			t.Fatalf("vulndb status: exit %d: %s", code, errOut)
		}
		var st vulnDBStatus
		if err := json.Unmarshal([]byte(out), &st); err != nil {
			t.Fatalf("status output %q: %v", out, err)
		}
		return st
	}

	if st := status(t); !st.Stale || len(st.Sources) != 0 || st.Generation != 0 {
		t.Errorf("empty database: status = %+v; want stale, no sources, generation 0", st)
	}
	code, out, _ := run(t, "vulndb", "status", "--data-dir", dir)
	if code != 0 || !strings.Contains(out, "STALE: no vulnerability data") {
		t.Errorf("empty database table: exit %d, %q", code, out)
	}

	code, out, errOut := run(t, "vulndb", "import", "../vuln/testdata", "--source", "fixtures", "--data-dir", dir, "-o", "json")
	if code != 0 {
		t.Fatalf("vulndb import: exit %d: %s", code, errOut)
	}
	var rep osv.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("import output %q: %v", out, err)
	}
	if rep.Source != "fixtures" || rep.Added != 10 || rep.Generation != 1 {
		t.Errorf("import report = %+v; want 10 added to fixtures, generation 1", rep)
	}

	// A record modified just now, in a source of its own.
	fresh := filepath.Join(t.TempDir(), "fresh.json")
	rec := `{"id":"BERTH-FRESH-1","modified":"` + time.Now().UTC().Format(time.RFC3339) + `","affected":[]}`
	if err := os.WriteFile(fresh, []byte(rec), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = run(t, "vulndb", "import", fresh, "--data-dir", dir)
	if code != 0 || !strings.Contains(out, "source fresh.json: read 1 records: 1 added") {
		t.Fatalf("vulndb import fresh: exit %d: %q %s", code, out, errOut)
	}

	st := status(t)
	if len(st.Sources) != 2 || st.Generation != 2 || !st.Stale {
		t.Fatalf("status = %+v; want two sources, generation 2, stale overall", st)
	}
	byName := map[string]vulnSourceStatus{}
	for _, s := range st.Sources {
		byName[s.Name] = s
	}
	if s := byName["fixtures"]; !s.Stale || s.Records != 10 || s.NewestModified == nil {
		t.Errorf("fixtures = %+v; want stale with 10 records", s)
	}
	if s := byName["fresh.json"]; s.Stale || s.Records != 1 {
		t.Errorf("fresh.json = %+v; want current with 1 record", s)
	}
	code, out, _ = run(t, "vulndb", "status", "--data-dir", dir)
	if code != 0 || !strings.Contains(out, "STALE") || !strings.Contains(out, "fresh.json") {
		t.Errorf("status table: exit %d, %q", code, out)
	}

	// A generous scan.max_db_age makes the old fixtures current.
	t.Setenv("BERTH_SCAN_MAX_DB_AGE", "876000h")
	if st := status(t); st.Stale {
		t.Errorf("with max age 100 years: status = %+v; want current", st)
	}
}

func TestVulnDBImportErrors(t *testing.T) {
	dir := t.TempDir()
	code, _, errOut := run(t, "vulndb", "import", filepath.Join(dir, "missing.zip"), "--data-dir", dir)
	if code == 0 || !strings.Contains(errOut, "missing.zip") {
		t.Errorf("missing file: exit %d, %q", code, errOut)
	}
	if code, _, _ := run(t, "vulndb", "import", "x", "-o", "yaml", "--data-dir", dir); code != 2 {
		t.Errorf("-o yaml: exit %d, want 2", code)
	}
}

func TestVulnDBSync(t *testing.T) {
	// A zip of the repository's real OSV records, served on 127.0.0.1.
	paths, err := filepath.Glob("../vuln/testdata/osv/*.json")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no OSV testdata: %v", err)
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		w, err := zw.Create(filepath.Base(p))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/osv/all.zip" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/zip")
		_, _ = w.Write(buf.Bytes())
	}))
	t.Cleanup(srv.Close)
	dir := t.TempDir()

	code, out, errOut := run(t, "vulndb", "sync", "--url", srv.URL+"/osv/all.zip?key=s3cret", "--data-dir", dir, "-o", "json")
	if code != 0 {
		t.Fatalf("vulndb sync: exit %d: %s", code, errOut)
	}
	var rep osv.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("sync output %q: %v", out, err)
	}
	source := srv.URL + "/osv/all.zip"
	if rep.Source != source || rep.Added != len(paths) || rep.Data.Records != int64(len(paths)) {
		t.Errorf("sync report = %+v; want %d added to %s", rep, len(paths), source)
	}
	if strings.Contains(errOut, "s3cret") {
		t.Errorf("stderr shows the URL's query: %s", errOut)
	}

	// From scan.sync_url, again: nothing new.
	t.Setenv("BERTH_SCAN_SYNC_URL", srv.URL+"/osv/all.zip")
	code, out, errOut = run(t, "vulndb", "sync", "--data-dir", dir)
	if code != 0 || !strings.Contains(out, "source "+source+": read 4 records: 0 added, 0 replaced, 4 unchanged") {
		t.Errorf("vulndb sync from config: exit %d: %q %s", code, out, errOut)
	}
	code, out, _ = run(t, "vulndb", "status", "--data-dir", dir)
	if code != 0 || !strings.Contains(out, source) {
		t.Errorf("status after sync: exit %d, %q", code, out)
	}

	code, _, errOut = run(t, "vulndb", "sync", "--url", srv.URL+"/missing.zip", "--data-dir", dir)
	if code == 0 || !strings.Contains(errOut, "404") {
		t.Errorf("sync of a missing file: exit %d, %q", code, errOut)
	}
	t.Setenv("BERTH_SCAN_SYNC_URL", "")
	tests := []struct {
		name string
		args []string
	}{
		{"no URL", nil},
		{"bad max size", []string{"--url", srv.URL, "--max-size", "lots"}},
		{"bad output", []string{"--url", srv.URL, "-o", "yaml"}},
	}
	for _, tt := range tests {
		code, _, errOut := run(t, append([]string{"vulndb", "sync", "--data-dir", dir}, tt.args...)...)
		if code != 2 {
			t.Errorf("%s: exit %d (%s); want 2", tt.name, code, errOut)
		}
	}
}

func TestHumanAge(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{{30 * time.Second, "30s"}, {90 * time.Minute, "1h30m0s"}, {75 * time.Hour, "3d3h"}}
	for _, tc := range tests {
		if got := humanAge(tc.d); got != tc.want {
			t.Errorf("humanAge(%v) = %q, want %q", tc.d, got, tc.want)
		}
	}
}
