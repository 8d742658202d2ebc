// Package blob defines Berth's blob store: content stored once by digest,
// written through resumable, verifying uploads.
//
// A driver (filesystem, s3) implements Store and passes the conformance suite
// in package blobtest. Which repository may serve which blob is not the blob
// store's business: that is a metadata link (package meta).
//
// Lifecycle of an upload:
//
//	w := NewWriter(ctx, id)           // or ResumeWriter(ctx, id, state)
//	w.Write(...)                      // streamed, hashed as it goes
//	state, _ := w.State()             // after Flush: persist it (meta.Upload.State)
//	w.Close()                         // keep the partial data for a later ResumeWriter
//	...
//	w.Commit(ctx, dgst, size)         // verify digest and size, make it readable under dgst
//	w.Cancel(ctx)                     // or discard; safe to defer after Commit
//
// Errors: ErrNotFound (errdefs) for a missing blob or upload, ErrInvalid for
// a malformed digest or one that does not match the data (and a size that
// does not), ErrConflict for a second writer on one upload, ErrUnavailable
// when the backing storage fails.
package blob

import (
	"context"
	"io"
	"time"

	"github.com/opencontainers/go-digest"
)

// Info describes stored content.
type Info struct {
	Digest digest.Digest
	Size   int64
}

// Statter reports whether content is stored.
type Statter interface {
	// Stat returns the Info of dgst or an ErrNotFound error.
	Stat(ctx context.Context, dgst digest.Digest) (Info, error)
}

// Provider reads stored content.
type Provider interface {
	// Open returns the content of dgst for reading and seeking (Range
	// requests). Drivers return a type the standard library can serve
	// without copying through user space where the OS allows (an *os.File).
	// An ErrNotFound error if it is not stored.
	Open(ctx context.Context, dgst digest.Digest) (io.ReadSeekCloser, error)
}

// Ingester writes new content through uploads that can be resumed by any
// process sharing the store.
type Ingester interface {
	// NewWriter starts upload id (an opaque, unique, path-safe string). An
	// ErrAlreadyExists error if the store holds data for id already. The
	// writer's Write honours ctx: it fails once ctx is done.
	NewWriter(ctx context.Context, id string) (Writer, error)
	// ResumeWriter reopens upload id at the point State captured. Data the
	// driver holds beyond that point is discarded. An ErrNotFound error if
	// the upload's data is gone; an ErrConflict error if it is shorter than
	// the state says, or if another writer has the upload open.
	ResumeWriter(ctx context.Context, id string, state []byte) (Writer, error)
	// AbortUpload discards the partial data of upload id, given the last
	// state saved for it (nil if none). Aborting an upload that has no data
	// is not an error. It works with a done ctx (it runs in cleanups).
	AbortUpload(ctx context.Context, id string, state []byte) error
}

// UploadLister is an optional ability: listing the uploads a store holds
// data for, so data whose session row was never written (a crash between
// NewWriter and the first saved state, or a monolithic upload) can be
// found and removed.
type UploadLister interface {
	// ListUploads calls fn for every upload with data, with the time its
	// data last changed. Iteration stops at fn's first error.
	ListUploads(ctx context.Context, fn func(id string, modified time.Time) error) error
}

// Deleter removes content (used by garbage collection only).
type Deleter interface {
	// Delete removes dgst; an ErrNotFound error if it was not stored.
	Delete(ctx context.Context, dgst digest.Digest) error
}

// Store is a complete blob store.
type Store interface {
	Statter
	Provider
	Ingester
	Deleter
}

// Writer is one open upload. It is not safe for concurrent use.
type Writer interface {
	io.Writer
	// ID returns the upload id.
	ID() string
	// Size returns the number of bytes written so far.
	Size() int64
	// Flush makes everything written so far durable, so that State can be
	// persisted and the upload resumed after a crash.
	Flush(ctx context.Context) error
	// State returns what ResumeWriter needs to continue at Size(): hash
	// state and driver state. Only meaningful after Flush.
	State() ([]byte, error)
	// Commit checks the data actually held against expected (and against
	// size, unless size is negative), makes it durable and readable under
	// expected, and ends the upload. If the store already holds expected, the upload's
	// data is discarded and the existing content kept. A mismatch is an
	// ErrInvalid error and leaves the upload's data in place (Cancel
	// removes it).
	Commit(ctx context.Context, expected digest.Digest, size int64) (Info, error)
	// Close releases the writer and keeps the partial data for a later
	// ResumeWriter. It does not flush.
	Close() error
	// Cancel discards the upload's data. After Commit it is a no-op, so it
	// is safe to defer; after Close it does nothing (the data is kept). It
	// works with a done ctx.
	Cancel(ctx context.Context) error
}

// Redirector is an optional ability of a driver that can send clients
// straight to the content (presigned URLs).
type Redirector interface {
	// RedirectURL returns a URL from which a client may GET dgst directly,
	// or "" to serve it through Berth.
	RedirectURL(ctx context.Context, dgst digest.Digest, method string) (string, error)
}
