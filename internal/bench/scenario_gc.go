package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"sync/atomic"
	"time"
)

// BlobsPerMin is the unit of the garbage collection sweep rate; higher is
// better.
const BlobsPerMin Unit = "blobs/min"

// gcReport is the part of `berth gc -o json` the scenario reads.
type gcReport struct {
	Resumed  int64 `json:"resumed"`
	Examined int64 `json:"examined"`
	Deleted  int64 `json:"deleted"`
	Bytes    int64 `json:"bytes"`
	Kept     int64 `json:"kept"`
	Duration int64 `json:"duration_ns"`
}

// gcBlob is the i-th unreferenced blob of this run.
func gcBlob(c Config, i int) Blob {
	return Blob{Seed: Seed("gc-"+c.RunID, i), Size: c.GCBlobSize}
}

// runGCSweep seeds Config.GCBlobs small unreferenced blobs through the
// API, waits until the uploads' leases end (Config.GCLease, which must be
// at least the server's uploads.blob_lease and gc.grace), then runs Config.GCCommand (the real
// `berth gc` against the server's stores, beside the running server)
// while a pusher keeps pushing images at Config.GCPushRate. Its phases:
// "sweep" (blobs/min of the gc run, its wall time including start-up) and
// "pushes" (the pusher's ops/s and errors during the sweep; a
// BLOB_UNKNOWN there would be a broken fence).
func runGCSweep(ctx context.Context, e *Env, sc Scenario) ([]Result, error) {
	c := e.Config
	if len(c.GCCommand) == 0 {
		return nil, errors.New("gc-sweep needs the gc command (--gc-command 'berth gc --data-dir DIR')")
	}
	repo := c.repo("gc", c.RunID)
	e.Log.Info("set-up: pushing unreferenced blobs", "count", c.GCBlobs, "bytes", c.GCBlobSize)
	seedStart := time.Now()
	seed := RunCount(ctx, c.GCBlobs, c.concurrency(sc.Name+"/seed", 32), func(ctx context.Context, _, i int) (int64, error) {
		b := gcBlob(c, i)
		return b.Size, e.Client.PushMonolithic(ctx, repo, b.Reader(), b.Size, DigestOf(b))
	})
	if seed.Errors > 0 {
		return nil, fmt.Errorf("set-up: %d of %d blob pushes failed: %v", seed.Errors, c.GCBlobs, seed.Failures.Samples())
	}
	e.Log.Info("set-up: seeded", "blobs", seed.Ops, "wall", time.Since(seedStart).Round(time.Millisecond))
	// Every seeded blob is leased until its push plus the lease.
	select {
	case <-time.After(c.GCLease + time.Second):
	case <-ctx.Done():
		return nil, ctx.Err()
	}

	pusher := newGCPusher(e, repo)
	if err := pusher.setUp(ctx); err != nil {
		return nil, err
	}
	var rep gcReport
	var runErr error
	var pushes Tally
	sweepDone := make(chan struct{})
	sweep := e.measure(phase{scenario: sc.Name, name: "sweep", concurrency: 1, unit: BlobsPerMin,
		params: map[string]int64{"blobs": int64(c.GCBlobs), "blob_bytes": c.GCBlobSize}}, func() Tally {
		go func() {
			pushes = pusher.run(ctx, c.GCPushRate, sweepDone)
		}()
		start := time.Now()
		rep, runErr = runGCCommand(ctx, c.GCCommand)
		wall := time.Since(start)
		close(sweepDone)
		t := Tally{Wall: wall, Failures: NewErrorLog(), Ops: rep.Deleted + rep.Resumed, Bytes: rep.Bytes}
		switch {
		case runErr != nil:
			t.Errors = 1
			t.Failures.Add(runErr)
		case t.Ops == 0:
			// Nothing collected: the seeded blobs were still leased.
			t.Errors = 1
			t.Failures.Add(errors.New("the gc run collected nothing: --gc-lease must be at least the server's uploads.blob_lease and gc.grace"))
		}
		return t
	})
	<-pusher.finished
	pushRes := Result{
		Name: sc.Name + "/pushes", Scenario: sc.Name, Phase: "pushes", Timed: true, Concurrency: gcPushers,
		Params: map[string]int64{"rate": int64(c.GCPushRate)},
		Ops:    pushes.Ops, Errors: pushes.Errors, Bytes: pushes.Bytes, WallSeconds: pushes.Wall.Seconds(),
		Unit: OpsPerSec, Latency: Summarize(pushes.Latencies), ErrorSamples: pushes.Failures.Samples(),
	}
	pushRes.Value = headline(pushRes)
	e.Log.Info("gc run", "deleted", rep.Deleted, "resumed", rep.Resumed, "kept", rep.Kept,
		"gc_duration", time.Duration(rep.Duration).Round(time.Millisecond), "pushes", pushes.Ops, "push_errors", pushes.Errors)
	return []Result{sweep, pushRes}, nil
}

