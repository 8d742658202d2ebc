package metatest

import (
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/berth-registry/berth/internal/meta"
)

func signingKeyTests() []test {
	return []test{
		{"NewestFirstAndRetirement", testSigningKeys},
	}
}

// newSigningKey returns a key called id created at created.
func newSigningKey(id string, created time.Time) meta.SigningKey {
	return meta.SigningKey{ID: id, Algorithm: "ES256", Private: []byte("PKCS8 of " + id + "\x00\xff"),
		CreatedAt: created}
}

func testSigningKeys(t *testing.T, s meta.Store) {
	ctx := t.Context()
	k1, k2, k3 := newSigningKey("k1", at(0)), newSigningKey("k2", at(time.Hour)), newSigningKey("k3", at(2*time.Hour))
	for _, k := range []meta.SigningKey{k2, k1, k3} {
		if err := s.PutSigningKey(ctx, k); err != nil {
			t.Fatalf("PutSigningKey(%s): %v", k.ID, err)
		}
	}
	list := func(t *testing.T) []meta.SigningKey {
		t.Helper()
		keys, err := s.ListSigningKeys(ctx)
		if err != nil {
			t.Fatalf("ListSigningKeys: %v", err)
		}
		for _, k := range keys {
			wantUTC(t, k.ID+" CreatedAt", k.CreatedAt)
		}
		return keys
	}
	adiff(t, "keys newest first", []meta.SigningKey{k3, k2, k1}, list(t))

	steps := []struct {
		name string
		run  func() error
		want error
	}{
		{"PutSigningKey taken", func() error { return s.PutSigningKey(ctx, newSigningKey("k1", at(time.Minute))) },
			errdefs.ErrAlreadyExists},
		{"retire k1", func() error { return s.RetireSigningKey(ctx, "k1", at(3*time.Hour)) }, nil},
		{"retire k1 again keeps the first time", func() error { return s.RetireSigningKey(ctx, "k1", at(5*time.Hour)) }, nil},
		{"retire k2", func() error { return s.RetireSigningKey(ctx, "k2", at(4*time.Hour)) }, nil},
		{"delete k2", func() error { return s.DeleteSigningKey(ctx, "k2") }, nil},
		{"delete k2 again", func() error { return s.DeleteSigningKey(ctx, "k2") }, errdefs.ErrNotFound},
		{"delete absent", func() error { return s.DeleteSigningKey(ctx, "nope") }, errdefs.ErrNotFound},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			err := st.run()
			if st.want == nil {
				if err != nil {
					t.Errorf("%s: %v", st.name, err)
				}
				return
			}
			wantErr(t, st.name, err, st.want)
		})
	}
	k1.RetiredAt = at(3 * time.Hour)
	got := list(t)
	adiff(t, "keys after retiring and deleting", []meta.SigningKey{k3, k1}, got)
	if len(got) == 2 {
		wantUTC(t, "RetiredAt", got[1].RetiredAt)
	}
}
