package metatest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/opencontainers/go-digest"
)

func txTests() []test {
	return []test{
		{"CommitsOnNil", testTxCommits},
		{"RollsBackOnError", testTxRollsBack},
		{"ReadsOwnWrites", testTxReadsOwnWrites},
		{"Concurrent", testTxConcurrent},
	}
}

// pushAll writes one of everything through q: repository, blob and link,
// lease, manifest with references, tag and upload session.
func pushAll(t *testing.T, q meta.Querier, repo string) (repoID int64, m *meta.Manifest) {
	t.Helper()
	ctx := t.Context()
	r, err := q.EnsureRepository(ctx, repo)
	if err != nil {
		t.Fatalf("EnsureRepository: %v", err)
	}
	layer := testDigest("layer of " + repo)
	steps := []struct {
		name string
		fn   func() error
	}{
		{"PutBlob", func() error { return q.PutBlob(ctx, meta.Blob{Digest: layer, Size: 10, CreatedAt: baseTime}) }},
		{"LinkBlob", func() error { return q.LinkBlob(ctx, r.ID, layer) }},
		{"LeaseBlob", func() error { return q.LeaseBlob(ctx, layer, at(time.Hour)) }},
		{"PutManifest", func() error {
			m = newManifest(r.ID, repo)
			return q.PutManifest(ctx, m, []meta.Reference{{Digest: layer, Kind: meta.RefBlob, Size: 10}})
		}},
		{"PutTag", func() error { _, err := q.PutTag(ctx, r.ID, "latest", m.Digest); return err }},
		{"CreateUpload", func() error { return q.CreateUpload(ctx, newUpload(r.ID, "upload of "+repo, at(time.Hour))) }},
	}
	for _, st := range steps {
		if err := st.fn(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
	}
	return r.ID, m
}

func testTxCommits(t *testing.T, s meta.Store) {
	var m *meta.Manifest
	var repoID int64
	err := s.WithTx(t.Context(), func(tx meta.Querier) error {
		repoID, m = pushAll(t, tx, "committed")
		return nil
	})
	if err != nil {
		t.Fatalf("WithTx: %v", err)
	}
	got, err := s.GetTaggedManifest(t.Context(), repoID, "latest", true)
	if err != nil {
		t.Fatalf("GetTaggedManifest after commit: %v", err)
	}
	diff(t, "GetTaggedManifest after commit", m.Digest, got.Digest)
	st, err := s.Stats(t.Context())
	if err != nil {
		t.Fatalf("Stats: %v", err)
	}
	diff(t, "Stats after commit", meta.Stats{Repositories: 1, Manifests: 1, Tags: 1, Blobs: 1, BlobBytes: 10, Uploads: 1}, st)
}

var errBoom = errors.New("boom")

func testTxRollsBack(t *testing.T, s meta.Store) {
	ctx := t.Context()
	kept := mustRepo(t, s, "kept")
	err := s.WithTx(ctx, func(tx meta.Querier) error {
		pushAll(t, tx, "rolled/back")
		if err := tx.PutBlob(ctx, meta.Blob{Digest: testDigest("lone"), Size: 1}); err != nil {
			return err
		}
		if err := tx.LinkBlob(ctx, kept.ID, testDigest("lone")); err != nil {
			return err
		}
		return fmt.Errorf("step 7: %w", errBoom)
	})
	if !errors.Is(err, errBoom) {
		t.Fatalf("WithTx = %v, want the fn's error", err)
	}
	_, err = s.GetRepository(ctx, "rolled/back")
	wantErr(t, "GetRepository after rollback", err, errdefs.ErrNotFound)
	_, err = s.GetBlob(ctx, testDigest("layer of rolled/back"))
	wantErr(t, "GetBlob after rollback", err, errdefs.ErrNotFound)
	_, err = s.GetLinkedBlob(ctx, kept.ID, testDigest("lone"))
	wantErr(t, "GetLinkedBlob after rollback", err, errdefs.ErrNotFound)
	lease, err := s.BlobLease(ctx, testDigest("layer of rolled/back"))
	if err != nil || !lease.IsZero() {
		t.Errorf("BlobLease after rollback = %v, %v; want zero time", lease, err)
	}
	_, err = s.GetUpload(ctx, "upload of rolled/back")
	wantErr(t, "GetUpload after rollback", err, errdefs.ErrNotFound)
	repos, err := s.ListRepositories(ctx, "", 10)
	if err != nil || len(repos) != 0 {
		t.Errorf("ListRepositories after rollback = %v, %v; want none", repos, err)
	}
	st, err := s.Stats(ctx)
	if err != nil {
		t.Fatalf("Stats: %v", err)
	}
	diff(t, "Stats after rollback", meta.Stats{Repositories: 1}, st)
}

func testTxReadsOwnWrites(t *testing.T, s meta.Store) {
	err := s.WithTx(t.Context(), func(tx meta.Querier) error {
		ctx := t.Context()
		repoID, m := pushAll(t, tx, "own")
		if r, err := tx.GetRepository(ctx, "own"); err != nil || r.ID != repoID {
			t.Errorf("GetRepository in tx = %+v, %v", r, err)
		}
		if _, err := tx.GetLinkedBlob(ctx, repoID, testDigest("layer of own")); err != nil {
			t.Errorf("GetLinkedBlob in tx: %v", err)
		}
		got, err := tx.GetTaggedManifest(ctx, repoID, "latest", true)
		if err != nil {
			t.Fatalf("GetTaggedManifest in tx: %v", err)
		}
		diff(t, "GetTaggedManifest in tx", m.Content, got.Content)
		if tags, err := tx.ListTags(ctx, repoID, "", 10); err != nil || len(tags) != 1 {
			t.Errorf("ListTags in tx = %v, %v", tags, err)
		}
		if repos, err := tx.ListRepositories(ctx, "", 10); err != nil || len(repos) != 1 {
			t.Errorf("ListRepositories in tx = %v, %v", repos, err)
		}
		if _, err := tx.GetUpload(ctx, "upload of own"); err != nil {
			t.Errorf("GetUpload in tx: %v", err)
		}
		missing, err := tx.MissingManifests(ctx, repoID, []digest.Digest{m.Digest})
		if err != nil || len(missing) != 0 {
			t.Errorf("MissingManifests in tx = %v, %v; want none", missing, err)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("WithTx: %v", err)
	}
}

// testTxConcurrent runs many writing transactions at once; every one must
// succeed (a backend queues or retries them, it does not fail them).
func testTxConcurrent(t *testing.T, s meta.Store) {
	const workers, each = 16, 4
	r := mustRepo(t, s, "busy")
	m := newManifest(r.ID, "base")
	mustPutManifest(t, s, m)
	errs := make(chan error, workers*each)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				name := fmt.Sprintf("w%d-%d", w, i)
				errs <- s.WithTx(t.Context(), func(tx meta.Querier) error {
					d := testDigest(name)
					if err := tx.PutBlob(t.Context(), meta.Blob{Digest: d, Size: 1}); err != nil {
						return err
					}
					if err := tx.LinkBlob(t.Context(), r.ID, d); err != nil {
						return err
					}
					if _, err := tx.PutTag(t.Context(), r.ID, name, m.Digest); err != nil {
						return err
					}
					_, err := tx.GetTag(t.Context(), r.ID, name)
					return err
				})
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("WithTx: %v", err)
		}
	}
	st, err := s.Stats(t.Context())
	if err != nil {
		t.Fatalf("Stats: %v", err)
	}
	if st.Tags != workers*each || st.Blobs != workers*each {
		t.Errorf("Stats = %+v, want %d tags and blobs", st, workers*each)
	}
}
