package sync_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/blob/filesystem"
	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/registry"
	vulnsync "github.com/berth-registry/berth/internal/vuln/sync"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// regEnv is a registry service over a real SQLite file and blob
// directory.
type regEnv struct {
	reg   *registry.Service
	vulns meta.VulnStore
}

func newRegEnv(t *testing.T) *regEnv {
	t.Helper()
	m := openStore(t)
	b, err := filesystem.New(filepath.Join(t.TempDir(), "storage"), filesystem.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return &regEnv{reg: registry.New(m, b, registry.Options{}), vulns: vulnStore(t, m)}
}

// layer is one layer of a pushed artifact.
type layer struct {
	mediaType string
	title     string
	data      []byte
}

// push pushes an artifact of layers to repo:tag and returns its digest.
func (e *regEnv) push(t *testing.T, repo, tag string, layers ...layer) digest.Digest {
	t.Helper()
	ctx := context.Background()
	put := func(data []byte) digest.Digest {
		d := digest.FromBytes(data)
		if _, err := e.reg.PutBlob(ctx, repo, d, bytes.NewReader(data)); err != nil {
			t.Fatalf("put blob: %v", err)
		}
		return d
	}
	put([]byte("{}"))
	m := v1.Manifest{
		Versioned:    specs.Versioned{SchemaVersion: 2},
		MediaType:    v1.MediaTypeImageManifest,
		ArtifactType: "application/vnd.berth.osv.v1",
		Config:       v1.DescriptorEmptyJSON,
	}
	for _, l := range layers {
		d := v1.Descriptor{MediaType: l.mediaType, Digest: put(l.data), Size: int64(len(l.data))}
		if l.title != "" {
			d.Annotations = map[string]string{v1.AnnotationTitle: l.title}
		}
		m.Layers = append(m.Layers, d)
	}
	body, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	res, err := e.reg.PutManifest(ctx, registry.ManifestPut{Repository: repo, Reference: tag, ContentType: v1.MediaTypeImageManifest, Body: body})
	if err != nil {
		t.Fatalf("put manifest: %v", err)
	}
	return res.Digest
}

// TestSyncArtifact pushes OSV data as an artifact, syncs, skips the same
// digest and imports a new version pushed to the same tag.
func TestSyncArtifact(t *testing.T) {
	ctx := context.Background()
	e := newRegEnv(t)
	recs := testdataRecords(t)
	n := int64(len(recs))
	const source = "oci:security/osv:latest"
	tmp := t.TempDir()
	s, err := vulnsync.New(vulnsync.Config{Store: e.vulns, Artifact: "security/osv:latest", Registry: e.reg, TempDir: tmp})
	if err != nil {
		t.Fatal(err)
	}
	fresh := record("BERTH-SYNC-2", time.Now())

	steps := []struct {
		name        string
		push        []layer // pushed to the tag before syncing, if any
		wantFetched bool
		wantChanged bool
		wantReports int
		wantRecords int64
	}{
		{
			name:        "first version",
			push:        []layer{{mediaType: "application/zip", data: zipOf(t, recs)}},
			wantFetched: true, wantChanged: true, wantReports: 1, wantRecords: n,
		},
		{name: "same digest is skipped", wantRecords: n},
		{
			name: "new version: a titled zip, a JSON record and a layer that is not OSV data",
			push: []layer{
				{mediaType: "application/vnd.oci.image.layer.v1.tar", title: "all.ZIP", data: zipOf(t, recs)},
				{mediaType: "application/vnd.osv+json", data: fresh},
				{mediaType: "text/plain", data: []byte("release notes")},
			},
			wantFetched: true, wantChanged: true, wantReports: 2, wantRecords: n + 1,
		},
		{name: "skipped again", wantRecords: n + 1},
		{
			name:        "the same data in a new manifest imports and changes nothing",
			push:        []layer{{mediaType: "application/json", data: fresh}},
			wantFetched: true, wantReports: 1, wantRecords: n + 1,
		},
	}
	for _, st := range steps {
		if st.push != nil {
			e.push(t, "security/osv", "latest", st.push...)
		}
		res, err := s.Sync(ctx)
		if err != nil {
			t.Fatalf("%s: Sync: %v", st.name, err)
		}
		got := res.Artifact
		if got.Source != source || got.Fetched != st.wantFetched || got.Changed != st.wantChanged || len(got.Reports) != st.wantReports {
			t.Errorf("%s: result %+v; want source %s, fetched %v, changed %v, %d reports",
				st.name, got, source, st.wantFetched, st.wantChanged, st.wantReports)
		}
		if c, ok := sourceRecords(t, e.vulns, source); !ok || c != st.wantRecords {
			t.Errorf("%s: source %s holds %d records (known %v); want %d", st.name, source, c, ok, st.wantRecords)
		}
		tempDirEmpty(t, tmp)
	}
	if r, err := e.vulns.VulnRecord(ctx, "BERTH-SYNC-2"); err != nil || r.ID != "BERTH-SYNC-2" {
		t.Errorf("VulnRecord(BERTH-SYNC-2) = %v, %v", r, err)
	}
}

// TestSyncArtifactErrors covers artifacts that cannot be synced; a failed
// sync is tried again the next time.
func TestSyncArtifactErrors(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name   string
		layers []layer // nil: push nothing
		max    int64
		class  error
		want   string
	}{
		{name: "no such tag", class: errdefs.ErrNotFound, want: "security/osv"},
		{name: "no OSV layer", layers: []layer{{mediaType: "text/plain", data: []byte("hi")}}, class: errdefs.ErrInvalid, want: "no OSV layer"},
		{name: "zip type but not a zip", layers: []layer{{mediaType: "application/zip", data: []byte("{}")}}, class: errdefs.ErrInvalid, want: "should be a zip archive"},
		{name: "layer too large", layers: []layer{{mediaType: "application/json", data: record("X-1", time.Now())}}, max: 10, class: errdefs.ErrTooLarge, want: "over the 10 B limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newRegEnv(t)
			if tt.layers != nil {
				e.push(t, "security/osv", "v1", tt.layers...)
			}
			s, err := vulnsync.New(vulnsync.Config{Store: e.vulns, Artifact: "security/osv:v1", Registry: e.reg, TempDir: t.TempDir(), MaxBytes: tt.max})
			if err != nil {
				t.Fatal(err)
			}
			for i := range 2 {
				res, err := s.Sync(ctx)
				if !errors.Is(err, tt.class) || !strings.Contains(err.Error(), tt.want) || !errors.Is(res.Artifact.Err, tt.class) || res.Changed() {
					t.Errorf("Sync #%d = %+v, %v; want %v saying %q", i+1, res.Artifact, err, tt.class, tt.want)
				}
			}
		})
	}
}

