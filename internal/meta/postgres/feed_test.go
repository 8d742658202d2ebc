package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/meta"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/opencontainers/go-digest"
)

func TestEncodeChanges(t *testing.T) {
	many := make([]meta.Change, 1000)
	for i := range many {
		many[i] = meta.Change{RepositoryID: int64(i), Tag: fmt.Sprintf("v1.%d.%d-with-a-longer-suffix", i/100, i%100)}
	}
	huge := meta.Change{RepositoryID: 1, Tag: strings.Repeat("x", maxPayload)}
	small := meta.Change{RepositoryID: 2, Digest: digest.FromString("m")}
	tests := []struct {
		name      string
		in        []meta.Change
		payloads  int // 0: at least 2
		overflows int
	}{
		{"none", nil, -1, 0},
		{"one tag", []meta.Change{{RepositoryID: 7, Tag: "latest"}}, 1, 0},
		{"tag and digest", []meta.Change{{RepositoryID: 7, Tag: "latest"}, small}, 1, 0},
		{"split over several payloads", many, 0, 0},
		{"a change too large for any payload", []meta.Change{small, huge, small}, 3, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			payloads := encodeChanges(tc.in)
			switch {
			case tc.payloads == -1 && len(payloads) != 0,
				tc.payloads == 0 && len(payloads) < 2,
				tc.payloads > 0 && len(payloads) != tc.payloads:
				t.Fatalf("%d payloads, want %d (0: several)", len(payloads), tc.payloads)
			}
			var got []meta.Change
			overflows := 0
			for _, p := range payloads {
				if len(p) > maxPayload {
					t.Errorf("payload of %d bytes exceeds %d", len(p), maxPayload)
				}
				changes, ok := decodeChanges(p)
				if !ok {
					overflows++
					continue
				}
				got = append(got, changes...)
			}
			if overflows != tc.overflows {
				t.Errorf("%d payloads report lost changes, want %d", overflows, tc.overflows)
			}
			var want []meta.Change
			for _, c := range tc.in {
				if c != huge {
					want = append(want, c)
				}
			}
			if d := cmp.Diff(want, got, cmpopts.EquateEmpty()); d != "" {
				t.Errorf("decoded changes (-want +got):\n%s", d)
			}
		})
	}
	for _, bad := range []string{"", "overflow", "[]", "{}", `[{"r":"x"}]`} {
		if _, ok := decodeChanges(bad); ok {
			t.Errorf("decodeChanges(%q) succeeded", bad)
		}
	}
}

// event is one call of a WatchChanges callback.
type event struct {
	changes []meta.Change
	lost    bool
}

// feed runs s.WatchChanges until the test ends and returns its calls. It
// waits for the first call (lost: the listener is in place).
func feed(t *testing.T, s *Store) <-chan event {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	events := make(chan event, 1000)
	done := make(chan error, 1)
	go func() {
		done <- s.WatchChanges(ctx, func(changes []meta.Change, lost bool) {
			events <- event{changes, lost}
		})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("WatchChanges returned %v, want nil once ctx ends", err)
		}
	})
	if ev := next(t, events); !ev.lost {
		t.Fatalf("first call of the feed = %+v, want lost", ev)
	}
	return events
}

// next returns the next call of the feed, failing the test if none comes
// within a generous bound (a notification normally takes milliseconds).
func next(t *testing.T, events <-chan event) event {
	t.Helper()
	select {
	case ev := <-events:
		return ev
	case <-time.After(20 * time.Second):
		t.Fatal("no change feed event within 20s")
		return event{}
	}
}

// nextChanges returns the next changes delivered, skipping nothing: a lost
// event fails the test.
func nextChanges(t *testing.T, events <-chan event) []meta.Change {
	t.Helper()
	ev := next(t, events)
	if ev.lost {
		t.Fatal("the feed reported lost changes")
	}
	return ev.changes
}

// replicas opens two stores on one fresh database, as two replicas would,
// with a repository holding manifests m[0..n-1].
func replicas(t *testing.T, n int) (a, b *Store, repo int64, m []digest.Digest) {
	t.Helper()
	url := newDatabase(t)
	a, b = openTest(t, url, Options{}), openTest(t, url, Options{})
	r, err := a.EnsureRepository(t.Context(), "team/app")
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		body := fmt.Appendf(nil, `{"schemaVersion":2,"n":%d}`, i)
		d := digest.FromBytes(body)
		err := a.PutManifest(t.Context(), &meta.Manifest{RepositoryID: r.ID, Digest: d,
			MediaType: "application/vnd.oci.image.manifest.v1+json", Size: int64(len(body)), Content: body}, nil)
		if err != nil {
			t.Fatal(err)
		}
		m = append(m, d)
	}
	return a, b, r.ID, m
}

var errRollback = errors.New("roll back")

