package blob

import (
	"context"
	"sync"

	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/opencontainers/go-digest"
)

// BatchDeleter is an optional ability of a Store: removing many blobs at
// once for less than one Delete each (an S3 DeleteObjects request per
// thousand keys; one directory fsync per directory). Garbage collection
// uses it when the store has it.
type BatchDeleter interface {
	// DeleteMany removes every blob of dgsts and returns one error per
	// digest, in the order of dgsts (a slice of len(dgsts)): nil when the
	// digest is no longer stored once the call returns, durably as Delete
	// would leave it. A digest that was not stored is a success, not an
	// ErrNotFound error. A failure of the whole call (a done ctx, storage
	// unavailable) is reported on every digest it left stored. A digest
	// may appear once only.
	DeleteMany(ctx context.Context, dgsts []digest.Digest) []error
}

// DeleteMany removes dgsts from d and returns one error per digest, in the
// order of dgsts, with the contract of BatchDeleter.DeleteMany: it uses
// d's BatchDeleter if d has one, and otherwise calls Delete with at most
// parallel calls at once (at least one), counting ErrNotFound as success.
func DeleteMany(ctx context.Context, d Deleter, dgsts []digest.Digest, parallel int) []error {
	if bd, ok := d.(BatchDeleter); ok {
		return bd.DeleteMany(ctx, dgsts)
	}
	return ParallelEach(ctx, len(dgsts), parallel, func(ctx context.Context, i int) error {
		err := d.Delete(ctx, dgsts[i])
		if errdefs.IsNotFound(err) {
			return nil
		}
		return err
	})
}

// ParallelEach calls fn(ctx, i) for every i in [0, n), with at most
// parallel calls at once (at least one), and returns their errors by i.
// Once ctx is done the calls not yet started are skipped and fail with
// its error. Drivers build DeleteMany from per-blob steps with it.
func ParallelEach(ctx context.Context, n, parallel int, fn func(ctx context.Context, i int) error) []error {
	errs := make([]error, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, max(parallel, 1))
	for i := range n {
		if err := ctx.Err(); err != nil {
			errs[i] = err
			continue
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			errs[i] = fn(ctx, i)
		})
	}
	wg.Wait()
	return errs
}
