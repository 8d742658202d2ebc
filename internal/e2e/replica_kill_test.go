package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/berthtest"
	"github.com/google/go-cmp/cmp"
	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

const (
	// killUploadSize is the layer streamed to the replica that is killed;
	// killChunk the chunk acknowledged before the stream and the chunk
	// size of the resumed upload.
	killUploadSize = 128 << 20
	killChunk      = 8 << 20
	// killPause is how much of the rest the stream sends before the kill:
	// more than the 64 MiB after which a streamed PATCH saves its progress
	// (internal/registry), so the survivors resume from a point the killed
	// replica saved in the middle of the request.
	killPause = 80 << 20
	// killStormWorkers push images while the replica dies; each needs
	// killStormAcked pushes acknowledged before the kill and as many after.
	killStormWorkers = 3
	killStormAcked   = 20
)

// TestReplicaKilled kills one of three replicas with SIGKILL in the middle
// of a large streamed upload and of a storm of image pushes spread over all
// three. Clients go on through the other replicas: the upload resumes
// from the offset another replica reports, and pushes that failed with the
// replica are sent again elsewhere. Everything ends complete and pullable
// from both survivors, and from the killed replica once it is restarted on
// the same settings.
func TestReplicaKilled(t *testing.T) {
	berthBinary(t)
	t.Parallel()
	c := newScaleOut(t, 3)
	ctx := context.Background()
	regs := c.regs()
	up := &killedUpload{repo: "killed/big", content: stream{seed: 11, size: killUploadSize}}
	up.start(t, regs[0])
	storm := startKillStorm(c)
	defer storm.stop()

	// The stream stops after killPause bytes until the kill, so the
	// replica dies with the upload half sent, however fast the machine.
	body := &pausingReader{r: up.content.from(up.acked), pauseAt: killPause, paused: make(chan struct{}), release: make(chan struct{})}
	streamErr := make(chan error, 1)
	go func() {
		_, _, err := regs[0].PatchStream(ctx, up.loc, body)
		streamErr <- err
	}()
	waitFor(t, time.Minute, "the stream paused and the storm under way", func() bool {
		return body.hasPaused() && storm.acked.Load() >= killStormWorkers*killStormAcked
	})
	eventually(t, 30*time.Second, "replica 1 reports progress saved during the streamed PATCH", func() error {
		off, err := regs[1].UploadStatus(ctx, up.loc)
		if err == nil && off <= up.acked {
			err = fmt.Errorf("the upload holds %d bytes, as before the stream", off)
		}
		up.saved = off
		return err
	})
	c.replicas[0].Kill()
	close(body.release)
	if err := <-streamErr; err == nil {
		t.Fatal("the streamed PATCH completed although the replica was killed during it")
	}
	up.sent = body.sent
	before := storm.acked.Load()
	waitFor(t, time.Minute, "the storm going on through the survivors", func() bool {
		return storm.acked.Load() >= before+killStormWorkers*killStormAcked || storm.failed()
	})
	pushes := storm.stop()
	if err := storm.err(); err != nil {
		t.Errorf("image pushes failed: %v", err)
	}
	t.Logf("killed replica 0 after %d MiB acknowledged and %d MiB streamed, and %d image pushes acknowledged; %d pushes retried on another replica",
		up.acked>>20, up.sent>>20, before, storm.retried.Load())

	image := up.resume(t, regs[1], regs[2])
	for i := 1; i < 3; i++ {
		t.Run(fmt.Sprintf("survivor %d", i), func(t *testing.T) {
			checkKilledImage(t, regs[i], up, image)
			checkStormPushes(t, regs[i], pushes)
		})
	}
	c.restart(t, 0)
	t.Run("restarted replica", func(t *testing.T) {
		checkKilledImage(t, c.reg(0), up, image)
		checkStormPushes(t, c.reg(0), pushes)
	})
}

