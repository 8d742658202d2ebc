// Package gc is Berth's online garbage collection of blobs. It runs while
// the registry serves: no read-only mode, no global lock.
//
// A run has three steps:
//
//  1. Finish: tombstones left by an earlier run that stopped between its
//     metadata delete and its byte delete (a crash) are swept first.
//  2. Mark: garbage is read from the metadata store only, never by walking
//     the blob store: a blob is garbage when no manifest of any repository
//     references it (as a layer, a config or another blob), and no live
//     lease holds it. Uploads lease what they commit (uploads.blob_lease),
//     mounts lease what they link, and a blob HEAD or GET renews the lease
//     to gc.grace, so a manifest pushed shortly after can name the blob.
//  3. Delete, a batch at a time: one metadata transaction deletes the
//     blob rows, their repository links and expired leases only if they are
//     still garbage at that moment, and writes a tombstone per blob; then
//     the bytes go, by a bounded pool of workers; then the tombstones.
//
// The fence against a push racing the sweeper: before a worker deletes the
// bytes of a digest it claims the digest's tombstone, which succeeds only
// while the digest is neither recorded again nor leased. An upload leases
// the digest before it commits its bytes, and that lease is refused while
// the tombstone is claimed (the registry then waits for the sweep to end
// and writes fresh bytes). Recording the blob clears an unclaimed
// tombstone. So a push either finds the blob intact or uploads it again;
// a manifest never points at nothing.
//
// Manifests are not deleted here: untagged-manifest removal and retention
// come later and only make more blobs garbage.
package gc
