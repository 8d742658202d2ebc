package e2e

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/berthtest"
	"github.com/jackc/pgx/v5"
	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// The race of sameTagRace: every replica runs raceWriters goroutines, each
// pushing raceRounds different manifests under one tag.
const (
	raceWriters = 2
	raceRounds  = 15
)

// pushBase pushes a layer and a config into repo through reg, for
// manifestFor.
func pushBase(t *testing.T, reg *berthtest.Registry, repo string, seed uint64) (config, layer content) {
	t.Helper()
	layer = newContent(v1.MediaTypeImageLayer, randomBytes(4096, seed))
	config = newContent(v1.MediaTypeImageConfig, fmt.Appendf(nil,
		`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["%s"]}}`, layer.Desc.Digest))
	for _, b := range []content{layer, config} {
		if _, err := reg.PushBlob(context.Background(), repo, b.Data); err != nil {
			t.Fatalf("push blob: %v", err)
		}
	}
	return config, layer
}

// sameTagRace pushes different manifests under one tag from every replica
// at once, while readers on every replica keep asking for the tag (filling
// their caches with answers that go stale). Afterwards the database's tag,
// its last history entry and every replica's answer to GET and HEAD must
// agree, and keep agreeing.
func (rc *replicaCase) sameTagRace(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const repo, tag = "replicas/race", "latest"
	rc.repos <- repo
	regs := rc.c.regs()
	config, layer := pushBase(t, regs[0], repo, 7001)

	readCtx, stopReading := context.WithCancel(ctx)
	var readers sync.WaitGroup
	for _, reg := range regs {
		readers.Go(func() {
			for readCtx.Err() == nil {
				_, _ = reg.HeadManifest(readCtx, repo, tag)
				_, _, _, _ = reg.GetManifest(readCtx, repo, tag)
			}
		})
	}
	var (
		writers sync.WaitGroup
		mu      sync.Mutex
		errs    []error
		pushed  = map[digest.Digest]bool{}
	)
	for r, reg := range regs {
		for w := range raceWriters {
			writers.Go(func() {
				for i := range raceRounds {
					m := manifestFor(config, layer, fmt.Sprintf("replica %d writer %d round %d", r, w, i))
					_, err := reg.PutManifest(ctx, repo, tag, v1.MediaTypeImageManifest, m.Data)
					mu.Lock()
					pushed[m.Desc.Digest] = true
					if err != nil {
						errs = append(errs, fmt.Errorf("replica %d: %w", r, err))
					}
					mu.Unlock()
				}
			})
		}
	}
	writers.Wait()
	stopReading()
	readers.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("pushes of %s:%s failed: %v", repo, tag, err)
	}
	want := rc.checkTagHistory(t, repo, tag, pushed)
	for i, reg := range regs {
		eventually(t, feedBound, fmt.Sprintf("replica %d answers GET %s:%s with %s", i, repo, tag, want), func() error {
			return answers(reg, repo, tag, want)
		})
	}
	// Having converged, the answers must stay put: nothing may bring back a
	// value from before.
	for range 20 {
		for i, reg := range regs {
			if err := answers(reg, repo, tag, want); err != nil {
				t.Fatalf("replica %d after converging: %v", i, err)
			}
		}
	}
}

// answers checks that GET and HEAD of repo:ref on reg give digest want.
func answers(reg *berthtest.Registry, repo, ref string, want digest.Digest) error {
	ctx := context.Background()
	_, _, got, err := reg.GetManifest(ctx, repo, ref)
	if err != nil {
		return fmt.Errorf("GET: %w", err)
	}
	head, err := reg.HeadManifest(ctx, repo, ref)
	if err != nil {
		return fmt.Errorf("HEAD: %w", err)
	}
	if got != want || head != want {
		return fmt.Errorf("GET says %s and HEAD says %s, want %s", got, head, want)
	}
	return nil
}

