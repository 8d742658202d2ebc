// Package inventory lists the packages installed in an image: it runs
// osv-scalibr's extractors (dpkg, apk, rpm, Go binaries, npm, Python, Java,
// Ruby, Rust) over the filesystem internal/scan/layers builds, identifies
// the OS from os-release, and returns vuln.Package values with OSV ecosystem
// names and package URLs, plus the image facts hygiene checks read.
//
// Only the extractor packages are imported, not scalibr's root package, which
// would pull in every plugin it has.
//
// Use a Scanner's Keep as (or inside) layers.Options.Keep so that Flatten
// keeps exactly the files the extractors will read, then call Scan; or call
// ScanImage to do both for every platform of an image.
package inventory

import (
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"sort"
	"strings"

	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/berth-registry/berth/internal/scan/layers"
	"github.com/berth-registry/berth/internal/vuln"
	cpb "github.com/google/osv-scalibr/binary/proto/config_go_proto"
	"github.com/google/osv-scalibr/extractor"
	"github.com/google/osv-scalibr/extractor/filesystem"
	"github.com/google/osv-scalibr/extractor/filesystem/language/golang/gobinary"
	"github.com/google/osv-scalibr/extractor/filesystem/language/java/archive"
	"github.com/google/osv-scalibr/extractor/filesystem/language/javascript/packagejson"
	"github.com/google/osv-scalibr/extractor/filesystem/language/javascript/packagelockjson"
	"github.com/google/osv-scalibr/extractor/filesystem/language/python/requirements"
	"github.com/google/osv-scalibr/extractor/filesystem/language/python/wheelegg"
	"github.com/google/osv-scalibr/extractor/filesystem/language/ruby/gemspec"
	"github.com/google/osv-scalibr/extractor/filesystem/language/rust/cargoauditable"
	"github.com/google/osv-scalibr/extractor/filesystem/os/apk"
	apkmeta "github.com/google/osv-scalibr/extractor/filesystem/os/apk/metadata"
	"github.com/google/osv-scalibr/extractor/filesystem/os/dpkg"
	dpkgmeta "github.com/google/osv-scalibr/extractor/filesystem/os/dpkg/metadata"
	"github.com/google/osv-scalibr/extractor/filesystem/os/rpm"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// Result is the inventory of one image (one platform).
type Result struct {
	// Manifest is the digest of the image manifest scanned.
	Manifest string `json:"manifest"`
	// Platform is "os/arch[/variant]", "" when unknown.
	Platform string `json:"platform,omitempty"`
	// OS is what os-release says; zero when the image has none.
	OS OS `json:"os"`
	// Packages are every package found, sorted by ecosystem, name, version
	// and location, without duplicates.
	Packages []vuln.Package `json:"packages"`
	// Facts are the image facts hygiene checks read.
	Facts Facts `json:"facts"`
	// Problems lists files an extractor failed on ("path: error"), sorted;
	// they do not fail the scan.
	Problems []string `json:"problems,omitempty"`
}

// Facts are what an image's config and size say about it.
type Facts struct {
	// User is the config's User ("" means root).
	User string `json:"user"`
	// CompressedSize is the stored size of manifest, config and layers.
	CompressedSize int64 `json:"compressedSize"`
	// UncompressedSize is the sum of the sizes of every file in every layer.
	UncompressedSize int64 `json:"uncompressedSize"`
	// Layers is the number of layers.
	Layers int `json:"layers"`
}

// Scanner runs a fixed set of extractors. It is safe for concurrent use.
type Scanner struct {
	extractors []filesystem.Extractor
}

// constructors are the extractors a Scanner runs, in order.
var constructors = []func(*cpb.PluginConfig) (filesystem.Extractor, error){
	dpkg.New, apk.New, rpm.New,
	gobinary.New, cargoauditable.New,
	packagelockjson.New, packagejson.New,
	wheelegg.New, requirements.New,
	archive.New, gemspec.New,
}

// New returns a Scanner with the default extractors.
func New() (*Scanner, error) {
	s := &Scanner{}
	for _, c := range constructors {
		e, err := c(&cpb.PluginConfig{})
		if err != nil {
			return nil, fmt.Errorf("create extractor: %w", err)
		}
		s.extractors = append(s.extractors, e)
	}
	return s, nil
}

// osReleasePaths are the files os-release(5) may live in.
var osReleasePaths = map[string]bool{"etc/os-release": true, "usr/lib/os-release": true}

// Keep reports whether some extractor (or OS detection) needs the content of
// the file at path; it fits layers.Options.Keep.
func (s *Scanner) Keep(path string, info fs.FileInfo) bool {
	if osReleasePaths[path] {
		return true
	}
	api := fileAPI{path: path, info: info}
	for _, e := range s.extractors {
		if e.FileRequired(api) {
			return true
		}
	}
	return false
}

// fileAPI is what FileRequired reads.
type fileAPI struct {
	path string
	info fs.FileInfo
}

func (f fileAPI) Path() string               { return f.path }
func (f fileAPI) Stat() (fs.FileInfo, error) { return f.info, nil }

// ScanImage scans every platform of the image or index desc: each is
// flattened with opts (its Keep is combined with the Scanner's), scanned and
// its temporary files removed before the next, so one platform at a time is
// on disk. Results follow the index order.
func (s *Scanner) ScanImage(ctx context.Context, open layers.BlobOpener, desc v1.Descriptor, opts layers.Options) ([]*Result, error) {
	descs, err := layers.Platforms(ctx, open, desc)
	if err != nil {
		return nil, err
	}
	if extra := opts.Keep; extra != nil {
		opts.Keep = func(p string, info fs.FileInfo) bool { return s.Keep(p, info) || extra(p, info) }
	} else {
		opts.Keep = s.Keep
	}
	out := make([]*Result, 0, len(descs))
	for _, d := range descs {
		res, err := s.scanOne(ctx, open, d, opts)
		if err != nil {
			return nil, err
		}
		out = append(out, res)
	}
	return out, nil
}

func (s *Scanner) scanOne(ctx context.Context, open layers.BlobOpener, desc v1.Descriptor, opts layers.Options) (*Result, error) {
	img, err := layers.Flatten(ctx, open, desc, opts)
	if err != nil {
		return nil, err
	}
	defer img.Close()
	return s.Scan(ctx, img)
}

// Scan lists the packages of a flattened image. Files the extractors want
// but Flatten did not keep are skipped (and named in Problems). Only
// cancellation fails the scan.
func (s *Scanner) Scan(ctx context.Context, img *layers.Image) (res *Result, err error) {
	defer errdefs.Wrapf(&err, "inventory of %s", img.Manifest.Digest)
	res = &Result{Manifest: img.Manifest.Digest.String(), OS: DetectOS(img.FS), Facts: Facts{
		User: img.Config.Config.User, CompressedSize: img.CompressedSize,
		UncompressedSize: img.UncompressedSize, Layers: len(img.Layers),
	}}
	if p := img.Platform; p != nil && p.OS != "" {
		res.Platform = strings.TrimSuffix(p.OS+"/"+p.Architecture+"/"+p.Variant, "/")
	}
	for _, p := range img.Skipped {
		res.Problems = append(res.Problems, p+": not kept (over the size caps)")
	}
	var pkgs []*extractor.Package
	err = fs.WalkDir(img.FS, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		found, problems := s.extractFile(ctx, img.FS, p, info)
		pkgs = append(pkgs, found...)
		res.Problems = append(res.Problems, problems...)
		return nil
	})
	if err != nil {
		return nil, err
	}
	res.Packages = convert(pkgs, res.OS)
	sort.Strings(res.Problems)
	return res, nil
}

