package filesystem

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/berth-registry/berth/internal/blob"
	"github.com/opencontainers/go-digest"
)

// deleteParallel bounds the unlinks and directory syncs of one DeleteMany.
const deleteParallel = 16

var _ blob.BatchDeleter = (*Store)(nil)

// DeleteMany removes dgsts (blob.BatchDeleter): up to 16 unlinks at once,
// then one fsync per fan-out directory that lost a file, rather than one
// per blob as Delete does. A digest counts as deleted only once its
// directory is synced, so a crash cannot undo a reported deletion. A
// digest that was not stored is a success.
func (s *Store) DeleteMany(ctx context.Context, dgsts []digest.Digest) []error {
	paths := make([]string, len(dgsts))
	removed := make([]bool, len(dgsts))
	errs := blob.ParallelEach(ctx, len(dgsts), deleteParallel, func(ctx context.Context, i int) error {
		p, err := pathFor(s.root, blobSpec{dgsts[i]})
		if err != nil {
			return fmt.Errorf("delete blob: %w", err)
		}
		paths[i] = p
		err = os.Remove(p)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return ioError(err, "delete blob %s", dgsts[i])
		}
		removed[i] = true
		return nil
	})

	// Make the removals durable: one fsync per directory that lost a file.
	byDir := map[string][]int{}
	for i, ok := range removed {
		if ok {
			d := filepath.Dir(paths[i])
			byDir[d] = append(byDir[d], i)
		}
	}
	dirs := make([]string, 0, len(byDir))
	for d := range byDir {
		dirs = append(dirs, d)
	}
	// The sync runs even once ctx is done: the unlinks happened.
	syncErrs := blob.ParallelEach(context.WithoutCancel(ctx), len(dirs), deleteParallel, func(_ context.Context, j int) error {
		return syncDir(dirs[j])
	})
	for j, err := range syncErrs {
		if err == nil {
			continue
		}
		for _, i := range byDir[dirs[j]] {
			errs[i] = fmt.Errorf("delete blob %s: %w", dgsts[i], err)
		}
	}
	return errs
}
