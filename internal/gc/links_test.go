package gc

import (
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/opencontainers/go-digest"
)

func TestRunPrunesStaleLinks(t *testing.T) { forEachBackend(t, testRunPrunesStaleLinks) }

// testRunPrunesStaleLinks: the same image in two repositories; deleting it
// from one and collecting removes that repository's links (the blobs stay,
// the other repository uses them), and only once the leases are over.
func testRunPrunesStaleLinks(t *testing.T, e *env) {
	ctx := t.Context()
	config, layer := []byte(`{"config":"links"}`), []byte("layer used by two repositories")
	e.pushImage(t, "team/a", "v1", config, layer)
	m := e.pushImage(t, "other/b", "v1", config, layer)
	if err := e.svc.DeleteManifest(ctx, "other/b", string(m)); err != nil {
		t.Fatal(err)
	}
	dgsts := []digest.Digest{digest.FromBytes(config), digest.FromBytes(layer)}

	// Leased (just pushed): nothing is stale yet.
	rep, err := e.collector(t).Run(ctx, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.LinksPruned != 0 {
		t.Errorf("links pruned while leased = %d, want 0", rep.LinksPruned)
	}
	e.clock.Advance(testLease + time.Minute)

	dry, err := e.collector(t).Run(ctx, Options{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if dry.LinksPruned != 2 {
		t.Errorf("dry run counts %d stale links, want 2", dry.LinksPruned)
	}
	for _, d := range dgsts {
		if _, err := e.svc.StatBlob(ctx, "other/b", d); err != nil {
			t.Fatalf("a dry run removed the link of %s: %v", d, err)
		}
	}
	// StatBlob leased them again: wait for that lease to pass too.
	e.clock.Advance(2 * time.Hour)

	rep, err = e.collector(t).Run(ctx, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.LinksPruned != 2 || rep.Deleted != 0 {
		t.Errorf("report = %+v, want 2 links pruned and no blob deleted", rep)
	}
	for _, d := range dgsts {
		if _, err := e.svc.StatBlob(ctx, "other/b", d); !errdefs.IsNotFound(err) {
			t.Errorf("other/b still serves %s (err %v)", d, err)
		}
		if _, err := e.svc.StatBlob(ctx, "team/a", d); err != nil {
			t.Errorf("team/a lost %s: %v", d, err)
		}
		if !e.stored(t, d) {
			t.Errorf("bytes of %s deleted while team/a uses them", d)
		}
	}
}
