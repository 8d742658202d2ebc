package sbom_test

import (
	"bytes"
	"testing"
	"time"

	cdx "github.com/CycloneDX/cyclonedx-go"
	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/berth-registry/berth/internal/manifest"
	"github.com/berth-registry/berth/internal/scan/inventory"
	"github.com/berth-registry/berth/internal/scan/sbom"
	"github.com/berth-registry/berth/internal/vuln"
	"github.com/google/go-cmp/cmp"
	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
	spdxjson "github.com/spdx/tools-golang/json"
	"github.com/spdx/tools-golang/spdxlib"
)

var (
	created = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	subject = v1.Descriptor{MediaType: v1.MediaTypeImageIndex, Digest: digest.FromString("index"), Size: 500,
		Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}
	debian = inventory.OS{ID: "debian", VersionID: "12", PrettyName: "Debian GNU/Linux 12 (bookworm)", Ecosystem: "Debian:12"}
	libc   = vuln.Package{Ecosystem: "Debian:12", Name: "libc6", Version: "2.36-9+deb12u4", SourceName: "glibc",
		PURL: "pkg:deb/debian/libc6@2.36-9%2Bdeb12u4?arch=amd64&distro=bookworm", Location: "var/lib/dpkg/status"}
	lodash = vuln.Package{Ecosystem: "npm", Name: "lodash", Version: "4.17.20", PURL: "pkg:npm/lodash@4.17.20", Location: "app/package-lock.json"}
	text   = vuln.Package{Ecosystem: "Go", Name: "golang.org/x/text", Version: "0.3.7", PURL: "pkg:golang/golang.org/x/text@0.3.7", Location: "usr/bin/app"}
)

// input is an index of two platforms sharing libc6 and lodash; order
// shuffles the packages to check the output does not depend on it.
func input(order bool) sbom.Input {
	amd := []vuln.Package{libc, lodash, text}
	arm := []vuln.Package{lodash, libc}
	if order {
		amd = []vuln.Package{text, lodash, libc}
	}
	return sbom.Input{
		Repository: "team/app", Subject: subject, Created: created, ToolVersion: "0.9.0",
		Results: []*inventory.Result{
			{Platform: "linux/amd64", OS: debian, Packages: amd},
			{Platform: "linux/arm64", OS: debian, Packages: arm},
		},
	}
}

func TestCycloneDX(t *testing.T) {
	b, err := sbom.CycloneDX(input(false))
	if err != nil {
		t.Fatal(err)
	}
	again, err := sbom.CycloneDX(input(true))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, again) {
		t.Error("the same inventory in another order gives different bytes")
	}
	var bom cdx.BOM
	if err := cdx.NewBOMDecoder(bytes.NewReader(b), cdx.BOMFileFormatJSON).Decode(&bom); err != nil {
		t.Fatal(err)
	}
	if bom.SpecVersion != cdx.SpecVersion1_6 || bom.Metadata.Timestamp != "2026-11-23T12:00:00Z" {
		t.Errorf("spec %v, timestamp %q", bom.SpecVersion, bom.Metadata.Timestamp)
	}
	root := bom.Metadata.Component
	if root.Type != cdx.ComponentTypeContainer || root.Version != subject.Digest.String() ||
		root.PackageURL != "pkg:oci/app@"+subject.Digest.String()+"?repository_url=team%2Fapp" {
		t.Errorf("root component = %+v", root)
	}
	type comp struct{ Type, Name, Version, PURL, Platforms string }
	var got []comp
	for _, c := range *bom.Components {
		var platforms string
		if c.Properties != nil {
			for _, p := range *c.Properties {
				if p.Name == "berth:platform" {
					platforms = p.Value
				}
			}
		}
		got = append(got, comp{string(c.Type), c.Name, c.Version, c.PackageURL, platforms})
	}
	want := []comp{
		{"operating-system", "debian", "12", "", ""},
		{"library", "libc6", libc.Version, libc.PURL, "linux/amd64,linux/arm64"},
		{"library", "golang.org/x/text", "0.3.7", text.PURL, "linux/amd64"},
		{"library", "lodash", "4.17.20", lodash.PURL, "linux/amd64,linux/arm64"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("components (-want +got):\n%s", diff)
	}
	deps := *bom.Dependencies
	if len(deps) != 1 || deps[0].Ref != root.BOMRef || len(*deps[0].Dependencies) != 4 {
		t.Errorf("dependencies = %+v, want the image depending on all 4 components", deps)
	}
}

