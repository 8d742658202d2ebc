// Package retention decides which tags and untagged manifests a project's
// retention policy removes. It is pure: Evaluate takes a snapshot of one
// repository (tags, manifests, the edges between them) and a policy, and
// returns a Plan that says, for every tag and untagged manifest, whether it
// goes and which rule decided. Loading snapshots from the metadata store,
// carrying a plan out, scheduling runs and keeping deleted tags restorable
// belong to the executor (package retention/run), never to this package.
//
// # Grammar
//
// A Policy is a superset of ECR's lifecycle policies and of Harbor's tag
// retention rules. Each Rule has a priority (lower first, as ECR's
// rulePriority), a repository scope (patterns of package policy's grammar,
// relative to the project, '!' marking exclusions), a Selection (tag status
// tagged/untagged/any; tag prefix, wildcard and regular-expression lists,
// each with an exclude counterpart) and a count criterion. Its Action is
// either "expire" (ECR: the rule claims every unit it selects and expires
// those its criterion names) or "retain" (Harbor: the rule keeps the units
// its criterion names; everything else its scope and selection take that
// no rule keeps goes). Unlike Harbor, a unit a retain rule's selection does
// not take is outside that rule's scope: to remove "everything else" as
// Harbor does, end the policy with an expire rule of countType "always".
//
// # Semantics
//
// The unit of decision is a tag (repository, tag name) and, for untagged
// rules, an untagged manifest that no other manifest of the repository
// refers to (an untagged child of an index or an untagged referrer is no
// unit: it follows what refers to it). A cosign-style tag whose subject is
// in the repository is no unit either: it follows its subject (below).
// Each rule's criterion is computed over every unit its scope and
// selection take, whatever earlier rules decided (as ECR and Harbor do:
// retain rules are independent, and their union is kept). For each unit
// the rules are then walked in priority order:
//
//   - an expire rule whose scope and selection match the unit decides it:
//     expired if its criterion says so, else kept; later rules never see it
//     (ECR: "an image that matches the tagging requirements of a rule cannot
//     be expired by a rule with a lower priority");
//   - a retain rule whose scope and selection match keeps the unit if its
//     criterion does (decided); if not, the unit is marked as being in a
//     retain scope and the walk goes on;
//   - a unit no rule decided is expired if it was in the scope of a retain
//     rule (Harbor: what no rule retains goes; Decision.Rule names the first
//     such retain rule), else kept.
//
// Count criteria compare ages: a tag's age runs from the later of when it
// was last set (TagInfo.SetAt; a promotion sets it, so promotion resets
// age) and when its manifest was pushed; "since pulled" uses the later of
// the manifest's last pull and that age (a push or promotion counts as a
// use; a never pulled unit falls back to its push age). "More than N" and
// "most recent N" count distinct manifests, not tags: the N newest digests
// among the units the rule selected keep all their selected tags (ties
// broken by digest, so plans are deterministic).
//
// Whatever the rules say, these are always kept, with the reason given:
// an immutable tag (Options.Immutable); a tag whose name is a cosign-style
// pointer to a subject (sha256-<hex>.sig/.att/.sbom) while its subject
// stays (it goes when its subject goes, unless immutable); a manifest a
// kept tag points at; a child of a kept index; a referrer (signature, SBOM,
// attestation) of a kept manifest. A manifest goes only when no kept tag,
// kept index or kept subject refers to it; the untagged children and
// referrers of a manifest that goes, go with it, recursively, unless
// something kept still refers to them (a child shared with a kept index
// stays).
package retention

import (
	"time"

	"github.com/opencontainers/go-digest"
)

// Action is what a rule does with the units it selects.
type Action string

const (
	// Expire (ECR) claims the units the rule selects and removes those its
	// criterion names.
	Expire Action = "expire"
	// Retain (Harbor) keeps the units its criterion names; units in its
	// scope that no rule keeps are removed.
	Retain Action = "retain"
)

// TagStatus says which units a selection considers.
type TagStatus string

const (
	// Tagged selects tags (matching the tag lists).
	Tagged TagStatus = "tagged"
	// Untagged selects untagged manifests (the tag lists must be empty).
	Untagged TagStatus = "untagged"
	// Any selects tags and untagged manifests (the tag lists must be
	// empty, as in ECR).
	Any TagStatus = "any"
)

// CountType is a rule's criterion. The ECR names are kept verbatim.
type CountType string

const (
	// CountMoreThan (ECR imageCountMoreThan) expires all but the
	// CountNumber newest manifests selected; with Retain it keeps them.
	CountMoreThan CountType = "imageCountMoreThan"
	// SincePushed (ECR sinceImagePushed) expires units older than
	// CountNumber days; with Retain it keeps those younger (Harbor
	// "pushed within the last N days").
	SincePushed CountType = "sinceImagePushed"
	// SincePulled expires units not pulled for CountNumber days; with
	// Retain it keeps those pulled within them (Harbor "pulled within").
	SincePulled CountType = "sinceImagePulled"
	// MostRecentlyPulled (Harbor) with Retain keeps the CountNumber most
	// recently pulled manifests; with Expire it expires the others.
	MostRecentlyPulled CountType = "mostRecentlyPulled"
	// Always (Harbor "retain always") keeps (Retain) or expires (Expire)
	// every selected unit; CountNumber is ignored.
	Always CountType = "always"
)

