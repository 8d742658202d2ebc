package inventory_test

import (
	"archive/zip"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/berth-registry/berth/internal/scan/layers/layertest"
)

type F = layertest.File

// hostFile reads a file of this machine, skipping the test when absent.
func hostFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Skipf("this machine has no %s: %v", path, err)
	}
	return b
}

// debianFiles are this machine's dpkg status and os-release, laid out as in
// a Debian image (etc/os-release a symlink into usr/lib).
func debianFiles(t testing.TB) []F {
	t.Helper()
	return []F{
		{Path: "usr/lib/os-release", Body: hostFile(t, "/usr/lib/os-release")},
		{Path: "etc/os-release", Link: "../usr/lib/os-release"},
		{Path: "var/lib/dpkg/status", Body: hostFile(t, "/var/lib/dpkg/status")},
	}
}

// hostPackageVersion asks dpkg-query for an installed package's version.
func hostPackageVersion(t *testing.T, name string) string {
	t.Helper()
	out, err := exec.Command("dpkg-query", "-W", "-f=${Version}", name).Output()
	if err != nil {
		t.Skipf("dpkg-query %s: %v", name, err)
	}
	return string(out)
}

const alpineInstalled = `C:Q1aaaaaaaaaaaaaaaaaaaaaaaaaaa=
P:musl
V:1.2.5-r0
A:x86_64
S:411000
I:655360
T:the musl c library (libc) implementation
U:https://musl.libc.org/
L:MIT
o:musl
m:Natanael Copa <ncopa@alpinelinux.org>
t:1712000000
c:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa

C:Q1bbbbbbbbbbbbbbbbbbbbbbbbbbb=
P:libcrypto3
V:3.3.1-r0
A:x86_64
S:1700000
I:4600000
T:Crypto library from openssl
U:https://www.openssl.org/
L:Apache-2.0
o:openssl
m:Ariadne Conner <ariadne@dereferenced.org>
t:1712000000
c:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb

`

func alpineFiles() []F {
	return []F{
		{Path: "etc/os-release", Body: []byte("NAME=\"Alpine Linux\"\nID=alpine\nVERSION_ID=3.20.3\nPRETTY_NAME=\"Alpine Linux v3.20\"\n")},
		{Path: "lib/apk/db/installed", Body: []byte(alpineInstalled)},
	}
}

const packageLock = `{
  "name": "app",
  "version": "1.0.0",
  "lockfileVersion": 3,
  "requires": true,
  "packages": {
    "": {"name": "app", "version": "1.0.0", "dependencies": {"lodash": "^4.17.20"}},
    "node_modules/lodash": {"version": "4.17.20", "resolved": "https://registry.npmjs.org/lodash/-/lodash-4.17.20.tgz"}
  }
}
`

const pythonMetadata = "Metadata-Version: 2.1\nName: requests\nVersion: 2.25.0\nSummary: Python HTTP for Humans.\n"

const gemspec = `# -*- encoding: utf-8 -*-
Gem::Specification.new do |s|
  s.name = "rake".freeze
  s.version = "13.0.6"
end
`

// jar builds a Java archive holding a Maven pom.properties.
func jar(t testing.TB) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, err := zw.Create("META-INF/maven/org.example/demo/pom.properties")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("groupId=org.example\nartifactId=demo\nversion=1.2.3\n")); err != nil {
		t.Fatal(err)
	}
	m, err := zw.Create("META-INF/MANIFEST.MF")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Write([]byte("Manifest-Version: 1.0\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// goTextVersion is the golang.org/x/text version the test binary depends
// on: the oldest one whose source is in this machine's module cache.
const goTextVersion = "v0.41.0"

var (
	goBinaryOnce sync.Once
	goBinary     []byte
	goBinaryErr  error
)

// buildGoBinary builds a tiny program requiring golang.org/x/text from the
// module cache, offline, once per test run.
func buildGoBinary(t testing.TB) []byte {
	t.Helper()
	goBinaryOnce.Do(func() {
		dir, err := os.MkdirTemp("", "berth-gobin-")
		if err != nil {
			goBinaryErr = err
			return
		}
		defer os.RemoveAll(dir)
		files := map[string]string{
			"go.mod":  "module example.com/hello\n\ngo 1.22\n\nrequire golang.org/x/text " + goTextVersion + "\n",
			"main.go": "package main\n\nimport (\n\t\"fmt\"\n\n\t\"golang.org/x/text/language\"\n)\n\nfunc main() { fmt.Println(language.English) }\n",
		}
		for name, body := range files {
			if goBinaryErr = os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); goBinaryErr != nil {
				return
			}
		}
		cmd := exec.Command("go", "build", "-trimpath", "-o", "hello", ".")
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOPROXY=off", "GOSUMDB=off", "GOTOOLCHAIN=local", "CGO_ENABLED=0")
		out, err := cmd.CombinedOutput()
		if err != nil {
			goBinaryErr = err
			goBinary = out
			return
		}
		goBinary, goBinaryErr = os.ReadFile(filepath.Join(dir, "hello"))
	})
	if goBinaryErr != nil {
		if strings.Contains(string(goBinary), "module lookup disabled") {
			t.Skipf("golang.org/x/text %s is not in the module cache: %s", goTextVersion, goBinary)
		}
		t.Fatalf("build Go binary: %v\n%s", goBinaryErr, goBinary)
	}
	return goBinary
}

// rpmdb returns the SQLite rpmdb shipped in osv-scalibr's test data, from
// this machine's module cache.
func rpmdb(t testing.TB) []byte {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMODCACHE").Output()
	if err != nil {
		t.Skipf("go env GOMODCACHE: %v", err)
	}
	dir := strings.TrimSpace(string(out))
	return hostFile(t, filepath.Join(dir, "github.com/google/osv-scalibr@v0.5.3/extractor/filesystem/os/rpm/testdata/rpmdb.sqlite"))
}