// absent checks that GET and HEAD of repo:ref on reg answer 404.
func absent(reg *berthtest.Registry, repo, ref string) error {
	ctx := context.Background()
	if _, _, got, err := reg.GetManifest(ctx, repo, ref); !berthtest.IsStatus(err, 404) {
		return fmt.Errorf("GET: %s, %v; want 404", got, err)
	}
	if got, err := reg.HeadManifest(ctx, repo, ref); !berthtest.IsStatus(err, 404) {
		return fmt.Errorf("HEAD: %s, %v; want 404", got, err)
	}
	return nil
}

// historyRow is one row of the tag_history table.
type historyRow struct {
	Digest, Previous string
}

// checkTagHistory reads tag and its history from the database and checks
// them against the pushes: one history row per push (every push named a
// new manifest, so each moved the tag), each row's previous digest the one
// before it, and the tag at the last row's digest, which it returns.
func (rc *replicaCase) checkTagHistory(t *testing.T, repo, tag string, pushed map[digest.Digest]bool) digest.Digest {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, rc.c.db)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var current string
	err = conn.QueryRow(ctx, `SELECT t.digest FROM tags t JOIN repositories r ON r.id = t.repository_id
		WHERE r.name = $1 AND t.name = $2`, repo, tag).Scan(&current)
	if err != nil {
		t.Fatalf("read tag %s:%s from the database: %v", repo, tag, err)
	}
	rows, _ := conn.Query(ctx, `SELECT h.digest, h.previous FROM tag_history h JOIN repositories r ON r.id = h.repository_id
		WHERE r.name = $1 AND h.tag = $2 ORDER BY h.id`, repo, tag)
	history, err := pgx.CollectRows(rows, pgx.RowToStructByPos[historyRow])
	if err != nil {
		t.Fatalf("read history of %s:%s: %v", repo, tag, err)
	}
	if len(history) != len(pushed) {
		t.Errorf("history of %s:%s has %d entries for %d pushes of different manifests", repo, tag, len(history), len(pushed))
	}
	prev := ""
	for i, h := range history {
		if h.Previous != prev {
			t.Errorf("history entry %d of %s:%s says the tag was at %q before, but entry %d left it at %q", i, repo, tag, h.Previous, i-1, prev)
		}
		if !pushed[digest.Digest(h.Digest)] {
			t.Errorf("history entry %d of %s:%s names %s, which no push sent", i, repo, tag, h.Digest)
		}
		prev = h.Digest
	}
	if current != prev {
		t.Errorf("tag %s:%s is at %s in the database, but its last history entry says %s", repo, tag, current, prev)
	}
	return digest.Digest(current)
}

// cacheInvalidation checks that no replica answers a tag or a manifest's
// existence from memory: replica 1 has just answered a tag when the tag is
// changed in the database behind every replica's back (no change
// notification is sent), and must answer the new digest at once; then a
// manifest replica 1 has just served is deleted through replica 2 and
// replica 1 must answer 404 at once. Only manifest bytes, which a digest
// fixes, may come from a replica's memory.
func (rc *replicaCase) cacheInvalidation(t *testing.T) {
	ctx := context.Background()
	const repo = "replicas/cache"
	rc.repos <- repo
	regs := rc.c.regs()
	config, layer := pushBase(t, regs[0], repo, 7002)
	put := func(reg *berthtest.Registry, ref string, m content) {
		t.Helper()
		if _, err := reg.PutManifest(ctx, repo, ref, v1.MediaTypeImageManifest, m.Data); err != nil {
			t.Fatalf("push %s:%s: %v", repo, ref, err)
		}
	}
	a, x := manifestFor(config, layer, "a"), manifestFor(config, layer, "x")
	put(regs[0], x.Desc.Digest.String(), x)
	put(regs[0], "moving", a)
	fillCache(t, regs[1], repo, "moving", a.Desc.Digest)
	rc.c.execDB(t, `UPDATE tags SET digest = $1 WHERE name = 'moving'
		AND repository_id = (SELECT id FROM repositories WHERE name = $2)`, x.Desc.Digest.String(), repo)
	if err := answers(regs[1], repo, "moving", x.Desc.Digest); err != nil {
		t.Errorf("replica 1 right after the tag was changed in the database (no notification): %v", err)
	}

	doomed := manifestFor(config, layer, "doomed")
	put(regs[0], "doomed", doomed)
	fillCache(t, regs[1], repo, "doomed", doomed.Desc.Digest)
	fillCache(t, regs[1], repo, doomed.Desc.Digest.String(), doomed.Desc.Digest)
	if err := regs[2].DeleteManifest(ctx, repo, doomed.Desc.Digest.String()); err != nil {
		t.Fatalf("delete through replica 2: %v", err)
	}
	for _, ref := range []string{doomed.Desc.Digest.String(), "doomed"} {
		if err := absent(regs[1], repo, ref); err != nil {
			t.Errorf("replica 1 right after %s:%s was deleted through replica 2: %v", repo, ref, err)
		}
	}
	if err := answers(regs[1], repo, "moving", x.Desc.Digest); err != nil {
		t.Errorf("replica 1, tag untouched by the delete: %v", err)
	}
}

