package s3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/minio/minio-go/v7"
	"github.com/opencontainers/go-digest"
)

// maxMarkerSize bounds what is read of a marker (a digest, or nothing).
const maxMarkerSize = 1 << 10

// AbortUpload discards upload id: it aborts every multipart upload writing
// data/<id> (the one in state too, if state can be decoded), deletes
// data/<id> if the marker shows it was never committed (or was deleted),
// then the tails and the marker. Aborting an upload with no data is not an
// error, and it works with a done ctx. A committed upload's data object is
// never removed: its marker is gone.
func (s *Store) AbortUpload(ctx context.Context, id string, state []byte) error {
	if err := validateID(id); err != nil {
		return fmt.Errorf("abort upload: %w", err)
	}
	var mpu string
	if state != nil {
		// A state that cannot be decoded must not stop the cleanup: the
		// listing below finds the multipart upload anyway.
		if st, _, err := decodeState(state); err == nil {
			mpu = st.Multipart
		}
	}
	if err := s.abort(ctx, id, mpu); err != nil {
		return fmt.Errorf("abort upload %s: %w", id, err)
	}
	return nil
}

// abort removes what upload id holds; knownMPU is a multipart upload id to
// abort besides the ones listed. It runs even when ctx is done.
func (s *Store) abort(ctx context.Context, id, knownMPU string) error {
	ctx, cancel := cleanupContext(ctx)
	defer cancel()
	dataKey := s.keys.data(id)
	mpus, err := s.multipartUploads(ctx, dataKey)
	if err != nil {
		return err
	}
	if knownMPU != "" && !slices.Contains(mpus, knownMPU) {
		mpus = append(mpus, knownMPU)
	}
	for _, mpu := range mpus {
		err := s.core.AbortMultipartUpload(ctx, s.cfg.Bucket, dataKey, mpu)
		if err != nil && !isMissing(err) {
			return s.storageError(err, "abort multipart upload")
		}
	}
	objs, err := s.listKeys(ctx, s.keys.upload(id))
	if err != nil {
		return err
	}
	markerKey := s.keys.marker(id)
	var keys []string
	hasMarker := false
	for _, oi := range objs {
		if oi.Key == markerKey {
			hasMarker = true
		} else {
			keys = append(keys, oi.Key)
		}
	}
	if hasMarker {
		if err := s.removeUnreferencedData(ctx, id); err != nil {
			return err
		}
		keys = append(keys, markerKey)
	}
	return s.removeKeys(ctx, keys)
}

// removeUnreferencedData deletes data/<id> unless the index of the digest
// its commit was for names it. That digest is in upload id's marker (a
// multipart commit, a second commit attempt, a delete), or else in the
// data object's metadata (a single-PUT commit); with neither, no commit
// got as far as an index.
func (s *Store) removeUnreferencedData(ctx context.Context, id string) error {
	dataKey := s.keys.data(id)
	recorded, found, err := s.markerDigest(ctx, id)
	if err != nil || !found {
		// Without the marker the upload ended meanwhile (a commit that
		// just finished): its data object is not ours to judge.
		return err
	}
	if recorded == "" {
		oi, err := s.core.StatObject(ctx, s.cfg.Bucket, dataKey, minio.StatObjectOptions{})
		if isMissing(err) {
			return nil
		}
		if err != nil {
			return s.storageError(err, "stat data object")
		}
		recorded = oi.Metadata.Get("X-Amz-Meta-" + metaDigest)
	}
	if recorded != "" {
		dgst := digest.Digest(recorded)
		if validateDigest(dgst) != nil {
			s.log.WarnContext(ctx, "upload records no valid digest; keeping its data object", "upload", id)
			return nil
		}
		e, _, err := s.headIndex(ctx, dgst)
		var broken *brokenIndexError
		switch {
		case err == nil && e.key == dataKey:
			return nil // committed: the marker outlived the commit
		case err != nil && !errdefs.IsNotFound(err) && !errors.As(err, &broken):
			return err
		}
	}
	return s.removeData(ctx, dataKey)
}

