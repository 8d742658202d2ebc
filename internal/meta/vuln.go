package meta

import (
	"context"
	"time"
)

// VulnPackage names a package in an ecosystem the way vulnerability records
// are indexed: an OSV ecosystem ("Debian:12", "Go", "PyPI") and a package
// name in the form package vuln normalizes it to. The store compares both
// exactly.
type VulnPackage struct {
	Ecosystem string
	Name      string
}

// VulnRecord is one stored vulnerability record. The store keeps Data as
// given; what it holds (package osv keeps compressed OSV JSON) is the
// caller's business.
type VulnRecord struct {
	// ID is the record's id, unique across the whole store.
	ID string
	// Modified is when the record last changed upstream; a stored record is
	// replaced only by one with a later Modified.
	Modified time.Time
	// Packages are the packages the record affects: its lookup index. From
	// VulnsFor only those that matched the query are filled in.
	Packages []VulnPackage
	// Data is the record itself.
	Data []byte
}

// VulnPutResult counts what PutVulnRecords did with a batch.
type VulnPutResult struct {
	// Added counts records whose id was not stored before.
	Added int
	// Replaced counts records that replaced an older stored version.
	Replaced int
	// Unchanged counts records the store kept its own version of because
	// that was as new or newer.
	Unchanged int
}

// Changed reports whether the batch added or replaced anything.
func (r VulnPutResult) Changed() bool { return r.Added+r.Replaced > 0 }

// VulnSource describes one source of vulnerability data (a feed, a file, an
// osv.dev export) as of its last import.
type VulnSource struct {
	// Name identifies the source; an import names it (for example the
	// file's base name).
	Name string
	// ImportedAt is when the last import of this source finished.
	ImportedAt time.Time
	// NewestModified is the latest Modified of the records stored from this
	// source: how fresh its data is, whatever the import time.
	NewestModified time.Time
	// Records counts the stored records that came from this source last.
	Records int64
}

// VulnStore stores vulnerability records with an index by affected package,
// the sources they came from and a generation number that grows whenever
// the stored data changes. It is an optional ability of a Store, found with
// VulnOf; the SQLite and PostgreSQL backends have it.
type VulnStore interface {
	// PutVulnRecords stores recs, attributing them to source, in one
	// transaction: a record whose id is not stored is added, one whose
	// Modified is later than the stored version's replaces it (its package
	// index rows too), and any other is left alone (counted Unchanged).
	// Ids within recs must be unique. If anything was added or replaced,
	// the generation grows by one. A record without an ID is ErrInvalid and
	// nothing of the batch is stored.
	PutVulnRecords(ctx context.Context, source string, recs []VulnRecord) (VulnPutResult, error)
	// FinishVulnImport notes that an import of source finished at at: it
	// records that time and recomputes the source's record count and
	// newest Modified from the stored records, and returns the result.
	FinishVulnImport(ctx context.Context, source string, at time.Time) (VulnSource, error)
	// VulnSources returns every source, by name.
	VulnSources(ctx context.Context) ([]VulnSource, error)
	// VulnGeneration returns the data's generation: 0 for an empty store,
	// growing by one with every PutVulnRecords call that changed something.
	VulnGeneration(ctx context.Context) (int64, error)
	// VulnsFor returns, in id order and each once, the records that affect
	// any of pkgs, with Packages holding those of pkgs they matched (sorted
	// by ecosystem, then name). Unknown
	// packages are not an error; they just match nothing.
	VulnsFor(ctx context.Context, pkgs []VulnPackage) ([]VulnRecord, error)
	// VulnRecord returns the record with id (Packages filled in, sorted by
	// ecosystem, then name), or ErrNotFound.
	VulnRecord(ctx context.Context, id string) (*VulnRecord, error)
}

// VulnOf returns the VulnStore of s, looking through decorators that
// implement Unwrapper, and whether s has one.
func VulnOf(s Store) (VulnStore, bool) {
	for s != nil {
		if vs, ok := s.(VulnStore); ok {
			return vs, true
		}
		u, ok := s.(Unwrapper)
		if !ok {
			return nil, false
		}
		s = u.Unwrap()
	}
	return nil, false
}
