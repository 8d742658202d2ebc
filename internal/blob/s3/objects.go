package s3

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"time"

	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/minio/minio-go/v7"
	"github.com/opencontainers/go-digest"
)

// Object metadata (sent as x-amz-meta-berth-*): of an index object, and
// of a data object.
const (
	metaData = "berth-data"
	metaSize = "berth-size"
	// metaDigest, on a data object written in one PUT, is the digest its
	// commit was for (see removeUnreferencedData).
	metaDigest = "berth-digest"
	// cleanupTimeout bounds cleanup that runs with a done context.
	cleanupTimeout = time.Minute
)

// putIfAbsent returns options for a write that fails with
// PreconditionFailed if the key exists (If-None-Match: *).
func putIfAbsent() minio.PutObjectOptions {
	var o minio.PutObjectOptions
	o.SetMatchETagExcept("*")
	return o
}

// putSmall writes body (small, in memory) to key in one PUT whose payload
// is signed with its sha256, so the server verifies it, and returns the
// new ETag.
func (s *Store) putSmall(ctx context.Context, key string, body []byte, opts minio.PutObjectOptions) error {
	_, err := s.putBytes(ctx, key, body, opts)
	return err
}

// putBytes is putSmall returning the ETag.
func (s *Store) putBytes(ctx context.Context, key string, body []byte, opts minio.PutObjectOptions) (string, error) {
	sum := sha256.Sum256(body)
	return s.putSigned(ctx, key, body, hex.EncodeToString(sum[:]), opts)
}

// putSigned writes body to key with sha256Hex, the sha256 of body, as its
// signed payload hash; the server refuses a body that does not match.
//
// Servers that keep objects as files (versitygw's posix backend) remove a
// directory once its last object is deleted, and a PUT that creates the
// same directory at that moment can fail with ExistingObjectIsDirectory
// (seen when one upload's objects were cleaned up as another started). No
// object is written by the failed PUT, so it is tried again, a few times.
func (s *Store) putSigned(ctx context.Context, key string, body []byte, sha256Hex string, opts minio.PutObjectOptions) (string, error) {
	opts.DisableContentSha256 = true // no aws-chunked streaming: the hash is given
	for attempt := 1; ; attempt++ {
		info, err := s.core.PutObject(ctx, s.cfg.Bucket, key, bytes.NewReader(body), int64(len(body)), "", sha256Hex, opts)
		if err == nil || errCode(err) != codeExistingObjectIsDirectory || attempt == 4 {
			return info.ETag, err
		}
		select {
		case <-ctx.Done():
			return "", err
		case <-time.After(time.Duration(attempt) * 10 * time.Millisecond):
		}
	}
}

// headIndex reads the index object of dgst (one HEAD) and caches what it
// says. It returns the entry and the index's ETag, an ErrNotFound error if
// dgst is not stored, an ErrInvalid error for a malformed digest and an
// ErrUnavailable error for an index this driver did not write.
func (s *Store) headIndex(ctx context.Context, dgst digest.Digest) (indexEntry, string, error) {
	key, err := s.keys.index(dgst)
	if err != nil {
		return indexEntry{}, "", err
	}
	oi, err := s.core.StatObject(ctx, s.cfg.Bucket, key, minio.StatObjectOptions{})
	if isMissing(err) {
		return indexEntry{}, "", errdefs.NotFound("blob %s not found", dgst)
	}
	if err != nil {
		return indexEntry{}, "", s.storageError(err, "read index of %s", dgst)
	}
	rel := oi.Metadata.Get("X-Amz-Meta-" + metaData)
	size, err := strconv.ParseInt(oi.Metadata.Get("X-Amz-Meta-"+metaSize), 10, 64)
	if err != nil || size < 0 {
		return indexEntry{}, oi.ETag, &brokenIndexError{errdefs.Unavailable("index object %s has no valid %s metadata", key, metaSize)}
	}
	dataKey, id, err := s.keys.dataFromRel(rel)
	if err != nil {
		return indexEntry{}, oi.ETag, &brokenIndexError{errdefs.Wrap(errdefs.ErrUnavailable, err, "index object %s", key)}
	}
	e := indexEntry{key: dataKey, id: id, size: size}
	s.cache.put(dgst, e)
	return e, oi.ETag, nil
}

// putIndex writes the index object of dgst naming upload id's data object
// of size bytes, under the condition in opts.
func (s *Store) putIndex(ctx context.Context, dgst digest.Digest, id string, size int64, opts minio.PutObjectOptions) error {
	key, err := s.keys.index(dgst)
	if err != nil {
		return err
	}
	opts.UserMetadata = map[string]string{metaData: dataRel(id), metaSize: strconv.FormatInt(size, 10)}
	return s.putSmall(ctx, key, nil, opts)
}

// dataSize returns the size of the data object key, or an ErrNotFound
// error if it does not exist.
func (s *Store) dataSize(ctx context.Context, key string) (int64, error) {
	oi, err := s.core.StatObject(ctx, s.cfg.Bucket, key, minio.StatObjectOptions{})
	if isMissing(err) {
		return 0, errdefs.NotFound("data object %s not found", key)
	}
	if err != nil {
		return 0, s.storageError(err, "stat data object %s", key)
	}
	return oi.Size, nil
}

// removeKeys deletes keys in order, stopping at the first failure (callers
// list a marker last: it must outlive what it describes). A missing key is
// not an error.
func (s *Store) removeKeys(ctx context.Context, keys []string) error {
	for _, k := range keys {
		err := s.core.RemoveObject(ctx, s.cfg.Bucket, k, minio.RemoveObjectOptions{})
		if err != nil && !isMissing(err) {
			return s.storageError(err, "remove %s", k)
		}
	}
	return nil
}

// removeData deletes a data object; a missing one is not an error.
func (s *Store) removeData(ctx context.Context, key string) error {
	return s.removeKeys(ctx, []string{key})
}

// listKeys returns the objects under prefix (recursively).
func (s *Store) listKeys(ctx context.Context, prefix string) ([]minio.ObjectInfo, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // stops the listing goroutine if we return early
	var objs []minio.ObjectInfo
	for oi := range s.core.Client.ListObjects(ctx, s.cfg.Bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if oi.Err != nil {
			return nil, s.storageError(oi.Err, "list %s", prefix)
		}
		objs = append(objs, oi)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return objs, nil
}

// brokenIndexError says that an index object exists but does not name a
// data object the way this driver writes it.
type brokenIndexError struct{ err error }

func (e *brokenIndexError) Error() string { return e.err.Error() }
func (e *brokenIndexError) Unwrap() error { return e.err }
