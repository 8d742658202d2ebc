package run_test

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/retention/run"
	"github.com/google/go-cmp/cmp"
)

// noHeartbeat keeps the heartbeat goroutine (and the progress
// checkpoints it paces) out of a test: whatever the store holds mid-run
// was written by the batches themselves.
func noHeartbeat(c *run.Config) { c.Heartbeat = time.Hour }

// runningRun returns the one running run of the store.
func (e *env) runningRun(t *testing.T) *meta.RetentionRun {
	t.Helper()
	rs, _ := meta.RetentionOf(e.meta)
	running, err := rs.ListRetentionRunsByStatus(t.Context(), meta.RunRunning)
	if err != nil || len(running) != 1 {
		t.Fatalf("running runs = %+v, %v; want one", running, err)
	}
	return &running[0]
}

// TestMidRunStoreIsConsistent stops a real run between its two
// repositories, as a crash would find it, and checks the store: the
// report names exactly what is in the trash and the stored progress
// counts it, with no heartbeat having written anything.
func TestMidRunStoreIsConsistent(t *testing.T) {
	e := newEnv(t, noHeartbeat, func(c *run.Config) { c.BatchSize = 1 })
	e.fixture(t)
	checked := false
	e.svc.SetBeforeApply(func(repo string) {
		if repo != "app/web" {
			return
		}
		checked = true
		r := e.runningRun(t)
		var trashed []string
		trash, err := e.svc.Trash(t.Context(), "app", 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, row := range trash {
			trashed = append(trashed, unit(row.Repository, row.Tag, row.Digest)+" deleted")
		}
		slices.Sort(trashed)
		reported := e.report(t, r.ID)
		if len(trashed) == 0 {
			t.Fatal("nothing trashed before the second repository")
		}
		if diff := cmp.Diff(trashed, reported); diff != "" {
			t.Errorf("mid-run: trash and report differ (-trash +report):\n%s", diff)
		}
		if got := r.Progress.TagsDeleted + r.Progress.ManifestsDeleted; got != int64(len(trashed)) {
			t.Errorf("mid-run stored progress %+v counts %d deletions; the trash has %d", r.Progress, got, len(trashed))
		}
	})
	r := e.runNow(t, false)
	if !checked {
		t.Fatal("the run never reached app/web")
	}
	// A short run ends with its final counts stored.
	want := meta.RetentionProgress{RepositoriesDone: 2, RepositoriesTotal: 2, TagsExamined: 6, TagsDeleted: 3,
		ManifestsDeleted: 4, Bytes: r.Progress.Bytes}
	if diff := cmp.Diff(want, r.Progress); diff != "" || r.Progress.Bytes == 0 {
		t.Errorf("final progress (-want +got):\n%s", diff)
	}
}

// gate holds the first run that reaches apply until release.
type gate struct {
	once    sync.Once
	reached chan struct{}
	release chan struct{}
}

func newGate() *gate { return &gate{reached: make(chan struct{}), release: make(chan struct{})} }

func (g *gate) hook(string) {
	g.once.Do(func() {
		close(g.reached)
		<-g.release
	})
}

// TestOneRealRunAtATime: while a real run works, Start refuses another
// real run of the project (ErrConflict) and accepts a dry one; once it
// ended, a new real run starts.
func TestOneRealRunAtATime(t *testing.T) {
	e := newEnv(t)
	e.fixture(t)
	g := newGate()
	e.svc.SetBeforeApply(g.hook)
	first, err := e.svc.Start(t.Context(), "app", false, run.TriggerManual, "alice")
	if err != nil {
		t.Fatal(err)
	}
	<-g.reached
	if _, err := e.svc.Start(t.Context(), "app", false, run.TriggerManual, "bob"); !errdefs.IsConflict(err) {
		t.Errorf("a second real run: %v; want a conflict", err)
	}
	if _, err := e.svc.Start(t.Context(), "app", true, run.TriggerManual, "bob"); err != nil {
		t.Errorf("a dry run beside the real one: %v", err)
	}
	close(g.release)
	e.svc.Wait()
	if got, _ := e.svc.GetRun(t.Context(), "app", first.ID); got.Status != meta.RunSucceeded {
		t.Fatalf("first run %+v", got)
	}
	e.runNow(t, false)
}

// TestOwnRunIsNeverStale: a process does not interrupt a run it is
// working, however old the run's heartbeat looks; the run records the
// process's instance.
func TestOwnRunIsNeverStale(t *testing.T) {
	e := newEnv(t, noHeartbeat, func(c *run.Config) { c.Instance = "node-a" })
	e.fixture(t)
	e.svc.SetBeforeApply(func(string) {
		e.clock.Advance(time.Hour)
		if err := e.svc.Tick(t.Context()); err != nil {
			t.Error(err)
		}
	})
	r := e.runNow(t, false)
	if r.Owner != "node-a" || e.svc.Instance() != "node-a" {
		t.Fatalf("run owner %q, instance %q; want node-a", r.Owner, e.svc.Instance())
	}
}
