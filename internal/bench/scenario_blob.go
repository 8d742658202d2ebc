package bench

import (
	"context"
	"fmt"
)

// copyBufSize is the read buffer of blob downloads.
const copyBufSize = 256 << 10

// bigBlob is the blob push-mono pushes and pull reads back. Its seed does
// not depend on the run, so pull finds it when push-mono ran earlier.
func bigBlob(c Config) Blob { return Blob{Seed: Seed("big-mono", 0), Size: c.BlobSize} }

func runPushMono(ctx context.Context, e *Env, sc Scenario) ([]Result, error) {
	b := bigBlob(e.Config)
	e.Log.Info("hashing blob", "bytes", b.Size)
	dg := e.Digests.Digest(b)
	r := e.measure(phase{scenario: sc.Name, concurrency: 1, unit: MiBPerSec,
		params: map[string]int64{"blob_bytes": b.Size}}, func() Tally {
		return RunCount(ctx, 1, 1, func(ctx context.Context, _, _ int) (int64, error) {
			return b.Size, e.Client.PushMonolithic(ctx, e.Config.repo("big"), b.Reader(), b.Size, dg)
		})
	})
	return []Result{r}, nil
}

func runPushChunked(ctx context.Context, e *Env, sc Scenario) ([]Result, error) {
	b := Blob{Seed: Seed("big-chunked-"+e.Config.RunID, 0), Size: e.Config.BlobSize}
	e.Log.Info("hashing blob", "bytes", b.Size)
	dg := e.Digests.Digest(b)
	chunk := e.Config.ChunkSize
	r := e.measure(phase{scenario: sc.Name, concurrency: 1, unit: MiBPerSec,
		params: map[string]int64{"blob_bytes": b.Size, "chunk_bytes": chunk}}, func() Tally {
		return RunCount(ctx, 1, 1, func(ctx context.Context, _, _ int) (int64, error) {
			return b.Size, e.Client.PushChunked(ctx, e.Config.repo("big"), b.Reader(), b.Size, chunk, dg)
		})
	})
	return []Result{r}, nil
}

func runPull(ctx context.Context, e *Env, sc Scenario) ([]Result, error) {
	b := bigBlob(e.Config)
	repo := e.Config.repo("big")
	dg := e.Digests.Digest(b)
	if err := ensureBlob(ctx, e, repo, b, dg); err != nil {
		return nil, err
	}
	r := e.measure(phase{scenario: sc.Name, concurrency: 1, unit: MiBPerSec,
		params: map[string]int64{"blob_bytes": b.Size}}, func() Tally {
		return RunCount(ctx, 1, 1, pullOp(e, repo, []string{dg}, 1))
	})
	return []Result{r}, nil
}

// runLargeBlob pushes then pulls a blob far larger than any buffer a server
// should hold; the server's peak RSS per phase next to its starting RSS
// shows whether memory grows with blob size.
func runLargeBlob(ctx context.Context, e *Env, sc Scenario) ([]Result, error) {
	b := Blob{Seed: Seed("large-"+e.Config.RunID, 0), Size: e.Config.LargeSize}
	repo := e.Config.repo("large")
	e.Log.Info("hashing blob", "bytes", b.Size)
	dg := e.Digests.Digest(b)
	params := map[string]int64{"blob_bytes": b.Size}
	push := e.measure(phase{scenario: sc.Name, name: "push", concurrency: 1, unit: MiBPerSec, params: params}, func() Tally {
		return RunCount(ctx, 1, 1, func(ctx context.Context, _, _ int) (int64, error) {
			return b.Size, e.Client.PushMonolithic(ctx, repo, b.Reader(), b.Size, dg)
		})
	})
	if push.Errors > 0 {
		return []Result{push}, nil // nothing to pull; the push's errors say why
	}
	pull := e.measure(phase{scenario: sc.Name, name: "pull", concurrency: 1, unit: MiBPerSec, params: params}, func() Tally {
		return RunCount(ctx, 1, 1, pullOp(e, repo, []string{dg}, 1))
	})
	return []Result{push, pull}, nil
}

// pullOp returns an operation that pulls digests[i] with a copy buffer per
// worker.
func pullOp(e *Env, repo string, digests []string, workers int) Op {
	bufs := make([][]byte, workers)
	return func(ctx context.Context, w, i int) (int64, error) {
		if bufs[w] == nil {
			bufs[w] = make([]byte, copyBufSize)
		}
		return e.Client.PullBlob(ctx, repo, digests[i%len(digests)], bufs[w])
	}
}

// ensureBlob pushes b to repo unless repo already serves it.
func ensureBlob(ctx context.Context, e *Env, repo string, b Blob, dg string) error {
	ok, err := e.Client.BlobExists(ctx, repo, dg)
	if err != nil {
		return fmt.Errorf("set-up: checking blob %s in %s: %w", dg, repo, err)
	}
	if ok {
		return nil
	}
	e.Log.Info("set-up: pushing blob", "repo", repo, "bytes", b.Size)
	if err := e.Client.PushMonolithic(ctx, repo, b.Reader(), b.Size, dg); err != nil {
		return fmt.Errorf("set-up: pushing blob to %s: %w", repo, err)
	}
	return nil
}
