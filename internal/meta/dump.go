package meta

import (
	"context"
	"time"

	"github.com/opencontainers/go-digest"
)

// Record is one row of a dump: exactly one field is set. Records name
// repositories and projects by name, not ID, because IDs differ between
// databases: the IDs a record carries (User.ID, Project.ID, Member.ProjectID,
// Robot.ID and Robot.ProjectID, AuditEvent.ID) are the source's, and a loader
// replaces them with its own.
//
// Signing keys are deliberately not dumped: the destination creates its own
// on first start, and the tokens the source's keys signed are short-lived, so
// nothing needs them once clients talk to the destination.
type Record struct {
	Repository *Repository
	Blob       *Blob
	Link       *Link
	Lease      *Lease
	Manifest   *DumpedManifest
	Tag        *DumpedTag
	// User is a user account, with its password and CLI secret hashes.
	User *User
	// Project is a project with its members.
	Project *DumpedProject
	// Robot is a robot account, with its secret hash.
	Robot *DumpedRobot
	// Audit is one entry of the audit log.
	Audit *AuditEvent
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

// DumpedProject is a project and every member of it.
type DumpedProject struct {
	Project Project
	Members []Member
}

// DumpedRobot is a robot owned by the project called Project, or a system
// robot when Project is "".
type DumpedRobot struct {
	Project string
	Robot   Robot
}

// Dumper is an optional ability of a backend: reading out everything it
// holds, to move a registry onto another backend. Upload sessions are not
// dumped (they belong to the blob store they were written to).
type Dumper interface {
	// Dump calls fn for every record, in an order that lets each be loaded
	// after the ones before: repositories, blobs, links, leases, manifests
	// (children before the indexes that name them), tags; then the access
	// records: users, projects (each with its members), robots (after every
	// project), audit events (in the order they were appended). It stops at
	// fn's first error. The caller stops writers first; the registry records
	// are read without a global snapshot, the access records from one
	// consistent snapshot (so every robot names a project dumped before it).
	Dump(ctx context.Context, fn func(Record) error) error
}
