package e2e

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"sync/atomic"

	"github.com/opencontainers/go-digest"
)

// streamBlock is the unit in which a stream generates its content.
const streamBlock = 1 << 20

// stream is deterministic pseudo-random content of a fixed size that can
// be read from any offset without keeping it in memory: each 1 MiB block
// is ChaCha8 output keyed by the seed and the block number. It stands in
// for a large layer in upload tests.
type stream struct {
	seed uint64
	size int64
}

// from returns the content from offset off to the end.
func (s stream) from(off int64) io.Reader { return &streamReader{s: s, off: off, block: -1} }

// section returns n bytes of content from offset off.
func (s stream) section(off, n int64) io.Reader { return io.LimitReader(s.from(off), n) }

// digest returns the sha256 digest of the whole content.
func (s stream) digest() digest.Digest {
	h := sha256.New()
	if _, err := io.Copy(h, s.from(0)); err != nil {
		panic(err) // a streamReader never fails
	}
	return digest.NewDigest(digest.SHA256, h)
}

type streamReader struct {
	s     stream
	off   int64
	block int64
	buf   []byte
}

func (r *streamReader) Read(p []byte) (int, error) {
	if r.off >= r.s.size {
		return 0, io.EOF
	}
	blk := r.off / streamBlock
	if blk != r.block {
		if r.buf == nil {
			r.buf = make([]byte, streamBlock)
		}
		var key [32]byte
		binary.LittleEndian.PutUint64(key[:8], r.s.seed)
		binary.LittleEndian.PutUint64(key[8:16], uint64(blk))
		_, _ = rand.NewChaCha8(key).Read(r.buf)
		r.block = blk
	}
	start := r.off - blk*streamBlock
	end := min(int64(streamBlock), r.s.size-blk*streamBlock)
	n := copy(p, r.buf[start:end])
	r.off += int64(n)
	return n, nil
}

// countingReader counts the bytes read through it, readable from other
// goroutines.
type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// sameContent reads got to the end and reports the first difference from
// want (which must have exactly as many bytes).
func sameContent(got, want io.Reader) error {
	a, b := make([]byte, 256<<10), make([]byte, 256<<10)
	var off int64
	for {
		n, errA := io.ReadFull(got, a)
		m, errB := io.ReadFull(want, b[:n])
		if m < n {
			return fmt.Errorf("longer than expected: more than %d bytes", off+int64(m))
		}
		for i := range n {
			if a[i] != b[i] {
				return fmt.Errorf("differs at byte %d", off+int64(i))
			}
		}
		off += int64(n)
		if errA == io.EOF || errA == io.ErrUnexpectedEOF {
			if k, _ := io.ReadFull(want, b[:1]); k > 0 {
				return fmt.Errorf("ends after %d bytes, expected more", off)
			}
			return nil
		}
		if errA != nil {
			return fmt.Errorf("read after %d bytes: %w", off, errA)
		}
		if errB != nil && errB != io.EOF {
			return errB
		}
	}
}