// extractFile runs every extractor that wants path on it.
func (s *Scanner) extractFile(ctx context.Context, fsys *layers.FS, p string, info fs.FileInfo) ([]*extractor.Package, []string) {
	api := fileAPI{path: p, info: info}
	var pkgs []*extractor.Package
	var problems []string
	for _, e := range s.extractors {
		if !e.FileRequired(api) {
			continue
		}
		if !fsys.Kept(p) {
			continue // listed in Skipped already
		}
		f, err := fsys.Open(p)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %s: %v", p, e.Name(), err))
			continue
		}
		inv, err := e.Extract(ctx, &filesystem.ScanInput{FS: fsys, Path: p, Info: info, Reader: f})
		_ = f.Close()
		if err != nil {
			slog.DebugContext(ctx, "extractor failed", "extractor", e.Name(), "path", p, "err", err)
			problems = append(problems, fmt.Sprintf("%s: %s: %v", p, e.Name(), err))
		}
		for _, pkg := range inv.Packages {
			if pkg.Location.Descriptor == nil {
				loc := extractor.LocationFromPath(p)
				pkg.Location.Descriptor = loc.Descriptor
			}
			pkg.Plugins = append(pkg.Plugins, e.Name())
		}
		pkgs = append(pkgs, inv.Packages...)
	}
	return pkgs, problems
}

// convert turns scalibr packages into sorted, de-duplicated vuln.Packages.
func convert(pkgs []*extractor.Package, osInfo OS) []vuln.Package {
	seen := map[vuln.Package]bool{}
	out := make([]vuln.Package, 0, len(pkgs))
	for _, p := range pkgs {
		if p.Name == "" || p.Version == "" || p.Version == "(devel)" {
			continue // a main module built from a checkout has no version to match
		}
		v := vuln.Package{Name: p.Name, Version: p.Version, Ecosystem: p.Ecosystem().String(), Location: p.Location.PathOrEmpty()}
		if u := p.PURL(); u != nil {
			v.PURL = u.String()
		}
		if v.Ecosystem == "Go" && v.Name == "go" {
			// OSV files standard-library advisories under the module "stdlib".
			v.Name, v.PURL = "stdlib", "pkg:golang/stdlib@"+p.Version
		}
		switch m := p.Metadata.(type) {
		case *dpkgmeta.Metadata:
			if m.SourceName != "" && m.SourceName != p.Name {
				v.SourceName = m.SourceName
			}
			if osInfo.Ecosystem != "" && m.OSID == osInfo.ID {
				v.Ecosystem = osInfo.Ecosystem
			}
		case *apkmeta.Metadata:
			if m.OriginName != "" && m.OriginName != p.Name {
				v.SourceName = m.OriginName
			}
		}
		if seen[v] {
			continue
		}
		seen[v] = true
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Ecosystem != b.Ecosystem {
			return a.Ecosystem < b.Ecosystem
		}
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		if a.Version != b.Version {
			return a.Version < b.Version
		}
		return a.Location < b.Location
	})
	return out
}
