package gc

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/blob"
	"github.com/opencontainers/go-digest"
)

// benchBlobs is how many unreferenced blobs one benchmark operation
// sweeps.
const benchBlobs = 2000

// BenchmarkSweep measures a run over benchBlobs garbage blobs of 2 KiB on
// SQLite + filesystem (and PostgreSQL + S3 where available), seeded
// through the registry service beforehand (untimed). It reports blobs/min,
// the figure the sweep target is stated in.
func BenchmarkSweep(b *testing.B) {
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			e := newEnv(b, be)
			var swept int64
			var elapsed time.Duration
			for i := 0; b.Loop(); i++ {
				b.StopTimer()
				seedGarbage(b, e, i)
				e.clock.Advance(testLease + time.Minute)
				c, err := New(e.meta, e.blobs, Config{Now: e.clock.Now})
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				start := time.Now()
				rep, err := c.Run(b.Context(), Options{})
				elapsed += time.Since(start)
				if err != nil {
					b.Fatal(err)
				}
				if rep.Deleted != benchBlobs {
					b.Fatalf("run deleted %d blobs, want %d", rep.Deleted, benchBlobs)
				}
				swept += rep.Deleted
			}
			b.ReportMetric(float64(swept)/elapsed.Minutes(), "blobs/min")
		})
	}
}

// seedGarbage pushes benchBlobs distinct 2 KiB blobs (round i) with 16
// uploads at once; nothing references them.
func seedGarbage(b *testing.B, e *env, round int) {
	b.Helper()
	errs := blob.ParallelEach(context.Background(), benchBlobs, 16, func(ctx context.Context, n int) error {
		data := bytes.Repeat([]byte(fmt.Sprintf("%08d/%08d;", round, n)), 2048/18+1)[:2048]
		_, err := e.svc.PutBlob(ctx, "bench", digest.FromBytes(data), bytes.NewReader(data))
		return err
	})
	for _, err := range errs {
		if err != nil {
			b.Fatalf("seed: %v", err)
		}
	}
}
