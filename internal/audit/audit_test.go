package audit

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/meta/sqlite"
)

var update = flag.Bool("update", false, "rewrite golden files")

var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// batchStore is a real SQLite audit store that remembers the size of each
// AppendAudit batch and refuses writes while failing is set.
type batchStore struct {
	meta.Audit
	mu      sync.Mutex
	batches []int
	failing bool
}

func (b *batchStore) AppendAudit(ctx context.Context, events []meta.AuditEvent) error {
	b.mu.Lock()
	fail := b.failing
	if !fail {
		b.batches = append(b.batches, len(events))
	}
	b.mu.Unlock()
	if fail {
		return errdefs.Unavailable("database down")
	}
	return b.Audit.AppendAudit(ctx, events)
}

func (b *batchStore) setFailing(v bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.failing = v
}

func newStore(t *testing.T) *batchStore {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "meta.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return &batchStore{Audit: st}
}

func event(i int) meta.AuditEvent {
	return meta.AuditEvent{At: now.Add(time.Duration(i) * time.Second), ActorKind: "user", Actor: "alice",
		Action: "artifact.pull", Project: "p", Resource: fmt.Sprintf("p/app:%d", i), Outcome: "success"}
}

// stored returns the resources of the stored events, oldest first.
func stored(t *testing.T, r *Recorder) []string {
	t.Helper()
	es, err := r.List(context.Background(), meta.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for i := len(es) - 1; i >= 0; i-- {
		out = append(out, es[i].Resource)
	}
	return out
}

func resources(from, to int) []string {
	var out []string
	for i := from; i <= to; i++ {
		out = append(out, fmt.Sprintf("p/app:%d", i))
	}
	return out
}

func TestRecordQueuesAndFlushBatches(t *testing.T) {
	st := newStore(t)
	r := New(st, Options{MaxBatch: 2, Now: func() time.Time { return now }})
	ctx := context.Background()
	for i := 1; i <= 5; i++ {
		r.Record(ctx, event(i))
	}
	if got := stored(t, r); got != nil {
		t.Fatalf("written before Flush: %v", got)
	}
	if err := r.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(resources(1, 5), stored(t, r)); d != "" {
		t.Errorf("stored (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]int{2, 2, 1}, st.batches); d != "" {
		t.Errorf("batch sizes (-want +got):\n%s", d)
	}
	if err := r.Flush(ctx); err != nil || len(st.batches) != 3 {
		t.Errorf("empty Flush: %v, batches %v", err, st.batches)
	}
}

func TestRecordFillsTimeAndRemote(t *testing.T) {
	st := newStore(t)
	r := New(st, Options{Now: func() time.Time { return now }})
	ctx := WithRemote(context.Background(), "192.0.2.7")
	r.Record(ctx, meta.AuditEvent{Action: "login", Outcome: "failure", Actor: "bob", ActorKind: "user"})
	r.Record(ctx, meta.AuditEvent{Action: "login", Outcome: "success", Actor: "bob", ActorKind: "user", Remote: "198.51.100.1",
		At: now.Add(time.Second)})
	if err := r.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	es, err := r.List(ctx, meta.AuditFilter{Actor: "bob"})
	if err != nil {
		t.Fatal(err)
	}
	got := [][2]any{}
	for _, e := range es {
		got = append(got, [2]any{e.At.UTC(), e.Remote})
	}
	want := [][2]any{{now.Add(time.Second), "198.51.100.1"}, {now, "192.0.2.7"}}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("events (-want +got):\n%s", d)
	}
}

func TestFlushFailureKeepsEvents(t *testing.T) {
	st := newStore(t)
	r := New(st, Options{MaxBatch: 10})
	ctx := context.Background()
	r.Record(ctx, event(1))
	r.Record(ctx, event(2))
	st.setFailing(true)
	if err := r.Flush(ctx); !errdefs.IsUnavailable(err) {
		t.Fatalf("Flush with the store down = %v, want unavailable", err)
	}
	r.Record(ctx, event(3))
	st.setFailing(false)
	if err := r.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(resources(1, 3), stored(t, r)); d != "" {
		t.Errorf("stored (-want +got):\n%s", d)
	}
}

func TestFullQueueWritesSynchronously(t *testing.T) {
	st := newStore(t)
	r := New(st, Options{QueueSize: 3, MaxBatch: 100})
	ctx := context.Background()
	for i := 1; i <= 3; i++ {
		r.Record(ctx, event(i))
	}
	if got := stored(t, r); got != nil {
		t.Fatalf("written while the queue had room: %v", got)
	}
	r.Record(ctx, event(4))
	if d := cmp.Diff(resources(1, 4), stored(t, r)); d != "" {
		t.Errorf("stored after the queue filled (-want +got):\n%s", d)
	}
}

func TestPrune(t *testing.T) {
	tests := []struct {
		name      string
		retention time.Duration
		want      []string
	}{
		{"one day", 24 * time.Hour, []string{"recent"}},
		{"default keeps 90 days", 0, []string{"old", "recent"}},
		{"negative keeps all", -1, []string{"ancient", "old", "recent"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := newStore(t)
			ctx := context.Background()
			err := st.AppendAudit(ctx, []meta.AuditEvent{
				{At: now.Add(-100 * 24 * time.Hour), Action: "x", Resource: "ancient", Outcome: "success"},
				{At: now.Add(-48 * time.Hour), Action: "x", Resource: "old", Outcome: "success"},
				{At: now.Add(-time.Hour), Action: "x", Resource: "recent", Outcome: "success"},
			})
			if err != nil {
				t.Fatal(err)
			}
			r := New(st, Options{Retention: tt.retention, Now: func() time.Time { return now }})
			n, err := r.Prune(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tt.want, stored(t, r)); d != "" || n != int64(3-len(tt.want)) {
				t.Errorf("pruned %d; kept (-want +got):\n%s", n, d)
			}
		})
	}
}

// Run writes what is queued when its context ends.
func TestRunFlushesOnStop(t *testing.T) {
	st := newStore(t)
	ctx := context.Background()
	r := New(st, Options{FlushInterval: time.Hour, Now: func() time.Time { return now }})
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.Run(rctx)
	}()
	for i := 1; i <= 3; i++ {
		r.Record(ctx, event(i))
	}
	cancel()
	<-done
	if d := cmp.Diff(resources(1, 3), stored(t, r)); d != "" {
		t.Errorf("stored after Run returned (-want +got):\n%s", d)
	}
}