// markerDigest returns what upload id's marker records ("" if nothing)
// and whether the marker exists.
func (s *Store) markerDigest(ctx context.Context, id string) (string, bool, error) {
	body, _, _, err := s.core.GetObject(ctx, s.cfg.Bucket, s.keys.marker(id), minio.GetObjectOptions{})
	if isMissing(err) {
		return "", false, nil
	}
	if err != nil {
		return "", false, s.storageError(err, "read upload marker")
	}
	defer body.Close()
	content, err := io.ReadAll(io.LimitReader(body, maxMarkerSize))
	if err != nil {
		return "", false, s.storageError(err, "read upload marker")
	}
	return string(content), true, nil
}

// multipartUploads lists the ids of the multipart uploads writing key.
func (s *Store) multipartUploads(ctx context.Context, key string) ([]string, error) {
	var ids []string
	err := s.eachMultipartUpload(ctx, key, func(u minio.ObjectMultipartInfo) error {
		if u.Key == key {
			ids = append(ids, u.UploadID)
		}
		return nil
	})
	return ids, err
}

// eachMultipartUpload calls fn for every multipart upload of a key that
// starts with prefix.
func (s *Store) eachMultipartUpload(ctx context.Context, prefix string, fn func(minio.ObjectMultipartInfo) error) error {
	keyMarker, idMarker := "", ""
	for {
		res, err := s.core.ListMultipartUploads(ctx, s.cfg.Bucket, prefix, keyMarker, idMarker, "", 1000)
		if err != nil {
			return s.storageError(err, "list multipart uploads under %s", prefix)
		}
		for _, u := range res.Uploads {
			if err := fn(u); err != nil {
				return err
			}
		}
		if !res.IsTruncated || (res.NextKeyMarker == keyMarker && res.NextUploadIDMarker == idMarker) {
			return nil
		}
		keyMarker, idMarker = res.NextKeyMarker, res.NextUploadIDMarker
	}
}

// ListUploads calls fn, in id order, for every upload with data: every
// upload with an object under uploads/ (marker or tail) or a multipart
// upload in progress. The time is the latest change among its objects
// and parts.
func (s *Store) ListUploads(ctx context.Context, fn func(id string, modified time.Time) error) error {
	times := make(map[string]time.Time)
	note := func(id string, t time.Time) {
		if cur, ok := times[id]; id != "" && (!ok || t.After(cur)) {
			times[id] = t
		}
	}
	objs, err := s.listKeys(ctx, s.keys.uploadsRoot())
	if err != nil {
		return fmt.Errorf("list uploads: %w", err)
	}
	for _, oi := range objs {
		note(s.keys.uploadID(oi.Key), oi.LastModified)
	}
	err = s.eachMultipartUpload(ctx, s.keys.dataRoot(), func(u minio.ObjectMultipartInfo) error {
		id := s.keys.uploadID(u.Key)
		if id == "" {
			return nil
		}
		last, err := s.lastPartTime(ctx, u.Key, u.UploadID)
		if err != nil {
			return err
		}
		note(id, u.Initiated)
		note(id, last)
		return nil
	})
	if err != nil {
		return fmt.Errorf("list uploads: %w", err)
	}
	ids := make([]string, 0, len(times))
	for id := range times {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(id, times[id]); err != nil {
			return err
		}
	}
	return nil
}

// lastPartTime returns when the newest part of a multipart upload was
// written (zero without parts, or if the upload ended meanwhile): a
// long-running upload is active even though it started long ago.
func (s *Store) lastPartTime(ctx context.Context, key, mpu string) (time.Time, error) {
	var last time.Time
	marker := 0
	for {
		res, err := s.core.ListObjectParts(ctx, s.cfg.Bucket, key, mpu, marker, 1000)
		if isMissing(err) {
			return last, nil
		}
		if err != nil {
			return last, s.storageError(err, "list parts of %s", key)
		}
		for _, p := range res.ObjectParts {
			if p.LastModified.After(last) {
				last = p.LastModified
			}
		}
		if !res.IsTruncated || res.NextPartNumberMarker <= marker {
			return last, nil
		}
		marker = res.NextPartNumberMarker
	}
}
