package meta

import (
	"context"
	"time"

	"github.com/opencontainers/go-digest"
)

// Record is one row of a dump: exactly one field is set. Records name
// repositories by name, not ID, because IDs differ between databases.
type Record struct {
	Repository *Repository
	Blob       *Blob
	Link       *Link
	Lease      *Lease
	Manifest   *DumpedManifest
	Tag        *DumpedTag
}

// Link says repository Repository may serve blob Digest.
type Link struct {
	Repository string
	Digest     digest.Digest
}

// Lease pins Digest against garbage collection until ExpiresAt.
type Lease struct {
	Digest    digest.Digest
	ExpiresAt time.Time
}

// DumpedManifest is a manifest (with content) and its references, in the
// repository called Repository.
type DumpedManifest struct {
	Repository string
	Manifest   Manifest
	Refs       []Reference
}

// DumpedTag is a tag of the repository called Repository.
type DumpedTag struct {
	Repository string
	Tag        Tag
}

// Dumper is an optional ability of a backend: reading out everything it
// holds, to move a registry onto another backend. Upload sessions are not
// dumped (they belong to the blob store they were written to).
type Dumper interface {
	// Dump calls fn for every record, in an order that lets each be loaded
	// after the ones before: repositories, blobs, links, leases, manifests
	// (children before the indexes that name them), tags. It stops at fn's
	// first error. The caller stops writers first; Dump reads without a
	// global snapshot.
	Dump(ctx context.Context, fn func(Record) error) error
}