// Policy is a project's retention policy.
type Policy struct {
	// Rules are evaluated in Priority order; priorities are unique.
	Rules []Rule `json:"rules"`
}

// Rule is one retention rule.
type Rule struct {
	// Priority orders rules, lowest first (ECR rulePriority); unique and
	// positive.
	Priority    int    `json:"rulePriority"`
	Description string `json:"description,omitempty"`
	// Repositories are repository patterns relative to the project, '!'
	// marking exclusions (package policy's grammar); empty means every
	// repository of the project.
	Repositories []string  `json:"repositories,omitempty"`
	Selection    Selection `json:"selection"`
	// Action defaults to Expire when empty. In JSON it is a string
	// ("expire", "retain") or ECR's object form {"type": "expire"}, so an
	// ECR lifecycle policy can be pasted as is.
	Action Action `json:"action,omitempty"`
}

// Selection chooses the units a rule considers and its criterion.
type Selection struct {
	TagStatus TagStatus `json:"tagStatus"`
	// TagPrefixList, TagPatternList (wildcards: '*' any run, '?' one
	// character) and TagRegexList (RE2, anchored) include a tag when any
	// entry of any non-empty list matches; with all three empty every tag
	// is included (tagStatus tagged only).
	TagPrefixList  []string `json:"tagPrefixList,omitempty"`
	TagPatternList []string `json:"tagPatternList,omitempty"`
	TagRegexList   []string `json:"tagRegexList,omitempty"`
	// The Exclude lists drop a tag that any of their entries matches.
	ExcludeTagPrefixList  []string `json:"excludeTagPrefixList,omitempty"`
	ExcludeTagPatternList []string `json:"excludeTagPatternList,omitempty"`
	ExcludeTagRegexList   []string `json:"excludeTagRegexList,omitempty"`

	CountType   CountType `json:"countType"`
	CountNumber int       `json:"countNumber,omitempty"`
	// CountUnit is "days" for the Since criteria (ECR), empty otherwise.
	CountUnit string `json:"countUnit,omitempty"`
}

// TagInfo is one tag of a snapshot.
type TagInfo struct {
	Name   string
	Digest digest.Digest
	// SetAt is when the tag was last set (pushed, moved or promoted).
	SetAt time.Time
}

// ManifestInfo is one manifest of a snapshot.
type ManifestInfo struct {
	Digest   digest.Digest
	PushedAt time.Time
	// LastPulledAt is zero when never pulled.
	LastPulledAt time.Time
	// Subject is the manifest's subject ("" if none): it is a referrer.
	Subject digest.Digest
	// Children are the child manifests an index names.
	Children []digest.Digest
	// Size is the manifest's own size plus the sizes its descriptors state
	// (what removing it may free, for reports).
	Size int64
}

// Snapshot is one repository as Evaluate sees it.
type Snapshot struct {
	// Repository is the full repository name ("project/app").
	Repository string
	// Project is the project the policy belongs to; rule repository
	// patterns are relative to it.
	Project   string
	Tags      []TagInfo
	Manifests []ManifestInfo
}

// Options are what Evaluate needs beyond the policy and the snapshot.
type Options struct {
	// Now is the time ages are measured against.
	Now time.Time
	// Immutable reports whether tag of the snapshot's repository is
	// immutable and, if so, the rule's description for the report; nil
	// means no tag is.
	Immutable func(tag string) (rule string, immutable bool)
}

// Decision is the verdict on one unit.
type Decision struct {
	// Tag is the tag name, or "" for an untagged manifest.
	Tag    string
	Digest digest.Digest
	// Delete is true when the unit goes.
	Delete bool
	// Rule is the priority of the rule that decided (0 when none did: a
	// manifest that goes because its tags or its parent go, a cosign-style
	// tag following its subject). A protection that keeps a unit a rule
	// would expire leaves that rule's priority here, with Delete false.
	Rule int
	// Reason says why in words ("rule 2: sinceImagePushed 30 days: set
	// 41 days ago", "immutable (rule 3)", "child of kept index sha256:…").
	Reason string
}

// Plan is Evaluate's answer for one repository.
type Plan struct {
	Repository string
	// Tags has one Decision per tag of the snapshot, in tag name order.
	Tags []Decision
	// Manifests has one Decision per manifest that is untagged after the
	// plan (untagged before, or losing all its tags), in digest order: a
	// manifest with Delete set goes (with the reason), the others stay.
	Manifests []Decision
	// DeleteBytes is the sum of ManifestInfo.Size over the manifests that
	// go (an upper bound of what GC may then reclaim).
	DeleteBytes int64
}
