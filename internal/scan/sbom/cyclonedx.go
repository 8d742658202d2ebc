package sbom

import (
	"bytes"
	"fmt"
	"strings"
	"time"

	cdx "github.com/CycloneDX/cyclonedx-go"
	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/google/uuid"
)

// serialNamespace derives the BOM serial number from the subject digest, so
// the same image gets the same serial.
var serialNamespace = uuid.MustParse("5b0e5d3e-8a46-4f3c-9a43-0d9c1b6c6b11")

// CycloneDX returns the CycloneDX 1.6 JSON document for in: the image as the
// metadata component (type container, its digest as version, a pkg:oci
// PURL), each OS as an operating-system component and each package as a
// library component with its PURL and properties "berth:ecosystem",
// "berth:location", "berth:platform" (comma-separated) and
// "berth:sourceName". Errors are errdefs.ErrInvalid for a bad Input.
func CycloneDX(in Input) (_ []byte, err error) {
	defer errdefs.Wrapf(&err, "cyclonedx sbom of %s", in.Subject.Digest)
	if err := in.validate(); err != nil {
		return nil, err
	}
	bom := cdx.NewBOM()
	bom.SerialNumber = "urn:uuid:" + uuid.NewSHA1(serialNamespace, []byte(in.Repository+"@"+in.Subject.Digest.String())).String()
	root := cdx.Component{
		BOMRef: "image", Type: cdx.ComponentTypeContainer, Name: in.Repository,
		Version: in.Subject.Digest.String(), PackageURL: in.imagePURL(),
	}
	bom.Metadata = &cdx.Metadata{
		Timestamp: in.Created.UTC().Truncate(time.Second).Format(time.RFC3339),
		Tools: &cdx.ToolsChoice{Components: &[]cdx.Component{{
			Type: cdx.ComponentTypeApplication, Name: "berth", Version: in.ToolVersion,
		}}},
		Component: &root,
	}
	var comps []cdx.Component
	var refs []string
	for i, o := range operatingSystems(in.Results) {
		ref := fmt.Sprintf("os-%d", i+1)
		comps = append(comps, cdx.Component{BOMRef: ref, Type: cdx.ComponentTypeOS, Name: o.ID, Version: o.VersionID,
			Description: o.PrettyName})
		refs = append(refs, ref)
	}
	for i, e := range entries(in.Results) {
		ref := fmt.Sprintf("pkg-%d", i+1)
		props := []cdx.Property{{Name: "berth:ecosystem", Value: e.pkg.Ecosystem}}
		if e.pkg.Location != "" {
			props = append(props, cdx.Property{Name: "berth:location", Value: e.pkg.Location})
		}
		if len(e.platforms) > 0 {
			props = append(props, cdx.Property{Name: "berth:platform", Value: strings.Join(e.platforms, ",")})
		}
		if e.pkg.SourceName != "" {
			props = append(props, cdx.Property{Name: "berth:sourceName", Value: e.pkg.SourceName})
		}
		comps = append(comps, cdx.Component{BOMRef: ref, Type: cdx.ComponentTypeLibrary, Name: e.pkg.Name,
			Version: e.pkg.Version, PackageURL: e.pkg.PURL, Properties: &props})
		refs = append(refs, ref)
	}
	bom.Components = &comps
	bom.Dependencies = &[]cdx.Dependency{{Ref: root.BOMRef, Dependencies: &refs}}
	var buf bytes.Buffer
	enc := cdx.NewBOMEncoder(&buf, cdx.BOMFileFormatJSON).SetPretty(true)
	if err := enc.EncodeVersion(bom, cdx.SpecVersion1_6); err != nil {
		return nil, fmt.Errorf("encode: %w", err)
	}
	return buf.Bytes(), nil
}