// waitFor polls cond until it holds, failing the test after bound.
func waitFor(t *testing.T, bound time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(bound)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s", bound, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// pausingReader reads r until pauseAt bytes have been read, then closes
// paused and blocks until release is closed, and fails from then on.
type pausingReader struct {
	r       io.Reader
	pauseAt int64
	// sent is the number of bytes read, safe to read once paused is closed.
	sent            int64
	paused, release chan struct{}
}

func (p *pausingReader) Read(b []byte) (int, error) {
	if p.sent >= p.pauseAt {
		if !p.hasPaused() {
			close(p.paused)
		}
		<-p.release
		return 0, errors.New("stream stopped: the replica was killed")
	}
	n, err := p.r.Read(b[:min(int64(len(b)), p.pauseAt-p.sent)])
	p.sent += int64(n)
	return n, err
}

func (p *pausingReader) hasPaused() bool {
	select {
	case <-p.paused:
		return true
	default:
		return false
	}
}

// killedUpload is the large upload cut by the kill.
type killedUpload struct {
	repo    string
	content stream
	// loc is the session's location path; acked how many bytes were
	// acknowledged before the stream, sent how many the stream handed to
	// the connection before the kill.
	loc         string
	acked, sent int64
	// saved is what a survivor reported the upload to hold just before
	// the kill.
	saved int64
}

// start opens the upload on reg and sends its first chunk there.
func (u *killedUpload) start(t *testing.T, reg *berthtest.Registry) {
	t.Helper()
	ctx := context.Background()
	loc, err := reg.StartUpload(ctx, u.repo)
	if err != nil {
		t.Fatal(err)
	}
	next, off, err := reg.PatchChunk(ctx, pathOf(t, loc), 0, u.content.section(0, killChunk), killChunk)
	if err != nil || off != killChunk {
		t.Fatalf("first chunk: %d bytes held (%v), want %d", off, err, killChunk)
	}
	u.loc, u.acked = pathOf(t, next), off
}

// resume asks a survivor where the upload stands, sends the rest in
// chunks alternating between the survivors, completes it on the second
// one and pushes an image whose layer it is. It returns the image's
// manifest.
func (u *killedUpload) resume(t *testing.T, a, b *berthtest.Registry) content {
	t.Helper()
	ctx := context.Background()
	off, err := a.UploadStatus(ctx, u.loc)
	if err != nil {
		t.Fatalf("status of the upload on a survivor, after %d bytes were acknowledged by the killed replica: %v", u.acked, err)
	}
	if off < u.saved || off > u.acked+u.sent {
		t.Fatalf("a survivor says the upload holds %d bytes; want between %d (saved before the kill) and %d (sent)", off, u.saved, u.acked+u.sent)
	}
	t.Logf("resuming at byte %d on the survivors", off)
	regs := []*berthtest.Registry{a, b}
	for i := 0; off < u.content.size; i++ {
		n := min(killChunk, u.content.size-off)
		next, got, err := regs[i%2].PatchChunk(ctx, u.loc, off, u.content.section(off, n), n)
		if err != nil || got != off+n {
			t.Fatalf("chunk at %d: %d bytes held (%v), want %d", off, got, err, off+n)
		}
		u.loc, off = pathOf(t, next), got
	}
	layer := v1.Descriptor{MediaType: v1.MediaTypeImageLayer, Digest: u.content.digest(), Size: u.content.size}
	if err := b.CompleteUpload(ctx, u.loc, layer.Digest); err != nil {
		t.Fatalf("complete the upload: %v", err)
	}
	config := newContent(v1.MediaTypeImageConfig, fmt.Appendf(nil,
		`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["%s"]}}`, layer.Digest))
	if _, err := a.PushBlob(ctx, u.repo, config.Data); err != nil {
		t.Fatal(err)
	}
	m := newContent(v1.MediaTypeImageManifest, mustJSON(t, v1.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: v1.MediaTypeImageManifest,
		Config: config.Desc, Layers: []v1.Descriptor{layer},
	}))
	if _, err := b.PutManifest(ctx, u.repo, "v1", m.Desc.MediaType, m.Data); err != nil {
		t.Fatal(err)
	}
	return m
}

// checkKilledImage pulls the image of the resumed upload from reg: the
// manifest by tag, the config, and the large layer byte for byte.
func checkKilledImage(t *testing.T, reg *berthtest.Registry, u *killedUpload, m content) {
	t.Helper()
	ctx := context.Background()
	body, _, dgst, err := reg.GetManifest(ctx, u.repo, "v1")
	if err != nil {
		t.Fatal(err)
	}
	if dgst != m.Desc.Digest {
		t.Fatalf("%s:v1 is %s, want %s", u.repo, dgst, m.Desc.Digest)
	}
	checkBytes(t, "manifest", body, m.Data)
	var man v1.Manifest
	if err := json.Unmarshal(body, &man); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.GetBlob(ctx, u.repo, man.Config.Digest); err != nil {
		t.Errorf("config: %v", err)
	}
	rc, size, err := reg.OpenBlob(ctx, u.repo, u.content.digest())
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if err := sameContent(rc, u.content.from(0)); err != nil || size != u.content.size {
		t.Errorf("layer read back (Content-Length %d, want %d): %v", size, u.content.size, err)
	}
}

// stormPush is one image push of the storm that a replica acknowledged.
type stormPush struct {
	repo     string
	manifest content
	blobs    []content
}

// killStorm pushes images from several goroutines, each to the next replica
// in turn, and sends a push that fails with a dead replica again to the
// next one, as a client behind a load balancer would retry.
type killStorm struct {
	c       *scaleOut
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	acked   atomic.Int64
	retried atomic.Int64

	mu     sync.Mutex
	pushes []stormPush
	errs   []error
}

