package manifest

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

func TestRequiredBlobsAndChildren(t *testing.T) {
	cfg := descOf(digest.SHA256, mtImageConfig, []byte("config"))
	l1 := descOf(digest.SHA256, mtLayerGzip, []byte("one"))
	l2 := descOf(digest.SHA512, mtLayerTar, []byte("two"))
	foreign := func(mt string) v1.Descriptor { return descOf(digest.SHA256, mt, []byte(mt)) }
	m1 := descOf(digest.SHA256, MediaTypeImageManifest, []byte("m1"))
	m2 := descOf(digest.SHA256, MediaTypeImageIndex, []byte("m2"))
	m1arm := m1
	m1arm.Platform = &v1.Platform{OS: "linux", Architecture: "arm64"}

	tests := []struct {
		name         string
		m            Manifest
		wantBlobs    []v1.Descriptor
		wantChildren []v1.Descriptor
	}{
		{
			name:      "config then layers in order",
			m:         Manifest{MediaType: MediaTypeImageManifest, Config: &cfg, Layers: []v1.Descriptor{l1, l2}},
			wantBlobs: []v1.Descriptor{cfg, l1, l2},
		},
		{
			name: "non-distributable layers excluded",
			m: Manifest{MediaType: MediaTypeImageManifest, Config: &cfg, Layers: []v1.Descriptor{
				foreign(MediaTypeLayerNonDistributable), l1,
				foreign(MediaTypeLayerNonDistributableGzip),
				foreign(MediaTypeLayerNonDistributableZstd),
				foreign(MediaTypeDockerForeignLayer),
			}},
			wantBlobs: []v1.Descriptor{cfg, l1},
		},
		{
			name:      "duplicates appear once at first position",
			m:         Manifest{MediaType: MediaTypeDockerManifest, Config: &l1, Layers: []v1.Descriptor{l2, l1, l2}},
			wantBlobs: []v1.Descriptor{l1, l2},
		},
		{
			name: "image without layers needs its config",
			m:    Manifest{MediaType: MediaTypeImageManifest, Config: &cfg}, wantBlobs: []v1.Descriptor{cfg},
		},
		{
			name:         "index children deduplicated",
			m:            Manifest{MediaType: MediaTypeImageIndex, Manifests: []v1.Descriptor{m1, m2, m1arm}},
			wantChildren: []v1.Descriptor{m1, m2},
		},
		{name: "empty index", m: Manifest{MediaType: MediaTypeImageIndex}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := cloneManifest(tt.m)
			if diff := cmp.Diff(tt.wantBlobs, tt.m.RequiredBlobs()); diff != "" {
				t.Errorf("RequiredBlobs (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantChildren, tt.m.Children()); diff != "" {
				t.Errorf("Children (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(before, tt.m); diff != "" {
				t.Errorf("methods modified the manifest (-before +after):\n%s", diff)
			}
		})
	}
}

func cloneManifest(m Manifest) Manifest {
	m.Layers = append([]v1.Descriptor(nil), m.Layers...)
	m.Manifests = append([]v1.Descriptor(nil), m.Manifests...)
	return m
}

func TestMediaTypePredicates(t *testing.T) {
	tests := []struct {
		mt                       string
		manifest, index, nondist bool
	}{
		{MediaTypeImageManifest, true, false, false},
		{MediaTypeImageIndex, true, true, false},
		{MediaTypeDockerManifest, true, false, false},
		{MediaTypeDockerManifestList, true, true, false},
		{MediaTypeDockerSchema1, false, false, false},
		{MediaTypeDockerSchema1Signed, false, false, false},
		{MediaTypeImageManifest + "; charset=utf-8", false, false, false},
		{strings.ToUpper(MediaTypeImageManifest), false, false, false},
		{MediaTypeEmptyJSON, false, false, false},
		{MediaTypeLayerNonDistributable, false, false, true},
		{MediaTypeLayerNonDistributableGzip, false, false, true},
		{MediaTypeLayerNonDistributableZstd, false, false, true},
		{MediaTypeDockerForeignLayer, false, false, true},
		{mtLayerGzip, false, false, false},
		{"", false, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.mt, func(t *testing.T) {
			if got := IsManifestMediaType(tt.mt); got != tt.manifest {
				t.Errorf("IsManifestMediaType = %v, want %v", got, tt.manifest)
			}
			if got := (&Manifest{MediaType: tt.mt}).IsIndex(); got != tt.index {
				t.Errorf("IsIndex = %v, want %v", got, tt.index)
			}
			if got := IsNonDistributable(tt.mt); got != tt.nondist {
				t.Errorf("IsNonDistributable = %v, want %v", got, tt.nondist)
			}
		})
	}
}

func TestValidMediaType(t *testing.T) {
	long := strings.Repeat("a", 127)
	tests := []struct {
		mt   string
		want bool
	}{
		{MediaTypeImageManifest, true},
		{"application/vnd.example.oci.conformance.v1", true},
		{"A/B", true},
		{"x/y!#$&^_.+-", true},
		{long + "/" + long, true},
		{long + "a/b", false},
		{"a/" + long + "a", false},
		{"", false},
		{"application", false},
		{"application/", false},
		{"/json", false},
		{"a/b/c", false},
		{"-a/b", false},
		{"a/.b", false},
		{"application/json; charset=utf-8", false},
		{"application/json ", false},
		{"appl ication/json", false},
		{"application/jsön", false},
	}
	for _, tt := range tests {
		if got := validMediaType(tt.mt); got != tt.want {
			t.Errorf("validMediaType(%q) = %v, want %v", tt.mt, got, tt.want)
		}
	}
}

// TestCheckDigest checks checkDigest against go-digest's own validation,
// restricted to sha256 and sha512.
func TestCheckDigest(t *testing.T) {
	tests := []struct {
		d    string
		want bool
	}{
		{dgA, true},
		{dg512, true},
		{digest.SHA384.FromString("a").String(), false},
		{"", false},
		{"sha256", false},
		{"sha256:", false},
		{":" + dgA[7:], false},
		{dgA + "0", false},
		{dgA[:len(dgA)-1], false},
		{dgA[:7] + strings.ToUpper(dgA[7:]), false},
		{"SHA256" + dgA[6:], false},
		{"sha256:" + strings.Repeat("g", 64), false},
		{"sha512:" + strings.Repeat("0", 64), false},
		{"md5:d41d8cd98f00b204e9800998ecf8427e", false},
		{"multihash+base58:QmRZxt2b1FVZPNqd8hsiykDL3TdBDeTSPX9Kv46HmX4Gx8", false},
		{"sha256:" + strings.Repeat("0", 32) + ":" + strings.Repeat("0", 31), false},
	}
	for _, tt := range tests {
		t.Run(tt.d, func(t *testing.T) {
			why := checkDigest(tt.d)
			if got := why == ""; got != tt.want {
				t.Errorf("checkDigest(%q) = %q, want valid=%v", tt.d, why, tt.want)
			}
			if why == "" {
				if _, err := digest.Parse(tt.d); err != nil {
					t.Errorf("checkDigest accepted %q but digest.Parse says %v", tt.d, err)
				}
			}
		})
	}
}

func TestContentTypeBase(t *testing.T) {
	tests := map[string]string{
		"":                           "",
		"application/json":           "application/json",
		" application/json ; q=1":    "application/json",
		"a/b;":                       "a/b",
		";a/b":                       "",
		MediaTypeImageIndex + "\t; ": MediaTypeImageIndex,
	}
	for in, want := range tests {
		if got := contentTypeBase(in); got != want {
			t.Errorf("contentTypeBase(%q) = %q, want %q", in, got, want)
		}
	}
}
