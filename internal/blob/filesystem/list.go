package filesystem

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"time"

	"github.com/berth-registry/berth/internal/blob"
)

var _ blob.UploadLister = (*Store)(nil)

// ListUploads calls fn for every upload directory, with the time its data
// file last changed (the directory's time if it has no data file yet).
// Names that are not valid upload ids are skipped: nothing else is ever
// written there, and a stray file must not stop the sweep.
func (s *Store) ListUploads(ctx context.Context, fn func(id string, modified time.Time) error) error {
	root := s.mustPath(uploadsRootSpec{})
	entries, err := os.ReadDir(root)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return ioError(err, "list uploads")
	}
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return err
		}
		id := e.Name()
		if !e.IsDir() || validateID(id) != nil {
			continue
		}
		fi, err := os.Stat(s.mustPath(uploadDataSpec{id}))
		if errors.Is(err, fs.ErrNotExist) {
			fi, err = e.Info()
		}
		if errors.Is(err, fs.ErrNotExist) {
			continue // removed meanwhile
		}
		if err != nil {
			return ioError(err, "stat upload %s", id)
		}
		if err := fn(id, fi.ModTime()); err != nil {
			return err
		}
	}
	return nil
}