// TestSyncBothSources checks that a failing URL does not stop the
// artifact, and that the error names the failure.
func TestSyncBothSources(t *testing.T) {
	ctx := context.Background()
	e := newRegEnv(t)
	e.push(t, "security/osv", "v1", layer{mediaType: "application/zip", data: zipOf(t, testdataRecords(t))})
	base := newFeed(t, &feed{status: http.StatusInternalServerError})
	s, err := vulnsync.New(vulnsync.Config{Store: e.vulns, URL: base + "/all.zip", Artifact: "security/osv:v1", Registry: e.reg, TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.Sync(ctx)
	if err == nil || !strings.Contains(err.Error(), "500") || res.URL.Err == nil || res.Artifact.Err != nil {
		t.Errorf("Sync error = %v (url %v, artifact %v); want the URL's 500 only", err, res.URL.Err, res.Artifact.Err)
	}
	if !res.Artifact.Changed || res.URL.Changed || !res.Changed() {
		t.Errorf("Sync = %+v; want the artifact imported", res)
	}
}

func TestNew(t *testing.T) {
	vs := vulnStore(t, openStore(t))
	reg := newRegEnv(t).reg
	tests := []struct {
		name string
		cfg  vulnsync.Config
		want string // "" for success
	}{
		{"url", vulnsync.Config{Store: vs, URL: "https://example.com/all.zip"}, ""},
		{"artifact", vulnsync.Config{Store: vs, Artifact: "a/b:c", Registry: reg}, ""},
		{"no store", vulnsync.Config{URL: "https://example.com/all.zip"}, "no store"},
		{"no source", vulnsync.Config{Store: vs}, "no source"},
		{"bad scheme", vulnsync.Config{Store: vs, URL: "ftp://example.com/all.zip"}, "http:// or https://"},
		{"no host", vulnsync.Config{Store: vs, URL: "https:///all.zip"}, "http:// or https://"},
		{"unparsable URL hides credentials", vulnsync.Config{Store: vs, URL: "https://u:s3cret@exa mple.com/"}, "does not parse"},
		{"artifact without registry", vulnsync.Config{Store: vs, Artifact: "a/b:c"}, "without a registry"},
		{"artifact without tag", vulnsync.Config{Store: vs, Artifact: "a/b", Registry: reg}, "want repository:tag"},
		{"artifact by digest", vulnsync.Config{Store: vs, Artifact: "a/b@sha256:" + strings.Repeat("0", 64), Registry: reg}, "want repository:tag"},
		{"artifact bad repository", vulnsync.Config{Store: vs, Artifact: "A/B:c", Registry: reg}, "A/B"},
		{"artifact bad tag", vulnsync.Config{Store: vs, Artifact: "a/b:-x", Registry: reg}, "a/b:-x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := vulnsync.New(tt.cfg)
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("New: %v", err)
			case tt.want != "" && (err == nil || !errdefs.IsInvalid(err) || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("New = %v; want ErrInvalid saying %q", err, tt.want)
			case err != nil && strings.Contains(err.Error(), "s3cret"):
				t.Errorf("New error %q shows the URL's password", err)
			}
		})
	}
}

func TestParseArtifact(t *testing.T) {
	tests := []struct {
		in, repo, tag string
		ok            bool
	}{
		{"security/osv:latest", "security/osv", "latest", true},
		{"osv:2024-05-01", "osv", "2024-05-01", true},
		{"osv", "", "", false},
		{"osv:", "", "", false},
		{":latest", "", "", false},
	}
	for _, tt := range tests {
		repo, tag, err := vulnsync.ParseArtifact(tt.in)
		if (err == nil) != tt.ok || repo != tt.repo || tag != tt.tag {
			t.Errorf("ParseArtifact(%q) = %q, %q, %v; want %q, %q, ok %v", tt.in, repo, tag, err, tt.repo, tt.tag, tt.ok)
		}
	}
}
