package registry_test

import (
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/registry"
)

// A blob HEAD renews the blob's lease to now+GCGrace only once less than
// half of the grace is left: a write at most every GCGrace/2 per blob.
func TestStatBlobRenewsLeaseAtHalfGrace(t *testing.T) {
	const grace = time.Hour
	e := newEnv(t, func(o *registry.Options) { o.BlobLease = time.Minute; o.GCGrace = grace })
	d := e.putBlob(t, "app", []byte("layer"))
	lease := func() time.Time {
		t.Helper()
		until, err := e.meta.BlobLease(t.Context(), d)
		if err != nil {
			t.Fatal(err)
		}
		return until
	}
	steps := []struct {
		name    string
		advance time.Duration
		// renewed says the HEAD moved the lease to now+grace.
		renewed bool
	}{
		{"upload lease shorter than grace/2", 0, true},
		{"more than half left", 20 * time.Minute, false},
		{"just over half left", 9 * time.Minute, false},
		{"less than half left", 2 * time.Minute, true},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			e.clock.Advance(st.advance)
			before := lease()
			if _, err := e.svc.StatBlob(t.Context(), "app", d); err != nil {
				t.Fatalf("StatBlob: %v", err)
			}
			want := before
			if st.renewed {
				want = e.clock.Now().Add(grace).Truncate(time.Microsecond)
			}
			if got := lease(); !got.Equal(want) {
				t.Errorf("lease = %v, want %v", got, want)
			}
		})
	}
}
