package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/berthtest"
	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

const (
	stormWorkers = 4
	// stormAcked is how many manifest pushes must be acknowledged before
	// the kill.
	stormAcked = 150
)

var (
	stormRepos = []string{"storm/a", "storm/b", "storm/c"}
	stormTags  = []string{"latest", "stable", "v1", "v2"}
)

// stormOp is one request of the storm as the client saw it: a blob push or
// a manifest push by tag (a new manifest, or an existing one, which only
// moves the tag).
type stormOp struct {
	repo string
	// tag is set for a manifest push.
	tag  string
	blob content
	// start is when the request was sent, ack when its 201 arrived (zero
	// if it never did).
	start, ack time.Time
}

func (o *stormOp) acked() bool { return !o.ack.IsZero() }

// stormLog records operations from several goroutines.
type stormLog struct {
	mu  sync.Mutex
	ops []*stormOp
}

func (l *stormLog) add(o *stormOp) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ops = append(l.ops, o)
}

// manifestStorm pushes images and moves tags from several goroutines and
// kills p with SIGKILL once stormAcked manifest pushes have been
// acknowledged, while requests are in flight. It returns every operation
// attempted.
func manifestStorm(t *testing.T, p *berthtest.Process) []*stormOp {
	t.Helper()
	reg := p.Registry()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var (
		log      stormLog
		acked    atomic.Int64
		killed   atomic.Bool
		wg       sync.WaitGroup
		mu       sync.Mutex
		failures []error
	)
	for w := range stormWorkers {
		wg.Go(func() {
			err := stormWorker(ctx, reg, w, &log, &acked)
			if err != nil && !killed.Load() {
				mu.Lock()
				failures = append(failures, err)
				mu.Unlock()
				cancel()
			}
		})
	}
	deadline := time.Now().Add(time.Minute)
	for acked.Load() < stormAcked && ctx.Err() == nil && time.Now().Before(deadline) {
		time.Sleep(2 * time.Millisecond)
	}
	killed.Store(true)
	p.Kill()
	cancel()
	wg.Wait()
	for _, err := range failures {
		t.Errorf("storm request failed before the kill: %v", err)
	}
	if n := acked.Load(); n < stormAcked {
		t.Fatalf("only %d manifest pushes acknowledged within a minute, want %d", n, stormAcked)
	}
	inFlight := 0
	for _, o := range log.ops {
		if !o.acked() {
			inFlight++
		}
	}
	t.Logf("killed during the storm: %d requests, %d manifest pushes acknowledged, %d unanswered", len(log.ops), acked.Load(), inFlight)
	return log.ops
}

// stormWorker loops until a request fails: it pushes a new image (a layer
// and a config, then the manifest by tag) or, every third round, pushes
// one of its earlier manifests under another tag.
func stormWorker(ctx context.Context, reg *berthtest.Registry, w int, log *stormLog, acked *atomic.Int64) error {
	var mine []*stormOp
	for i := 0; ctx.Err() == nil; i++ {
		repo := stormRepos[(w+i)%len(stormRepos)]
		tag := stormTags[(w*7+i*3)%len(stormTags)]
		var manifest content
		if prev := earlier(mine, repo); i%3 == 2 && prev != nil {
			manifest = prev.blob
		} else {
			layer := newContent(v1.MediaTypeImageLayer, randomBytes(1024+(i*131)%7000, uint64(w)<<32|uint64(i)))
			config := newContent(v1.MediaTypeImageConfig, fmt.Appendf(nil, `{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["%s"]},"config":{"Labels":{"worker":"%d","round":"%d"}}}`, layer.Desc.Digest, w, i))
			for _, b := range []content{layer, config} {
				op := &stormOp{repo: repo, blob: b, start: time.Now()}
				log.add(op)
				if _, err := reg.PushBlob(ctx, repo, b.Data); err != nil {
					return fmt.Errorf("push blob %s to %s: %w", b.Desc.Digest, repo, err)
				}
				op.ack = time.Now()
			}
			manifest = newContent(v1.MediaTypeImageManifest, mustMarshal(v1.Manifest{
				Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: v1.MediaTypeImageManifest,
				Config: config.Desc, Layers: []v1.Descriptor{layer.Desc},
			}))
		}
		op := &stormOp{repo: repo, tag: tag, blob: manifest, start: time.Now()}
		log.add(op)
		if _, err := reg.PutManifest(ctx, repo, tag, v1.MediaTypeImageManifest, manifest.Data); err != nil {
			return fmt.Errorf("push manifest %s:%s: %w", repo, tag, err)
		}
		op.ack = time.Now()
		acked.Add(1)
		mine = append(mine, op)
	}
	return nil
}

// earlier returns one of ops pushed to repo, or nil.
func earlier(ops []*stormOp, repo string) *stormOp {
	for i := len(ops) - 1; i >= 0; i-- {
		if ops[i].repo == repo {
			return ops[i]
		}
	}
	return nil
}