func startKillStorm(c *scaleOut) *killStorm {
	ctx, cancel := context.WithCancel(context.Background())
	s := &killStorm{c: c, cancel: cancel}
	regs := c.regs()
	for w := range killStormWorkers {
		s.wg.Go(func() { s.worker(ctx, regs, w) })
	}
	return s
}

// worker pushes a new image to its own repository's tag latest each round.
func (s *killStorm) worker(ctx context.Context, regs []*berthtest.Registry, w int) {
	repo := fmt.Sprintf("killed/storm-%d", w)
	for i := 0; ctx.Err() == nil; i++ {
		p := stormImage(w, i, repo)
		var err error
		for try := range len(regs) {
			reg := regs[(w+i+try)%len(regs)]
			if err = pushStormImage(ctx, reg, p); err == nil || ctx.Err() != nil || isStatus(err) {
				break
			}
			s.retried.Add(1) // a dead replica: the next one gets the push
		}
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			s.mu.Lock()
			s.errs = append(s.errs, fmt.Errorf("worker %d round %d: %w", w, i, err))
			s.mu.Unlock()
			return
		}
		s.mu.Lock()
		s.pushes = append(s.pushes, p)
		s.mu.Unlock()
		s.acked.Add(1)
	}
}

// stormImage is image i of worker w: a small layer, a config and the
// manifest.
func stormImage(w, i int, repo string) stormPush {
	layer := newContent(v1.MediaTypeImageLayer, randomBytes(2048+(i*97)%5000, uint64(w)<<32|uint64(i)|1<<60))
	config := newContent(v1.MediaTypeImageConfig, fmt.Appendf(nil,
		`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["%s"]},"config":{"Labels":{"worker":"%d","round":"%d"}}}`,
		layer.Desc.Digest, w, i))
	m := newContent(v1.MediaTypeImageManifest, mustMarshal(v1.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: v1.MediaTypeImageManifest,
		Config: config.Desc, Layers: []v1.Descriptor{layer.Desc},
	}))
	return stormPush{repo: repo, manifest: m, blobs: []content{layer, config}}
}

func pushStormImage(ctx context.Context, reg *berthtest.Registry, p stormPush) error {
	for _, b := range p.blobs {
		if _, err := reg.PushBlob(ctx, p.repo, b.Data); err != nil {
			return err
		}
	}
	_, err := reg.PutManifest(ctx, p.repo, "latest", p.manifest.Desc.MediaType, p.manifest.Data)
	return err
}

// isStatus reports whether err is an HTTP answer (the replica lives and
// refused), not a failed connection.
func isStatus(err error) bool {
	var se *berthtest.StatusError
	return errors.As(err, &se)
}

// failed reports whether a worker gave up.
func (s *killStorm) failed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.errs) > 0
}

// stop ends the storm, waits for the workers and returns the acknowledged
// pushes. It may be called more than once.
func (s *killStorm) stop() []stormPush {
	s.cancel()
	s.wg.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pushes
}

// err returns the storm's failures: pushes refused with an HTTP error, or
// that no replica could take.
func (s *killStorm) err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return errors.Join(s.errs...)
}

// checkStormPushes wants every acknowledged push readable from reg with
// its bytes, and each worker's tag at its last acknowledged push.
func checkStormPushes(t *testing.T, reg *berthtest.Registry, pushes []stormPush) {
	t.Helper()
	ctx := context.Background()
	last := map[string]digest.Digest{}
	for _, p := range pushes {
		last[p.repo] = p.manifest.Desc.Digest
		body, _, _, err := reg.GetManifest(ctx, p.repo, p.manifest.Desc.Digest.String())
		if err != nil {
			t.Errorf("acknowledged manifest %s@%s: %v", p.repo, p.manifest.Desc.Digest, err)
			continue
		}
		checkBytes(t, "manifest "+p.manifest.Desc.Digest.String(), body, p.manifest.Data)
		for _, b := range p.blobs {
			got, err := reg.GetBlob(ctx, p.repo, b.Desc.Digest)
			if err != nil {
				t.Errorf("blob of an acknowledged push: %v", err)
				continue
			}
			checkBytes(t, "blob "+b.Desc.Digest.String(), got, b.Data)
		}
	}
	for repo, want := range last {
		if err := answers(reg, repo, "latest", want); err != nil {
			t.Errorf("%s:latest, last pushed as %s: %v", repo, want, err)
		}
		tags, err := reg.Tags(ctx, repo)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{"latest"}, tags); diff != "" {
			t.Errorf("tags of %s (-want +got):\n%s", repo, diff)
		}
	}
}
