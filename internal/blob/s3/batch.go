package s3

import (
	"context"
	"fmt"

	"github.com/berth-registry/berth/internal/blob"
	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/minio/minio-go/v7"
	"github.com/opencontainers/go-digest"
)

// batchParallel bounds the per-blob requests (index HEAD, marker PUT) of
// one DeleteMany.
const batchParallel = 16

var _ blob.BatchDeleter = (*Store)(nil)

// DeleteMany removes dgsts (blob.BatchDeleter) in the order Delete uses,
// batched: per blob (16 at once) it reads the index and records the
// deletion in the data object's marker; then one DeleteObjects request per
// 1,000 keys removes the indexes (from then on those digests are not
// stored), the next ones the data objects, and the last ones the markers.
// A blob costs two requests of its own instead of five. A digest whose
// index could not be removed fails; data objects and markers left behind
// by a later failure are logged and removed by the upload sweep, as after
// an interrupted Delete. A digest that was not stored is a success.
func (s *Store) DeleteMany(ctx context.Context, dgsts []digest.Digest) []error {
	entries := make([]indexEntry, len(dgsts))
	stored := make([]bool, len(dgsts))
	errs := blob.ParallelEach(ctx, len(dgsts), batchParallel, func(ctx context.Context, i int) error {
		e, _, err := s.headIndex(ctx, dgsts[i])
		if errdefs.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("delete blob %s: %w", dgsts[i], err)
		}
		if err := s.putSmall(ctx, s.keys.marker(e.id), []byte(dgsts[i]), minio.PutObjectOptions{}); err != nil {
			return fmt.Errorf("delete blob %s: %w", dgsts[i], s.storageError(err, "mark data object %s for deletion", e.key))
		}
		entries[i], stored[i] = e, true
		return nil
	})
	var indexKeys []string
	var which []int
	for i, ok := range stored {
		if ok && errs[i] == nil {
			key, _ := s.keys.index(dgsts[i])
			indexKeys = append(indexKeys, key)
			which = append(which, i)
		}
	}
	failed := s.removeMany(ctx, indexKeys)
	var dataKeys []string
	var gone []int
	for n, i := range which {
		if err := failed[indexKeys[n]]; err != nil {
			errs[i] = fmt.Errorf("delete blob %s: remove index object: %w", dgsts[i], err)
			continue
		}
		s.cache.evict(dgsts[i])
		dataKeys = append(dataKeys, entries[i].key)
		gone = append(gone, i)
	}
	// The blobs are gone now; what remains is garbage the markers point at.
	cctx, cancel := cleanupContext(ctx)
	defer cancel()
	failed = s.removeMany(cctx, dataKeys)
	var markers []string
	for n, i := range gone {
		if err := failed[dataKeys[n]]; err != nil {
			s.log.WarnContext(ctx, "deleted blob left its data object; the upload sweep removes it",
				"digest", dgsts[i], "key", dataKeys[n], "err", err)
			continue
		}
		markers = append(markers, s.keys.marker(entries[i].id))
	}
	for key, err := range s.removeMany(cctx, markers) {
		s.log.WarnContext(ctx, "deleted blob left its marker; the upload sweep removes it", "key", key, "err", err)
	}
	return errs
}

// removeMany deletes keys with DeleteObjects requests (1,000 keys each)
// and returns the keys it could not delete with their errors. A missing
// key is not an error. A failure of a whole request fails its keys.
func (s *Store) removeMany(ctx context.Context, keys []string) map[string]error {
	failed := map[string]error{}
	if len(keys) == 0 {
		return failed
	}
	objs := func(yield func(minio.ObjectInfo) bool) {
		for _, k := range keys {
			if !yield(minio.ObjectInfo{Key: k}) {
				return
			}
		}
	}
	results, err := s.core.Client.RemoveObjectsWithIter(ctx, s.cfg.Bucket, objs, minio.RemoveObjectsOptions{})
	if err != nil {
		err = s.storageError(err, "remove %d objects", len(keys))
		for _, k := range keys {
			failed[k] = err
		}
		return failed
	}
	done := make(map[string]bool, len(keys))
	var general error
	for r := range results {
		switch {
		case r.Err == nil || isMissing(r.Err):
			done[r.ObjectName] = true
		case r.ObjectName == "":
			general = s.storageError(r.Err, "remove objects")
		default:
			failed[r.ObjectName] = s.storageError(r.Err, "remove %s", r.ObjectName)
		}
	}
	if general == nil && ctx.Err() != nil {
		general = s.storageError(ctx.Err(), "remove objects")
	}
	for _, k := range keys {
		if !done[k] && failed[k] == nil {
			// Not reported either way: the request that held it failed,
			// or the results stopped early.
			failed[k] = general
			if general == nil {
				failed[k] = s.storageError(fmt.Errorf("no result for %s", k), "remove objects")
			}
		}
	}
	return failed
}