// checkStorm checks the registry against what the storm's client saw:
// everything acknowledged is there, everything unanswered is either there
// whole or absent, each tag points at a manifest some push may have left
// it at, and the catalog and tag lists agree.
func checkStorm(t *testing.T, reg *berthtest.Registry, ops []*stormOp) {
	ctx := context.Background()
	// What the registry must and may hold, by repository.
	mustRepos, mayRepos := map[string]bool{}, map[string]bool{}
	mustTags, mayTags := map[string]map[string]bool{}, map[string]map[string]bool{}
	known := map[digest.Digest][]byte{}
	for _, o := range ops {
		known[o.blob.Desc.Digest] = o.blob.Data
		if o.tag == "" {
			continue
		}
		mayRepos[o.repo] = true
		addTag(mayTags, o.repo, o.tag)
		if o.acked() {
			mustRepos[o.repo] = true
			addTag(mustTags, o.repo, o.tag)
		}
	}

	catalog, err := reg.Catalog(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Other parts of the crash test use other repositories.
	catalog = slices.DeleteFunc(catalog, func(r string) bool { return !strings.HasPrefix(r, "storm/") })
	checkBetween(t, "catalog", catalog, mustRepos, mayRepos)
	for repo := range mayRepos {
		tags, err := reg.Tags(ctx, repo)
		if err != nil && !(berthtest.IsStatus(err, 404) && !mustRepos[repo]) {
			t.Fatalf("tags of %s: %v", repo, err)
		}
		checkBetween(t, "tags of "+repo, tags, mustTags[repo], mayTags[repo])
		for _, tag := range tags {
			checkTag(t, reg, repo, tag, ops, known)
		}
	}

	checked := map[string]bool{}
	for _, o := range ops {
		key := o.repo + "@" + o.blob.Desc.Digest.String()
		if checked[key] && !o.acked() {
			continue
		}
		checked[key] = true
		if o.tag == "" {
			checkStormBlob(t, reg, o)
		} else {
			checkStormManifest(t, reg, o, known)
		}
	}
}

func addTag(m map[string]map[string]bool, repo, tag string) {
	if m[repo] == nil {
		m[repo] = map[string]bool{}
	}
	m[repo][tag] = true
}

// checkBetween wants every name of must in got and every name of got in
// may.
func checkBetween(t *testing.T, what string, got []string, must, may map[string]bool) {
	t.Helper()
	for name := range must {
		if !slices.Contains(got, name) {
			t.Errorf("%s: %q is missing although its push was acknowledged (got %q)", what, name, got)
		}
	}
	for _, name := range got {
		if !may[name] {
			t.Errorf("%s: %q was never pushed", what, name)
		}
	}
}

// checkTag wants tag to resolve to a manifest one of its pushes may have
// left it at: any push never acknowledged, or an acknowledged push that no
// acknowledged push of the same tag started after.
func checkTag(t *testing.T, reg *berthtest.Registry, repo, tag string, ops []*stormOp, known map[digest.Digest][]byte) {
	t.Helper()
	body, _, dgst, err := reg.GetManifest(context.Background(), repo, tag)
	if err != nil {
		t.Errorf("%s:%s is listed but does not resolve: %v", repo, tag, err)
		return
	}
	checkBytes(t, repo+":"+tag, body, known[dgst])
	var pushes []*stormOp
	for _, o := range ops {
		if o.repo == repo && o.tag == tag {
			pushes = append(pushes, o)
		}
	}
	for _, x := range pushes {
		if x.blob.Desc.Digest != dgst {
			continue
		}
		superseded := x.acked() && slices.ContainsFunc(pushes, func(y *stormOp) bool { return y.acked() && y.start.After(x.ack) })
		if !superseded {
			return
		}
	}
	t.Errorf("%s:%s points at %s, which an acknowledged later push of the tag replaced (or which was never pushed under it)", repo, tag, dgst)
}

// checkStormBlob wants an acknowledged blob readable with its bytes, and an
// unanswered one readable with its bytes or absent.
func checkStormBlob(t *testing.T, reg *berthtest.Registry, o *stormOp) {
	t.Helper()
	got, err := reg.GetBlob(context.Background(), o.repo, o.blob.Desc.Digest)
	switch {
	case err == nil:
		checkBytes(t, "blob "+o.blob.Desc.Digest.String(), got, o.blob.Data)
	case o.acked() || !berthtest.IsStatus(err, 404):
		t.Errorf("blob %s@%s (acknowledged %v): %v", o.repo, o.blob.Desc.Digest, o.acked(), err)
	}
}

// checkStormManifest wants an acknowledged manifest readable with its
// bytes, an unanswered one readable or absent, and every blob a stored
// manifest names readable with its digest.
func checkStormManifest(t *testing.T, reg *berthtest.Registry, o *stormOp, known map[digest.Digest][]byte) {
	t.Helper()
	ctx := context.Background()
	body, _, _, err := reg.GetManifest(ctx, o.repo, o.blob.Desc.Digest.String())
	switch {
	case err == nil:
		checkBytes(t, "manifest "+o.blob.Desc.Digest.String(), body, o.blob.Data)
	case o.acked() || !berthtest.IsStatus(err, 404):
		t.Errorf("manifest %s@%s (acknowledged %v): %v", o.repo, o.blob.Desc.Digest, o.acked(), err)
		return
	default:
		return
	}
	var m v1.Manifest
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("manifest %s: %v", o.blob.Desc.Digest, err)
	}
	for _, d := range append([]v1.Descriptor{m.Config}, m.Layers...) {
		got, err := reg.GetBlob(ctx, o.repo, d.Digest)
		if err != nil {
			t.Errorf("manifest %s@%s names blob %s, which does not read back: %v", o.repo, o.blob.Desc.Digest, d.Digest, err)
			continue
		}
		checkBytes(t, "blob "+d.Digest.String(), got, known[d.Digest])
	}
}
