package wire

// ScanRequest is the body of POST /api/v1/scans: scan Image
// ("repo:tag" or "repo@digest") now, even when it was scanned before.
type ScanRequest struct {
	Image string `json:"image"`
}

// ScanReport is the scan state and result of one artifact, the answer of
// GET /api/v1/scans?image=REF (and, with only its state filled in, of POST
// /api/v1/scans). Times are RFC 3339, "" when not reached.
type ScanReport struct {
	// Image is "repository@digest".
	Image      string `json:"image"`
	Repository string `json:"repository"`
	Digest     string `json:"digest"`
	// Status is queued, running, done, failed, unsupported, or
	// not_scanned when no scan was ever asked for.
	Status     string `json:"status"`
	Scanner    string `json:"scanner,omitempty"`
	Error      string `json:"error,omitempty"`
	QueuedAt   string `json:"queued_at,omitempty"`
	StartedAt  string `json:"started_at,omitempty"`
	FinishedAt string `json:"finished_at,omitempty"`
	// DataGeneration is the vulnerability data generation the findings
	// were matched at; DataUpdatedAt is when that data was last imported
	// and DataStale is set when it is older than scan.max_db_age.
	DataGeneration int64       `json:"data_generation"`
	DataUpdatedAt  string      `json:"data_updated_at,omitempty"`
	DataStale      bool        `json:"data_stale,omitempty"`
	Summary        ScanSummary `json:"summary"`
	// Platforms are the images scanned (one, or each platform of an
	// index).
	Platforms       []ScanPlatform  `json:"platforms,omitempty"`
	Vulnerabilities []Vulnerability `json:"vulnerabilities"`
	// Findings are secrets and hygiene findings; a secret's value is never
	// shown, only a fingerprint.
	Findings []ScanFinding `json:"findings"`
	// Gate says whether the project's pull gate lets the artifact be
	// pulled now.
	Gate *GateVerdict `json:"gate,omitempty"`
}

// ScanSummary counts a report's findings.
type ScanSummary struct {
	Critical int64 `json:"critical"`
	High     int64 `json:"high"`
	Medium   int64 `json:"medium"`
	Low      int64 `json:"low"`
	Unknown  int64 `json:"unknown"`
	// Fixable counts vulnerabilities with a known fixed version.
	Fixable int64 `json:"fixable"`
	Secrets int64 `json:"secrets"`
	Hygiene int64 `json:"hygiene"`
	// Worst is the highest vulnerability severity ("NONE" without any).
	Worst string `json:"worst"`
}

// ScanPlatform is one scanned image.
type ScanPlatform struct {
	Manifest string `json:"manifest"`
	// Platform is "os/arch[/variant]", "" when unknown.
	Platform string `json:"platform,omitempty"`
	// OS is the distribution ("debian 12"), "" when unknown.
	OS       string `json:"os,omitempty"`
	Packages int    `json:"packages"`
}

// Vulnerability is one vulnerability of one installed package.
type Vulnerability struct {
	ID        string   `json:"id"`
	Aliases   []string `json:"aliases,omitempty"`
	Severity  string   `json:"severity"`
	CVSS      float64  `json:"cvss,omitempty"`
	Package   string   `json:"package"`
	Ecosystem string   `json:"ecosystem"`
	Version   string   `json:"version"`
	// FixedVersion is "" when no fix is known.
	FixedVersion string `json:"fixed_version,omitempty"`
	PURL         string `json:"purl,omitempty"`
	// Location is the path in the image where the package was found.
	Location string `json:"location,omitempty"`
	Summary  string `json:"summary,omitempty"`
	// Allowlisted is set when a valid allowlist entry exempts it from the
	// gate; AllowlistReason is that entry's reason.
	Allowlisted     bool   `json:"allowlisted,omitempty"`
	AllowlistReason string `json:"allowlist_reason,omitempty"`
}

// ScanFinding is a secret or hygiene finding.
type ScanFinding struct {
	Kind        string `json:"kind"`
	Rule        string `json:"rule"`
	Severity    string `json:"severity"`
	Title       string `json:"title"`
	Layer       string `json:"layer,omitempty"`
	Path        string `json:"path,omitempty"`
	Line        int    `json:"line,omitempty"`
	Fingerprint string `json:"fingerprint,omitempty"`
}

// GateVerdict is what the pull gate decides for an artifact.
type GateVerdict struct {
	Allowed bool `json:"allowed"`
	// Reason explains a denial (the message a pull gets).
	Reason string `json:"reason,omitempty"`
}

// ScanPolicy is a project's scanning and pull-gate settings, the body of
// GET and PUT /api/v1/projects/{name}/scan-policy.
type ScanPolicy struct {
	Project string `json:"project,omitempty"`
	// ScanOnPush queues a scan of every manifest pushed to the project.
	ScanOnPush bool `json:"scan_on_push"`
	// BlockSeverity denies pulls of artifacts with a vulnerability at or
	// above it: LOW, MEDIUM, HIGH or CRITICAL; "" or "NONE" turns the gate
	// off.
	BlockSeverity string `json:"block_severity"`
	// Unscanned is what a gated pull of an artifact without a finished
	// scan gets: allow, deny or wait (up to WaitSeconds, then deny).
	Unscanned   string `json:"unscanned"`
	WaitSeconds int    `json:"wait_seconds,omitempty"`
	UpdatedAt   string `json:"updated_at,omitempty"`
	UpdatedBy   string `json:"updated_by,omitempty"`
}

// AllowlistEntry exempts a vulnerability (matched by id or alias) from the
// pull gate, with a reason, until ExpiresAt ("" for never). It is the body
// of POST /api/v1/allowlist and /api/v1/projects/{name}/allowlist.
type AllowlistEntry struct {
	// Project is "" for a system-wide entry.
	Project   string `json:"project,omitempty"`
	ID        string `json:"id"`
	Reason    string `json:"reason"`
	ExpiresAt string `json:"expires_at,omitempty"`
	// Expired is set on listings once ExpiresAt has passed.
	Expired   bool   `json:"expired,omitempty"`
	CreatedAt string `json:"created_at,omitempty"`
	CreatedBy string `json:"created_by,omitempty"`
}

// AllowlistList is the body of GET /api/v1/allowlist and
// /api/v1/projects/{name}/allowlist: the entries by id, expired ones
// included (and marked).
type AllowlistList struct {
	Entries []AllowlistEntry `json:"entries"`
}
