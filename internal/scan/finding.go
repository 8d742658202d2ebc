// Package scan holds what Berth's image scanners share. Its subpackages do the
// work: layers flattens an image, inventory lists its packages, sbom writes
// CycloneDX and SPDX documents, secrets and hygiene report findings beyond
// CVEs in the one shape defined here.
package scan

import "github.com/berth-registry/berth/internal/vuln"

// Kinds of Finding.
const (
	// KindSecret is a credential left in a layer.
	KindSecret = "secret"
	// KindHygiene is an image build practice policies may act on.
	KindHygiene = "hygiene"
)

// Finding is one non-vulnerability finding about an image: a secret left in
// a layer or a hygiene problem. It never carries a secret's value.
type Finding struct {
	// Kind is KindSecret or KindHygiene.
	Kind string `json:"kind"`
	// Rule is the stable id of the rule that fired ("aws-access-key-id",
	// "runs-as-root", …); policies key on it.
	Rule string `json:"rule"`
	// Severity is how bad the rule considers it.
	Severity vuln.Severity `json:"severity"`
	// Title is a one-line description for people.
	Title string `json:"title"`
	// Layer is the digest of the layer holding the file, for secrets.
	Layer string `json:"layer,omitempty"`
	// Path is the file's path in the image (no leading slash), for secrets.
	Path string `json:"path,omitempty"`
	// Line is the 1-based line of the match, 0 when not applicable.
	Line int `json:"line,omitempty"`
	// Fingerprint identifies a secret without revealing it: at most its
	// first four characters (a public prefix such as "AKIA" or "ghp_") and
	// the first 12 hex digits of its SHA-256 ("AKIA…#3f9a1c2b7d4e"). Two
	// findings of the same secret share it.
	Fingerprint string `json:"fingerprint,omitempty"`
}