func TestWriteJSONLinesGolden(t *testing.T) {
	events := []meta.AuditEvent{
		{ID: 3, At: time.Date(2026, 3, 1, 12, 0, 5, 250_000_000, time.FixedZone("CET", 3600)), ActorKind: "robot",
			Actor: "robot$team+ci", Remote: "10.0.0.8", Action: "artifact.push", Project: "team",
			Resource: "team/app:v1", Outcome: "success", Detail: `moved from sha256:<old> "quoted" & more`},
		{ID: 2, At: time.Date(2026, 3, 1, 11, 0, 0, 0, time.UTC), ActorKind: "anonymous", Action: "login",
			Outcome: "failure"},
		{ID: 1, At: time.Date(2026, 2, 28, 9, 30, 0, 0, time.UTC), ActorKind: "user", Actor: "admin",
			Remote: "127.0.0.1", Action: "member.put", Project: "team", Resource: "group:dev", Outcome: "denied",
			Detail: "ünïcode\nnewline"},
	}
	var buf bytes.Buffer
	if err := WriteJSONLines(&buf, events); err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "events.jsonl")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if d := cmp.Diff(string(want), buf.String()); d != "" {
		t.Errorf("JSON lines (-want +got):\n%s", d)
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestWriteJSONLinesError(t *testing.T) {
	if err := WriteJSONLines(failingWriter{}, []meta.AuditEvent{{ID: 1}}); err == nil {
		t.Error("no error from a failing writer")
	}
}
