// Package s3 is Berth's blob store driver for S3-compatible object storage,
// used in scale-out mode: any number of stateless replicas share one bucket,
// and any replica can continue an upload another one started.
//
// # Layout
//
// Every key is built by the functions in keys.go, and nowhere else. Under
// the bucket and optional prefix of the store URL:
//
//	<prefix>/
//	├── blobs/                      one index object per committed digest
//	│   ├── sha256/
//	│   │   └── 3fa9…c1             empty body; metadata berth-data=data/<id>,
//	│   │                           berth-size=<bytes>: where the bytes are
//	│   └── sha512/
//	│       └── 9b71…0e
//	├── data/                       the bytes of blobs, written once, never copied
//	│   └── <id>                    target of upload <id>'s multipart upload, or
//	│                               one PUT (metadata berth-digest) if it fits a part
//	├── .berth-probe/<random>       written and removed by the start-up check
//	└── uploads/                    uploads in progress
//	    └── <id>/
//	        ├── marker              exists while upload <id> may hold data; may
//	        │                       name the digest being committed (or deleted)
//	        └── tail-<random>       bytes after the last part, as of a Flush
//
// # Why an index
//
// A client names the digest of an upload only when it ends (PUT ?digest=),
// but the key of a multipart upload is fixed when it starts. Storing bytes
// under their digest would cost a server-side copy of every blob at commit.
// Instead the multipart upload writes data/<id>, and Commit writes the small
// index object blobs/<alg>/<hex> that names data/<id> and the size: Stat is
// one HEAD of the index; Open is one GET of the data object when the
// (immutable) digest→data mapping is in the store's bounded in-memory cache,
// a HEAD of the index and that GET otherwise. Nothing is copied.
//
// The index is written with If-None-Match: * (a conditional write), so when
// uploads of the same content race, exactly one data object wins; the others
// delete their own data object (deduplication keeps the first). The store
// checks at start that the server honours conditional writes.
//
// # Uploads
//
// Writes are buffered into parts of Options.PartSize (16 MiB by default);
// memory per open writer is bounded by the part size. S3 wants every part
// but the last to be at least 5 MiB, while a registry client may send
// chunks of any size and each chunk must be durable when its PATCH ends. So
// Flush uploads the buffer as a part if it holds at least 5 MiB, and
// otherwise stores it as a small tail object uploads/<id>/tail-<random>.
// The state returned by Writer.State (kept by the metadata store) records
// the multipart upload id, the parts (number, ETag, size), the tail object
// (name, size, ETag), the offset and the sha256 hash state, so any replica
// can resume: ResumeWriter checks the parts and the tail against what the
// bucket holds, reads the tail back into the buffer, and deletes every other
// tail. Parts numbered after the state are overwritten or left out of the
// completed object; a part or tail that no longer matches the state (a
// stale request rewrote it) is an errdefs.ErrConflict, and a part replaced
// after that check makes CompleteMultipartUpload refuse the ETag, which
// Commit reports as errdefs.ErrInvalid. So what is stored under a digest is
// always the data the hash describes.
//
// Commit checks size and sha256 from the streamed hash, then makes the
// data object: it completes the multipart upload (after recording the
// digest in the marker), or PUTs the buffer with the digest in the data
// object's metadata when the upload never outgrew one part. It verifies
// other algorithms (sha512) by reading the data object back, writes the
// index and finally removes the tails and the marker. A crash at any point
// leaves the marker, which ListUploads reports; AbortUpload then deletes
// the data object unless the index of the recorded digest names it. Delete
// records the digest in a marker too before it removes the index and then
// the data, so an interrupted delete is swept the same way. A small blob
// costs four requests: marker, data, index, marker removal.
//
// Exclusion between writers of one upload is the metadata store's job
// (saved offsets); within one Store, ResumeWriter of an upload with an open
// writer is an errdefs.ErrConflict.
//
// Over plain http every payload is sent with its sha256 as the signed
// payload hash, so the server refuses corrupted bytes (the buffer PUT at
// Commit reuses the blob's own digest); over https, TLS protects it and
// parts go unsigned. Whether the server copies parts when it completes a
// multipart upload is its own business (AWS S3 does not; versitygw's posix
// backend assembles them with copy_file_range); Berth never copies.
//
// # Redirects
//
// With Options.Redirect, RedirectURL presigns GET and HEAD URLs of the data
// object (blob.Redirector), so clients download from the bucket directly.
// It is off by default: the endpoint in the URL must be reachable by every
// client, not only by Berth.
//
// # Credentials
//
// Credentials come from Options, from the store URL, or from the usual AWS
// environment variables (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
// AWS_SESSION_TOKEN), the shared credentials file or an instance role, in
// that order. Prefer the environment: credentials in a URL show up in
// process listings and configuration dumps. They are never logged and never
// part of an error message.
package s3
