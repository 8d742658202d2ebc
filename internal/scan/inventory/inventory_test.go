package inventory_test

import (
	"context"
	"strings"
	"testing"

	"github.com/berth-registry/berth/internal/scan/inventory"
	"github.com/berth-registry/berth/internal/scan/layers"
	"github.com/berth-registry/berth/internal/scan/layers/layertest"
	"github.com/berth-registry/berth/internal/vuln"
	"github.com/google/go-cmp/cmp"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

func newScanner(t testing.TB) *inventory.Scanner {
	t.Helper()
	s, err := inventory.New()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func scan(t *testing.T, st *layertest.Store, desc v1.Descriptor) []*inventory.Result {
	t.Helper()
	res, err := newScanner(t).ScanImage(context.Background(), st.Opener(), desc, layers.Options{TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// find returns the packages named name.
func find(pkgs []vuln.Package, name string) []vuln.Package {
	var out []vuln.Package
	for _, p := range pkgs {
		if p.Name == name {
			out = append(out, p)
		}
	}
	return out
}

func TestScanDebianHost(t *testing.T) {
	st := layertest.NewStore(t)
	desc := st.Image(t, v1.Image{}, st.Layer(t, layertest.Gzip, debianFiles(t)...))
	res := scan(t, st, desc)
	if len(res) != 1 {
		t.Fatalf("got %d results, want 1", len(res))
	}
	r := res[0]
	if r.OS.ID != "debian" || r.OS.Ecosystem != "Debian:"+r.OS.VersionID {
		t.Errorf("OS = %+v, want debian with ecosystem Debian:<version>", r.OS)
	}
	if len(r.Packages) < 50 {
		t.Errorf("found %d packages, want the host's whole dpkg list", len(r.Packages))
	}
	version := hostPackageVersion(t, "dpkg")
	want := []vuln.Package{{
		Ecosystem: r.OS.Ecosystem, Name: "dpkg", Version: version,
		PURL:     "pkg:deb/debian/dpkg@" + version + "?arch=amd64&distro=" + "bookworm",
		Location: "var/lib/dpkg/status",
	}}
	got := find(r.Packages, "dpkg")
	if len(got) == 1 && !strings.Contains(got[0].PURL, "distro=") {
		t.Errorf("PURL %q has no distro qualifier", got[0].PURL)
	}
	if diff := cmp.Diff(want, got, cmp.FilterPath(func(p cmp.Path) bool { return p.Last().String() == ".PURL" }, cmp.Ignore())); diff != "" {
		t.Errorf("dpkg package (-want +got):\n%s", diff)
	}
	if libc := find(r.Packages, "libc6"); len(libc) != 1 || libc[0].SourceName != "glibc" {
		t.Errorf("libc6 = %+v, want one package with source glibc", libc)
	}
}

func TestScanEcosystems(t *testing.T) {
	st := layertest.NewStore(t)
	app := st.Layer(t, layertest.Gzip,
		F{Path: "app/package-lock.json", Body: []byte(packageLock)},
		F{Path: "app/requirements.txt", Body: []byte("flask==2.0.1\n")},
		F{Path: "srv/node_modules/minimist/package.json", Body: []byte(`{"name": "minimist", "version": "1.2.5"}`)},
		F{Path: "usr/lib/python3/dist-packages/requests-2.25.0.dist-info/METADATA", Body: []byte(pythonMetadata)},
		F{Path: "opt/demo.jar", Body: jar(t)},
		F{Path: "usr/lib/ruby/gems/3.1.0/specifications/rake-13.0.6.gemspec", Body: []byte(gemspec)},
		F{Path: "usr/local/bin/hello", Body: buildGoBinary(t), Mode: 0o755},
	)
	desc := st.Image(t, v1.Image{}, st.Layer(t, layertest.Gzip, alpineFiles()...), app)
	r := scan(t, st, desc)[0]
	if r.OS.Ecosystem != "Alpine:v3.20" {
		t.Errorf("OS ecosystem = %q, want Alpine:v3.20", r.OS.Ecosystem)
	}
	tests := []struct {
		name, ecosystem, version, purlPrefix, location, source string
	}{
		{"musl", "Alpine:v3.20", "1.2.5-r0", "pkg:apk/alpine/musl@1.2.5-r0", "lib/apk/db/installed", ""},
		{"libcrypto3", "Alpine:v3.20", "3.3.1-r0", "pkg:apk/alpine/libcrypto3@3.3.1-r0", "lib/apk/db/installed", "openssl"},
		{"lodash", "npm", "4.17.20", "pkg:npm/lodash@4.17.20", "app/package-lock.json", ""},
		{"minimist", "npm", "1.2.5", "pkg:npm/minimist@1.2.5", "srv/node_modules/minimist/package.json", ""},
		{"flask", "PyPI", "2.0.1", "pkg:pypi/flask@2.0.1", "app/requirements.txt", ""},
		{"requests", "PyPI", "2.25.0", "pkg:pypi/requests@2.25.0", "usr/lib/python3/dist-packages/requests-2.25.0.dist-info/METADATA", ""},
		{"org.example:demo", "Maven", "1.2.3", "pkg:maven/org.example/demo@1.2.3", "opt/demo.jar", ""},
		{"rake", "RubyGems", "13.0.6", "pkg:gem/rake@13.0.6", "usr/lib/ruby/gems/3.1.0/specifications/rake-13.0.6.gemspec", ""},
		{"golang.org/x/text", "Go", strings.TrimPrefix(goTextVersion, "v"), "pkg:golang/golang.org/x/text@" + strings.TrimPrefix(goTextVersion, "v"), "usr/local/bin/hello", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := find(r.Packages, tt.name)
			if len(got) == 0 {
				t.Fatalf("%s not found in %+v", tt.name, r.Packages)
			}
			p := got[0]
			if p.Ecosystem != tt.ecosystem || p.Version != tt.version || p.Location != tt.location || p.SourceName != tt.source {
				t.Errorf("got %+v, want ecosystem %s version %s location %s source %q", p, tt.ecosystem, tt.version, tt.location, tt.source)
			}
			if !strings.HasPrefix(p.PURL, tt.purlPrefix) {
				t.Errorf("PURL = %q, want prefix %q", p.PURL, tt.purlPrefix)
			}
		})
	}
	if len(find(r.Packages, "stdlib")) != 1 {
		t.Errorf("the Go binary's stdlib is not listed: %+v", r.Packages)
	}
}

func TestScanRPM(t *testing.T) {
	st := layertest.NewStore(t)
	desc := st.Image(t, v1.Image{}, st.Layer(t, layertest.Gzip,
		F{Path: "etc/os-release", Body: []byte("ID=\"rocky\"\nVERSION_ID=\"9.3\"\nPRETTY_NAME=\"Rocky Linux 9.3\"\n")},
		F{Path: "var/lib/rpm/rpmdb.sqlite", Body: rpmdb(t)},
	))
	r := scan(t, st, desc)[0]
	if r.OS.Ecosystem != "Rocky Linux:9" {
		t.Errorf("OS ecosystem = %q, want Rocky Linux:9", r.OS.Ecosystem)
	}
	if len(r.Packages) < 10 {
		t.Fatalf("found %d rpm packages in the SQLite rpmdb, want many; problems: %v", len(r.Packages), r.Problems)
	}
	for _, p := range r.Packages {
		if !strings.HasPrefix(p.PURL, "pkg:rpm/") || p.Location != "var/lib/rpm/rpmdb.sqlite" {
			t.Fatalf("package %+v: want an rpm PURL and the rpmdb location", p)
		}
	}
}

func TestScanWhiteoutHidesPackages(t *testing.T) {
	st := layertest.NewStore(t)
	l1 := st.Layer(t, layertest.Gzip,
		F{Path: "app/package-lock.json", Body: []byte(packageLock)},
		F{Path: "srv/requests-2.25.0.dist-info/METADATA", Body: []byte(pythonMetadata)},
	)
	l2 := st.Layer(t, layertest.Zstd, layertest.Whiteout("app/package-lock.json"), layertest.Opaque("srv"))
	r := scan(t, st, st.Image(t, v1.Image{Config: v1.ImageConfig{User: "app"}}, l1, l2))[0]
	if len(r.Packages) != 0 {
		t.Errorf("packages deleted by an upper layer are reported: %+v", r.Packages)
	}
	if r.Facts.User != "app" || r.Facts.Layers != 2 || r.Facts.CompressedSize <= 0 {
		t.Errorf("facts = %+v", r.Facts)
	}
}

func TestScanIndexEveryPlatform(t *testing.T) {
	st := layertest.NewStore(t)
	amd := st.Image(t, v1.Image{Platform: v1.Platform{OS: "linux", Architecture: "amd64"}},
		st.Layer(t, layertest.Gzip, F{Path: "app/package-lock.json", Body: []byte(packageLock)}))
	arm := st.Image(t, v1.Image{Platform: v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}},
		st.Layer(t, layertest.Gzip, alpineFiles()...))
	res := scan(t, st, st.Index(t, amd, arm))
	var got []string
	for _, r := range res {
		for _, p := range r.Packages {
			got = append(got, r.Platform+" "+p.Ecosystem+" "+p.Name)
		}
	}
	want := []string{"linux/amd64 npm lodash", "linux/arm64/v8 Alpine:v3.20 libcrypto3", "linux/arm64/v8 Alpine:v3.20 musl"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("packages per platform (-want +got):\n%s", diff)
	}
}

func TestEcosystem(t *testing.T) {
	tests := []struct{ id, versionID, version, want string }{
		{"debian", "12", "12 (bookworm)", "Debian:12"},
		{"debian", "", "", "Debian"},
		{"ubuntu", "22.04", "22.04.4 LTS (Jammy Jellyfish)", "Ubuntu:22.04:LTS"},
		{"ubuntu", "23.10", "23.10 (Mantic Minotaur)", "Ubuntu:23.10"},
		{"alpine", "3.20.3", "", "Alpine:v3.20"},
		{"rocky", "9.3", "", "Rocky Linux:9"},
		{"almalinux", "8.10", "", "AlmaLinux:8"},
		{"rhel", "9.4", "", "Red Hat"},
		{"plan9", "4", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.id+tt.versionID, func(t *testing.T) {
			if got := inventory.Ecosystem(tt.id, tt.versionID, tt.version); got != tt.want {
				t.Errorf("Ecosystem(%q, %q) = %q, want %q", tt.id, tt.versionID, got, tt.want)
			}
		})
	}
}
