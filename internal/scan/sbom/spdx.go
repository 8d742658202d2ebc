package sbom

import (
	"bytes"
	"fmt"
	"strings"
	"time"

	"github.com/berth-registry/berth/internal/errdefs"
	spdxjson "github.com/spdx/tools-golang/json"
	"github.com/spdx/tools-golang/spdx/v2/common"
	spdx "github.com/spdx/tools-golang/spdx/v2/v2_3"
)

const noAssertion = "NOASSERTION"

// SPDX returns the SPDX 2.3 JSON document for in: the image is the package
// SPDXRef-Image (purpose CONTAINER, its digest as version, a pkg:oci PURL)
// the document DESCRIBES, and it CONTAINS one package per inventory package
// (SPDXRef-Package-N in sorted order) with its PURL as a PACKAGE-MANAGER
// external reference; location and platforms are in the package comment.
// The namespace is Input.Namespace + "/" + repository + "/" + digest.
// Errors are errdefs.ErrInvalid for a bad Input.
func SPDX(in Input) (_ []byte, err error) {
	defer errdefs.Wrapf(&err, "spdx sbom of %s", in.Subject.Digest)
	if err := in.validate(); err != nil {
		return nil, err
	}
	ns := in.Namespace
	if ns == "" {
		ns = "https://berth.invalid/spdx"
	}
	doc := &spdx.Document{
		SPDXVersion: spdx.Version, DataLicense: spdx.DataLicense, SPDXIdentifier: "DOCUMENT",
		DocumentName:      in.Repository + "@" + in.Subject.Digest.String(),
		DocumentNamespace: strings.TrimSuffix(ns, "/") + "/" + in.Repository + "/" + in.Subject.Digest.String(),
		CreationInfo: &spdx.CreationInfo{
			Creators: []common.Creator{{CreatorType: "Tool", Creator: toolName(in.ToolVersion)}},
			Created:  in.Created.UTC().Truncate(time.Second).Format(time.RFC3339),
		},
	}
	image := &spdx.Package{
		PackageName: in.Repository, PackageSPDXIdentifier: "Image", PackageVersion: in.Subject.Digest.String(),
		PackageDownloadLocation: noAssertion, PrimaryPackagePurpose: "CONTAINER",
		PackageExternalReferences: []*spdx.PackageExternalReference{{Category: "PACKAGE-MANAGER", RefType: "purl", Locator: in.imagePURL()}},
	}
	doc.Packages = append(doc.Packages, image)
	doc.Relationships = append(doc.Relationships, &spdx.Relationship{
		RefA: common.MakeDocElementID("", "DOCUMENT"), RefB: common.MakeDocElementID("", "Image"), Relationship: "DESCRIBES",
	})
	for i, o := range operatingSystems(in.Results) {
		id := common.ElementID(fmt.Sprintf("OS-%d", i+1))
		doc.Packages = append(doc.Packages, &spdx.Package{
			PackageName: o.ID, PackageSPDXIdentifier: id, PackageVersion: o.VersionID, PackageDownloadLocation: noAssertion,
			PrimaryPackagePurpose: "OPERATING-SYSTEM", PackageDescription: o.PrettyName,
		})
		doc.Relationships = append(doc.Relationships, contains2("Image", id))
	}
	for i, e := range entries(in.Results) {
		id := common.ElementID(fmt.Sprintf("Package-%d", i+1))
		p := &spdx.Package{
			PackageName: e.pkg.Name, PackageSPDXIdentifier: id, PackageVersion: e.pkg.Version,
			PackageDownloadLocation: noAssertion, PrimaryPackagePurpose: "LIBRARY",
			PackageComment: packageComment(e),
		}
		if e.pkg.PURL != "" {
			p.PackageExternalReferences = []*spdx.PackageExternalReference{{Category: "PACKAGE-MANAGER", RefType: "purl", Locator: e.pkg.PURL}}
		}
		if e.pkg.SourceName != "" {
			p.PackageSourceInfo = "built from source package " + e.pkg.SourceName
		}
		doc.Packages = append(doc.Packages, p)
		doc.Relationships = append(doc.Relationships, contains2("Image", id))
	}
	var buf bytes.Buffer
	if err := spdxjson.Write(doc, &buf, spdxjson.Indent("  ")); err != nil {
		return nil, fmt.Errorf("encode: %w", err)
	}
	return buf.Bytes(), nil
}

func contains2(a, b common.ElementID) *spdx.Relationship {
	return &spdx.Relationship{RefA: common.MakeDocElementID("", string(a)), RefB: common.MakeDocElementID("", string(b)), Relationship: "CONTAINS"}
}

func packageComment(e entry) string {
	parts := []string{"ecosystem: " + e.pkg.Ecosystem}
	if e.pkg.Location != "" {
		parts = append(parts, "location: "+e.pkg.Location)
	}
	if len(e.platforms) > 0 {
		parts = append(parts, "platforms: "+strings.Join(e.platforms, ","))
	}
	return strings.Join(parts, "; ")
}