// runGCCommand runs the gc command (with -o json appended) and parses its
// report.
func runGCCommand(ctx context.Context, command []string) (gcReport, error) {
	args := append(append([]string{}, command[1:]...), "-o", "json")
	cmd := exec.CommandContext(ctx, command[0], args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return gcReport{}, fmt.Errorf("%s: %w: %s", command[0], err, truncate(stderr.String(), 500))
	}
	var rep gcReport
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		return rep, fmt.Errorf("%s: reading its JSON report: %w", command[0], err)
	}
	return rep, nil
}

// gcPushers is the pusher's concurrency.
const gcPushers = 2

// gcPusher pushes images during the sweep the way clients do: HEAD the
// shared config (upload it if missing), upload one seeded blob again if
// the registry says it is gone (it may be the very blob the sweep is
// deleting), and push a manifest naming both by a new tag.
type gcPusher struct {
	e        *Env
	repo     string
	config   []byte
	finished chan struct{}
}

func newGCPusher(e *Env, repo string) *gcPusher {
	return &gcPusher{e: e, repo: repo + "-push", finished: make(chan struct{})}
}

// setUp pushes the shared config.
func (p *gcPusher) setUp(ctx context.Context) error {
	p.config = ImageConfig(nil)
	if err := p.e.Client.PushBytes(ctx, p.repo, p.config); err != nil {
		return fmt.Errorf("set-up: pushing the pusher's config: %w", err)
	}
	return nil
}

// run pushes images at about rate a second until done is closed, and
// tallies them.
func (p *gcPusher) run(ctx context.Context, rate int, done <-chan struct{}) Tally {
	defer close(p.finished)
	start := time.Now()
	var stopped atomic.Bool
	go func() {
		<-done
		stopped.Store(true)
	}()
	var next atomic.Int64
	c := p.e.Config
	return runWorkers(ctx, gcPushers, 1024, func(ctx context.Context, _, i int) (int64, error) {
		layer := gcBlob(c, (i*7919)%c.GCBlobs) // spread over the digest space
		return p.pushImage(ctx, layer, i)
	}, func() (int, bool) {
		i := int(next.Add(1)) - 1
		if rate > 0 {
			at := start.Add(time.Duration(i) * time.Second / time.Duration(rate))
			for time.Now().Before(at) && !stopped.Load() {
				time.Sleep(min(time.Until(at), 20*time.Millisecond))
			}
		}
		return i, !stopped.Load()
	})
}

// pushImage pushes one image whose layer is layer, tagged by i.
func (p *gcPusher) pushImage(ctx context.Context, layer Blob, i int) (int64, error) {
	cl := p.e.Client
	configDesc := Descriptor{MediaType: MediaTypeConfig, Digest: DigestOfBytes(p.config), Size: int64(len(p.config))}
	layerDesc := Descriptor{MediaType: MediaTypeLayer, Digest: DigestOf(layer), Size: layer.Size}
	var sent int64
	for _, b := range []struct {
		desc Descriptor
		push func() error
	}{
		{configDesc, func() error { return cl.PushBytes(ctx, p.repo, p.config) }},
		{layerDesc, func() error { return cl.PushMonolithic(ctx, p.repo, layer.Reader(), layer.Size, layerDesc.Digest) }},
	} {
		ok, err := cl.BlobExists(ctx, p.repo, b.desc.Digest)
		if err != nil {
			return sent, err
		}
		if !ok {
			if err := b.push(); err != nil {
				return sent, err
			}
			sent += b.desc.Size
		}
	}
	man := ImageManifest(configDesc, []Descriptor{layerDesc}, fmt.Sprintf("gc-%d", i))
	if _, err := cl.PutManifest(ctx, p.repo, fmt.Sprintf("p%06d", i), MediaTypeManifest, man); err != nil {
		return sent, err
	}
	return sent + int64(len(man)), nil
}