func TestSPDX(t *testing.T) {
	b, err := sbom.SPDX(input(false))
	if err != nil {
		t.Fatal(err)
	}
	again, _ := sbom.SPDX(input(true))
	if !bytes.Equal(b, again) {
		t.Error("the same inventory in another order gives different bytes")
	}
	doc, err := spdxjson.Read(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if err := spdxlib.ValidateDocument(doc); err != nil {
		t.Errorf("ValidateDocument: %v", err)
	}
	described, err := spdxlib.GetDescribedPackageIDs(doc)
	if err != nil || len(described) != 1 || described[0] != "Image" {
		t.Errorf("described = %v, %v; want [Image]", described, err)
	}
	if doc.SPDXVersion != "SPDX-2.3" || doc.CreationInfo.Created != "2026-11-23T12:00:00Z" ||
		doc.DocumentNamespace != "https://berth.invalid/spdx/team/app/"+subject.Digest.String() {
		t.Errorf("document header: %s %s %s", doc.SPDXVersion, doc.CreationInfo.Created, doc.DocumentNamespace)
	}
	var got []string
	for _, p := range doc.Packages {
		purl := ""
		if len(p.PackageExternalReferences) > 0 {
			purl = p.PackageExternalReferences[0].Locator
		}
		got = append(got, string(p.PackageSPDXIdentifier)+" "+p.PackageName+" "+p.PrimaryPackagePurpose+" "+purl)
	}
	want := []string{
		"Image team/app CONTAINER pkg:oci/app@" + subject.Digest.String() + "?repository_url=team%2Fapp",
		"OS-1 debian OPERATING-SYSTEM ",
		"Package-1 libc6 LIBRARY " + libc.PURL,
		"Package-2 golang.org/x/text LIBRARY " + text.PURL,
		"Package-3 lodash LIBRARY " + lodash.PURL,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("packages (-want +got):\n%s", diff)
	}
	if n := len(doc.Relationships); n != 5 {
		t.Errorf("%d relationships, want DESCRIBES + 4 CONTAINS", n)
	}
}

func TestInvalidInput(t *testing.T) {
	for name, in := range map[string]sbom.Input{
		"no repository": {Subject: subject},
		"bad digest":    {Repository: "a", Subject: v1.Descriptor{Digest: "sha256:nope"}},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := sbom.CycloneDX(in); !errdefs.IsInvalid(err) {
				t.Errorf("CycloneDX: %v, want invalid", err)
			}
			if _, err := sbom.SPDX(in); !errdefs.IsInvalid(err) {
				t.Errorf("SPDX: %v, want invalid", err)
			}
		})
	}
}

func TestReferrer(t *testing.T) {
	for _, mt := range []string{sbom.MediaTypeCycloneDX, sbom.MediaTypeSPDX} {
		t.Run(mt, func(t *testing.T) {
			doc := []byte(`{"sbom":true}`)
			a, err := sbom.Referrer(mt, doc, subject, created)
			if err != nil {
				t.Fatal(err)
			}
			m, err := manifest.Parse(a.Descriptor.MediaType, a.Manifest)
			if err != nil {
				t.Fatalf("the registry's parser refuses the manifest: %v", err)
			}
			if m.ArtifactType != mt || a.Descriptor.ArtifactType != mt {
				t.Errorf("artifactType = %q / %q, want %q", m.ArtifactType, a.Descriptor.ArtifactType, mt)
			}
			wantSubject := v1.Descriptor{MediaType: subject.MediaType, Digest: subject.Digest, Size: subject.Size}
			if diff := cmp.Diff(&wantSubject, m.Subject); diff != "" {
				t.Errorf("subject (-want +got):\n%s", diff)
			}
			if m.Config.MediaType != v1.MediaTypeEmptyJSON || len(m.Layers) != 1 || m.Layers[0].Digest != digest.FromBytes(doc) {
				t.Errorf("config %+v layers %+v: want the empty config and the SBOM as the one layer", m.Config, m.Layers)
			}
			if a.Descriptor.Digest != digest.FromBytes(a.Manifest) {
				t.Error("descriptor digest does not match the manifest bytes")
			}
			for _, b := range a.Blobs {
				if b.Descriptor.Digest != digest.FromBytes(b.Content) || b.Descriptor.Size != int64(len(b.Content)) {
					t.Errorf("blob %s does not match its content", b.Descriptor.Digest)
				}
			}
		})
	}
	if _, err := sbom.Referrer("text/plain", nil, subject, created); !errdefs.IsInvalid(err) {
		t.Errorf("Referrer(text/plain) = %v, want invalid", err)
	}
}
