package wire

// ImmutabilityRule is a tag immutability rule as the API shows it. A tag of
// a matching repository is immutable when it matches a tag pattern and no
// '!' exclusion; it can then be neither moved nor deleted.
type ImmutabilityRule struct {
	ID int64 `json:"id"`
	// Project owns the rule, "" for a system-wide rule.
	Project string `json:"project,omitempty"`
	// Repositories are repository patterns (relative to the project for a
	// project rule, full names for a system-wide one; "**" for any depth);
	// absent means every repository.
	Repositories []string `json:"repositories,omitempty"`
	// Tags are tag patterns, '!' marking an exclusion.
	Tags []string `json:"tags"`
	// Description is how refusals name the rule, e.g. "rule 3: tags v*,
	// except *-rc*".
	Description string `json:"description"`
	CreatedAt   string `json:"created_at,omitempty"`
	CreatedBy   string `json:"created_by,omitempty"`
}

// ImmutabilityRuleList is the body of the immutability rule listings.
type ImmutabilityRuleList struct {
	Rules []ImmutabilityRule `json:"rules"`
}

// NewImmutabilityRule is the body of POST /api/v1/immutability (a
// system-wide rule) and POST /api/v1/projects/{name}/immutability.
type NewImmutabilityRule struct {
	// Repositories are repository patterns; absent means every repository.
	Repositories []string `json:"repositories,omitempty"`
	// Tags are tag patterns, '!' marking an exclusion; at least one is
	// required ("*" for every tag).
	Tags []string `json:"tags"`
}
