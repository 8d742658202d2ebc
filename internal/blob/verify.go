package blob

import (
	"crypto/sha256"
	_ "crypto/sha512" // registers sha512 for go-digest
	"encoding"
	"encoding/json"
	"fmt"
	"hash"
	"io"

	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/opencontainers/go-digest"
)

// Hasher computes the canonical (sha256) digest of an upload as it is
// written and can save and restore its state, so an upload resumes on any
// process without re-reading its data. Uploads whose client names another
// algorithm (sha512) at commit are verified by VerifyReader instead.
type Hasher struct {
	h hash.Hash
	n int64
}

// NewHasher returns a Hasher at offset 0.
func NewHasher() *Hasher { return &Hasher{h: sha256.New()} }

// Write hashes p.
func (h *Hasher) Write(p []byte) (int, error) {
	n, _ := h.h.Write(p)
	h.n += int64(n)
	return n, nil
}

// Size returns the number of bytes hashed.
func (h *Hasher) Size() int64 { return h.n }

// Digest returns the canonical digest of what was written.
func (h *Hasher) Digest() digest.Digest {
	return digest.NewDigest(digest.Canonical, h.h)
}

// Verify reports whether expected is the digest of what was written
// (ok), when it can decide (decided). It cannot decide when expected uses
// another algorithm than sha256: the caller must then re-read the data with
// VerifyReader.
func (h *Hasher) Verify(expected digest.Digest) (ok, decided bool) {
	if expected.Algorithm() != digest.Canonical {
		return false, false
	}
	return h.Digest() == expected, true
}

// uploadState is the serialized form shared by all drivers: the offset, the
// hash state at that offset and the driver's own state.
type uploadState struct {
	Version int             `json:"v"`
	Offset  int64           `json:"offset"`
	Hash    []byte          `json:"hash"`
	Driver  json.RawMessage `json:"driver,omitempty"`
}

// EncodeState serializes the hasher's state together with driver state
// (any JSON-marshalable value, or nil).
func EncodeState(h *Hasher, driver any) ([]byte, error) {
	m, ok := h.h.(encoding.BinaryMarshaler)
	if !ok {
		return nil, fmt.Errorf("hash state cannot be saved")
	}
	hs, err := m.MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("save hash state: %w", err)
	}
	st := uploadState{Version: 1, Offset: h.n, Hash: hs}
	if driver != nil {
		if st.Driver, err = json.Marshal(driver); err != nil {
			return nil, fmt.Errorf("save driver state: %w", err)
		}
	}
	return json.Marshal(st)
}

// DecodeState restores a Hasher from state and unmarshals the driver part
// into driver (if non-nil and present).
func DecodeState(state []byte, driver any) (*Hasher, error) {
	var st uploadState
	if err := json.Unmarshal(state, &st); err != nil {
		return nil, errdefs.Invalid("upload state is corrupt: %v", err)
	}
	if st.Version != 1 {
		return nil, errdefs.Invalid("upload state version %d is not supported", st.Version)
	}
	h := NewHasher()
	if err := h.h.(encoding.BinaryUnmarshaler).UnmarshalBinary(st.Hash); err != nil {
		return nil, errdefs.Invalid("upload hash state is corrupt: %v", err)
	}
	h.n = st.Offset
	if driver != nil && len(st.Driver) > 0 {
		if err := json.Unmarshal(st.Driver, driver); err != nil {
			return nil, errdefs.Invalid("upload driver state is corrupt: %v", err)
		}
	}
	return h, nil
}

// VerifyReader reads r to the end and checks its digest against expected,
// using expected's algorithm. It returns an ErrInvalid error on mismatch or
// an unsupported algorithm.
func VerifyReader(r io.Reader, expected digest.Digest) error {
	if err := expected.Validate(); err != nil {
		return errdefs.Invalid("digest %q: %v", expected, err)
	}
	v := expected.Verifier()
	if _, err := io.Copy(v, r); err != nil {
		return fmt.Errorf("read content to verify: %w", err)
	}
	if !v.Verified() {
		return errdefs.Invalid("content does not match digest %s", expected)
	}
	return nil
}
