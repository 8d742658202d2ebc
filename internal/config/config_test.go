package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestLoadPrecedence(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "berth.yaml")
	if err := os.WriteFile(file, []byte("addr: 127.0.0.1:6000\ndata_dir: /from/file\nlog:\n  level: debug\nuploads:\n  expire_after: 2h\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(Sources{
		File:      file,
		Environ:   []string{"BERTH_DATA_DIR=/from/env", "BERTH_LOG_FORMAT=json", "PATH=/bin", "BERTH_CONFIG=ignored"},
		Overrides: map[string]any{"data_dir": "/from/flag"},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := Default()
	want.Addr = "127.0.0.1:6000"
	want.DataDir = "/from/flag"
	want.Log = Log{Level: "debug", Format: "json"}
	want.Uploads.ExpireAfter = 2 * time.Hour
	if diff := cmp.Diff(want, c); diff != "" {
		t.Errorf("config mismatch (-want +got):\n%s", diff)
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name string
		src  Sources
		want []string
	}{
		{"unknown file key", Sources{File: write("a.yaml", "adress: x\n")}, []string{`unknown setting "adress"`}},
		{"unknown env", Sources{Environ: []string{"BERTH_ADRESS=:1"}}, []string{"BERTH_ADRESS is not a Berth setting"}},
		{"bad values reported together", Sources{Overrides: map[string]any{"addr": "nonsense", "log.level": "loud", "log.format": "xml"}},
			[]string{`addr: "nonsense"`, `log.level: "loud"`, `log.format: "xml"`}},
		{"half tls", Sources{Overrides: map[string]any{"tls.cert_file": "/nope.pem"}}, []string{"must both be set", "/nope.pem"}},
		{"newer version", Sources{File: write("v.yaml", "version: 9\n")}, []string{"version: 9 is not supported"}},
		{"missing file", Sources{File: filepath.Join(dir, "missing.yaml")}, []string{"missing.yaml"}},
		{"bad duration", Sources{Environ: []string{"BERTH_UPLOADS_EXPIRE_AFTER=-1s"}}, []string{"uploads.expire_after"}},
		{"unsupported backend", Sources{Overrides: map[string]any{"metadata": "mysql://x"}}, []string{"mysql://x"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(tt.src)
			if err == nil {
				t.Fatal("Load succeeded, want error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestEnvNamesAreUnambiguous(t *testing.T) {
	seen := map[string]string{}
	for _, k := range Keys() {
		n := EnvName(k)
		if other, ok := seen[n]; ok {
			t.Errorf("settings %q and %q share environment variable %s", k, other, n)
		}
		seen[n] = k
	}
	if len(seen) < 10 {
		t.Fatalf("only %d settings found: %v", len(seen), Keys())
	}
}

func TestDefaultsValid(t *testing.T) {
	c := Default()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if p, _ := c.MetadataPath(); p != filepath.Join(c.DataDir, "berth.db") {
		t.Errorf("metadata path %q", p)
	}
}
