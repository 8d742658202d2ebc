// Package scanner runs Berth's vulnerability scanning as a service: it
// queues scans (on push, on demand, on a schedule), runs them with the
// built-in scanner (packages scan/...) or an external Harbor-compatible
// adapter, stores inventories and results in meta.ScanStore, pushes SBOMs as
// OCI referrers, re-matches stored inventories when the vulnerability data
// changes, and decides the pull gate.
package scanner
