// Package filesystem is Berth's default blob store driver: blobs are plain
// files under one directory on a local (or otherwise POSIX) filesystem.
//
// On-disk layout under the root given to New (every path is built by
// pathFor in paths.go, and nowhere else):
//
//	<root>/
//	├── blobs/                      committed content, read-only files
//	│   ├── sha256/
//	│   │   └── 3f/                 first two hex characters of the digest
//	│   │       └── 3fa9…c1         the blob, named by its full hex digest
//	│   └── sha512/
//	│       └── 9b/
//	│           └── 9b71…0e
//	└── uploads/                    uploads in progress, one directory each
//	    └── <id>/
//	        ├── data                the bytes received so far
//	        └── rewound             present once data was cut back to an
//	                                older state (then Commit re-reads it)
//
// An upload writes into uploads/<id>/data, hashing as it goes. Commit makes
// the data durable (fsync), checks size and digest (sha256 from the
// streaming hash; any other algorithm by re-reading the file), renames the
// file to its digest path in one step and fsyncs the directory that now
// holds it. A blob path therefore only ever names complete, verified
// content: a crash leaves either no blob or the whole blob. If the digest
// path already exists the upload is discarded instead (content is stored
// once). uploads/ and blobs/ must be on the same filesystem, since the
// driver never copies a blob into place.
//
// One writer at a time: NewWriter and ResumeWriter take an exclusive flock
// on the data file, and a second writer on the same upload is refused with
// an errdefs.ErrConflict error until the first is closed. ResumeWriter
// truncates data written after the state it is given; since a stale state
// (from a request that raced a newer one) would leave data that the newer
// hash state does not describe, the first truncation marks the upload
// "rewound" and its Commit then verifies by re-reading, whatever the
// algorithm. The streaming hash is trusted only while the data has only
// ever grown.
//
// Upload ids and digests are validated before any path is built, so neither
// can name a file outside the root. Files are opened with the permissions of
// the Berth process; a permission problem is reported as an
// errdefs.ErrUnavailable error that says so.
package filesystem