func TestChangeFeed(t *testing.T) {
	ctx := t.Context()
	a, b, repo, m := replicas(t, 3)
	events := feed(t, b)
	tag := func(name string) meta.Change { return meta.Change{RepositoryID: repo, Tag: name} }
	steps := []struct {
		name  string
		write func() error
		want  []meta.Change
	}{
		{"new tag", func() error { _, err := a.PutTag(ctx, repo, "latest", m[0]); return err },
			[]meta.Change{tag("latest")}},
		{"moved tag", func() error { _, err := a.PutTag(ctx, repo, "latest", m[1]); return err },
			[]meta.Change{tag("latest")}},
		{"deleted tag", func() error { _, err := a.DeleteTag(ctx, repo, "latest"); return err },
			[]meta.Change{tag("latest")}},
		{"deleted manifest", func() error { return a.DeleteManifest(ctx, repo, m[0]) },
			[]meta.Change{{RepositoryID: repo, Digest: m[0]}}},
		{"a transaction, in order, in one call", func() error {
			return a.WithTx(ctx, func(tx meta.Querier) error {
				for _, name := range []string{"b", "a", "c"} {
					if _, err := tx.PutTag(ctx, repo, name, m[1]); err != nil {
						return err
					}
				}
				if _, err := tx.PutTag(ctx, repo, "a", m[1]); err != nil { // unchanged: not announced
					return err
				}
				_, err := tx.DeleteTag(ctx, repo, "b")
				return err
			})
		}, []meta.Change{tag("b"), tag("a"), tag("c"), tag("b")}},
		// A rolled-back transaction announces nothing: the next delivery
		// is the change committed after it (the feed keeps commit order).
		{"rolled back, then committed", func() error {
			err := a.WithTx(ctx, func(tx meta.Querier) error {
				if _, err := tx.PutTag(ctx, repo, "ghost", m[2]); err != nil {
					return err
				}
				if err := tx.DeleteManifest(ctx, repo, m[2]); err == nil {
					return errors.New("deleted a tagged manifest")
				}
				return errRollback
			})
			if !errors.Is(err, errRollback) {
				return fmt.Errorf("WithTx = %v, want the rollback", err)
			}
			_, err = a.PutTag(ctx, repo, "after", m[2])
			return err
		}, []meta.Change{tag("after")}},
		{"unchanged tag is not announced", func() error {
			if _, err := a.PutTag(ctx, repo, "after", m[2]); err != nil {
				return err
			}
			_, err := b.PutTag(ctx, repo, "own writes too", m[2])
			return err
		}, []meta.Change{tag("own writes too")}},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			if err := st.write(); err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(st.want, nextChanges(t, events)); d != "" {
				t.Errorf("changes (-want +got):\n%s", d)
			}
		})
	}
}

func TestChangeFeedLargeTransaction(t *testing.T) {
	ctx := t.Context()
	a, b, repo, m := replicas(t, 1)
	events := feed(t, b)
	var want []meta.Change
	err := a.WithTx(ctx, func(tx meta.Querier) error {
		want = want[:0]
		for i := range 1000 {
			name := fmt.Sprintf("release-%04d", i)
			if _, err := tx.PutTag(ctx, repo, name, m[0]); err != nil {
				return err
			}
			want = append(want, meta.Change{RepositoryID: repo, Tag: name})
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var got []meta.Change
	calls := 0
	for len(got) < len(want) {
		got = append(got, nextChanges(t, events)...)
		calls++
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("changes (-want +got):\n%s", d)
	}
	if calls < 2 {
		t.Errorf("1000 changes came in %d payload(s); want them split under the 8000-byte limit", calls)
	}

	// A change too large for any payload is reported as lost changes.
	if _, err := a.PutTag(ctx, repo, strings.Repeat("t", 9000), m[0]); err != nil {
		t.Fatal(err)
	}
	if ev := next(t, events); !ev.lost {
		t.Errorf("event for an oversized change = %+v, want lost", ev)
	}
}

func TestChangeFeedReconnects(t *testing.T) {
	ctx := t.Context()
	a, b, repo, m := replicas(t, 2)
	events := feed(t, b)
	// End the listener's session, as a server restart or a failover would.
	var killed int
	err := a.pool.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE application_name = $1 AND datname = current_database()`, feedAppName).Scan(&killed)
	if err != nil || killed != 1 {
		t.Fatalf("terminated %d listener sessions (%v), want 1", killed, err)
	}
	// lost as the connection drops, and again once listening anew.
	for i := range 2 {
		if ev := next(t, events); !ev.lost {
			t.Fatalf("event %d after the kill = %+v, want lost", i+1, ev)
		}
	}
	if _, err := a.PutTag(ctx, repo, "latest", m[1]); err != nil {
		t.Fatal(err)
	}
	want := []meta.Change{{RepositoryID: repo, Tag: "latest"}}
	if d := cmp.Diff(want, nextChanges(t, events)); d != "" {
		t.Errorf("changes after the reconnect (-want +got):\n%s", d)
	}
}

func TestChangeFeedEndsWithClose(t *testing.T) {
	s := openTest(t, newDatabase(t), Options{})
	done := make(chan error, 1)
	started := make(chan struct{}, 1)
	go func() {
		done <- s.WatchChanges(context.Background(), func(_ []meta.Change, lost bool) {
			if lost {
				select {
				case started <- struct{}{}:
				default:
				}
			}
		})
	}()
	select {
	case <-started:
	case <-time.After(20 * time.Second):
		t.Fatal("the feed did not start within 20s")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("WatchChanges after Close = %v, want nil", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("WatchChanges still runs 20s after Close")
	}
}
