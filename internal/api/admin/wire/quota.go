package wire

// Quota is a project's storage quota with its usage, the body of GET and
// PUT /api/v1/projects/{name}/quota. A zero limit is no limit; a project
// without a quota shows zeros and its usage.
type Quota struct {
	Project string `json:"project"`
	// LimitBytes is the hard limit on stored bytes: a push that would go
	// over it is refused (DENIED).
	LimitBytes int64 `json:"limit_bytes"`
	// WarnBytes is the stored bytes at which usage reports a warning.
	WarnBytes int64 `json:"warn_bytes"`
	// ArtifactLimit is the hard limit on artifacts.
	ArtifactLimit int64      `json:"artifact_limit"`
	UpdatedAt     string     `json:"updated_at,omitempty"`
	UpdatedBy     string     `json:"updated_by,omitempty"`
	Usage         QuotaUsage `json:"usage"`
}

// QuotaUsage is what a project uses (docs/quotas.md defines each figure).
type QuotaUsage struct {
	// StoredBytes counts each blob and manifest of the project once.
	StoredBytes int64 `json:"stored_bytes"`
	// LogicalBytes is what the project's artifacts add up to.
	LogicalBytes int64 `json:"logical_bytes"`
	// Artifacts counts manifests that are not a child of an index in the
	// same repository.
	Artifacts int64 `json:"artifacts"`
	// Percent is StoredBytes as a percentage of LimitBytes (0 without a
	// limit).
	Percent float64 `json:"percent"`
	// Warning is set at or over the warning threshold (or the limit when
	// there is no threshold).
	Warning bool `json:"warning"`
}

// QuotaSettings is the body of PUT /api/v1/projects/{name}/quota. Zero (or
// absent) is no limit.
type QuotaSettings struct {
	LimitBytes    int64 `json:"limit_bytes"`
	WarnBytes     int64 `json:"warn_bytes"`
	ArtifactLimit int64 `json:"artifact_limit"`
}
