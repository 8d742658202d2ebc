// Package sbom writes software bills of materials for a scanned image in
// CycloneDX 1.6 JSON (github.com/CycloneDX/cyclonedx-go) and SPDX 2.3 JSON
// (github.com/spdx/tools-golang), and wraps one as an OCI 1.1 referrer
// artifact of the image so that `oras discover` and similar tools find it.
//
// Output is deterministic: the same input gives the same bytes. Components
// are sorted, identifiers derive from the image digest and package order, and
// the creation time is passed in, never read from the clock.
package sbom

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/berth-registry/berth/internal/scan/inventory"
	"github.com/berth-registry/berth/internal/vuln"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/package-url/packageurl-go"
)

// Media types of the two formats, also used as the referrer's artifactType.
const (
	MediaTypeCycloneDX = "application/vnd.cyclonedx+json"
	MediaTypeSPDX      = "application/spdx+json"
)

// Input is what an SBOM describes.
type Input struct {
	// Repository is the image's repository ("team/app"); it names the root
	// component. Required.
	Repository string
	// Subject is the descriptor of the scanned image manifest or index; its
	// digest identifies the SBOM's subject. Required.
	Subject v1.Descriptor
	// Results are the inventories of the image's platforms.
	Results []*inventory.Result
	// Created is the document's creation time (UTC, second precision).
	Created time.Time
	// ToolVersion is Berth's version, recorded as the creating tool.
	ToolVersion string
	// Namespace is the URI prefix of SPDX document namespaces, typically the
	// registry's external URL; "" means "https://berth.invalid/spdx".
	Namespace string
}

func (in Input) validate() error {
	if in.Repository == "" {
		return errdefs.Invalid("sbom: repository is empty")
	}
	if err := in.Subject.Digest.Validate(); err != nil {
		return errdefs.Invalid("sbom: subject digest %q: %v", in.Subject.Digest, err)
	}
	return nil
}

// imagePURL is the package URL of the image itself.
func (in Input) imagePURL() string {
	name := in.Repository
	if i := strings.LastIndex(name, "/"); i >= 0 {
		name = name[i+1:]
	}
	q := packageurl.QualifiersFromMap(map[string]string{"repository_url": in.Repository})
	return packageurl.NewPackageURL("oci", "", name, in.Subject.Digest.String(), q, "").ToString()
}

// entry is one package of the image with the platforms it appears in.
type entry struct {
	pkg       vuln.Package
	platforms []string
}

// entries merges the packages of every platform: one entry per package and
// location, with the platforms sorted; entries sorted by ecosystem, name,
// version, location.
func entries(results []*inventory.Result) []entry {
	byKey := map[vuln.Package]*entry{}
	for _, r := range results {
		for _, p := range r.Packages {
			e := byKey[p]
			if e == nil {
				e = &entry{pkg: p}
				byKey[p] = e
			}
			if r.Platform != "" && !contains(e.platforms, r.Platform) {
				e.platforms = append(e.platforms, r.Platform)
			}
		}
	}
	out := make([]entry, 0, len(byKey))
	for _, e := range byKey {
		sort.Strings(e.platforms)
		out = append(out, *e)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i].pkg, out[j].pkg
		for _, c := range [][2]string{{a.Ecosystem, b.Ecosystem}, {a.Name, b.Name}, {a.Version, b.Version}, {a.Location, b.Location}, {a.PURL, b.PURL}} {
			if c[0] != c[1] {
				return c[0] < c[1]
			}
		}
		return false
	})
	return out
}

// operatingSystems lists the distinct OSes of the results, sorted.
func operatingSystems(results []*inventory.Result) []inventory.OS {
	seen := map[inventory.OS]bool{}
	var out []inventory.OS
	for _, r := range results {
		if r.OS.ID != "" && !seen[r.OS] {
			seen[r.OS] = true
			out = append(out, r.OS)
		}
	}
	sort.Slice(out, func(i, j int) bool { return fmt.Sprint(out[i]) < fmt.Sprint(out[j]) })
	return out
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func toolName(version string) string {
	if version == "" {
		return "berth"
	}
	return "berth-" + version
}