// fillCache asks reg for repo:ref until it answers want, then a few more
// times, so that the answer is cached: a read racing a change notification
// does not fill the cache, and the notification of the push that set ref
// may still be on its way.
func fillCache(t *testing.T, reg *berthtest.Registry, repo, ref string, want digest.Digest) {
	t.Helper()
	eventually(t, feedBound, "replica answers "+repo+":"+ref, func() error { return answers(reg, repo, ref, want) })
	for range 5 {
		if err := answers(reg, repo, ref, want); err != nil {
			t.Fatal(err)
		}
	}
}

// readAfterWriteRounds is how many tag moves and deletes readAfterWrite
// makes: a stale answer is a race with the change notification, so it
// takes many tries to catch one on an idle machine.
const readAfterWriteRounds = 100

// readAfterWrite checks that a write one replica acknowledged is what every
// replica answers next, as the distribution spec expects of a registry and
// as clients behind a load balancer without affinity need (push, then pull
// through another replica; delete, then check): replica 1 has a tag and a
// manifest cached when replica 0 moves the tag and deletes the manifest,
// and is asked right after each acknowledgement.
func (rc *replicaCase) readAfterWrite(t *testing.T) {
	ctx := context.Background()
	const repo = "replicas/read-after-write"
	rc.repos <- repo
	regs := rc.c.regs()
	config, layer := pushBase(t, regs[0], repo, 7003)
	var stale []string
	for round := range readAfterWriteRounds {
		tag := fmt.Sprintf("round-%d", round)
		a, b := manifestFor(config, layer, tag+"-a"), manifestFor(config, layer, tag+"-b")
		if _, err := regs[0].PutManifest(ctx, repo, tag, v1.MediaTypeImageManifest, a.Data); err != nil {
			t.Fatal(err)
		}
		fillCache(t, regs[1], repo, tag, a.Desc.Digest)
		if _, err := regs[0].PutManifest(ctx, repo, tag, v1.MediaTypeImageManifest, b.Data); err != nil {
			t.Fatal(err)
		}
		if err := answers(regs[1], repo, tag, b.Desc.Digest); err != nil {
			stale = append(stale, fmt.Sprintf("%s moved from %.19s to %.19s: %v", tag, a.Desc.Digest, b.Desc.Digest, err))
		}
		fillCache(t, regs[1], repo, b.Desc.Digest.String(), b.Desc.Digest)
		if err := regs[0].DeleteManifest(ctx, repo, b.Desc.Digest.String()); err != nil {
			t.Fatal(err)
		}
		if err := absent(regs[1], repo, b.Desc.Digest.String()); err != nil {
			stale = append(stale, fmt.Sprintf("%.19s deleted: %v", b.Desc.Digest, err))
		}
	}
	if len(stale) > 0 {
		t.Errorf("replica 1 gave %d stale answers right after replica 0 acknowledged %d tag moves and %d deletes; first ones:\n%s",
			len(stale), readAfterWriteRounds, readAfterWriteRounds, strings.Join(stale[:min(5, len(stale))], "\n"))
	}
}
