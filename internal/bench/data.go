package bench

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"math/bits"
	"sync"
)

// Stream is an io.Reader of exactly Size bytes of deterministic
// pseudo-random data. Two streams made with the same seed produce the same
// bytes whatever the sizes of the reads, so a blob can be hashed once and
// generated again for sending without ever being stored. The generator is
// wyrand: a 64-bit counter mixed by one 128-bit multiply, several GB/s on
// one core, far faster than SHA-256 or a server's ingest.
type Stream struct {
	state uint64
	left  int64   // bytes still to produce
	word  [8]byte // current word when a read ended inside it
	used  int     // bytes of word already returned; 8 means none pending
}

// NewStream returns a Stream of size bytes generated from seed.
func NewStream(seed uint64, size int64) *Stream {
	return &Stream{state: seed, left: size, used: 8}
}

const (
	wyP0 = 0xa0761d6478bd642f
	wyP1 = 0xe7037ed1a0b428db
)

func (s *Stream) next() uint64 {
	s.state += wyP0
	hi, lo := bits.Mul64(s.state, s.state^wyP1)
	return hi ^ lo
}

// Read fills p with the next bytes of the stream; it returns io.EOF once all
// Size bytes were produced.
func (s *Stream) Read(p []byte) (int, error) {
	if s.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > s.left {
		p = p[:s.left]
	}
	n := 0
	// Finish a word a previous read left half-used.
	for s.used < 8 && n < len(p) {
		p[n] = s.word[s.used]
		s.used++
		n++
	}
	// Whole words, straight into p.
	state := s.state
	for ; n+8 <= len(p); n += 8 {
		state += wyP0
		hi, lo := bits.Mul64(state, state^wyP1)
		binary.LittleEndian.PutUint64(p[n:], hi^lo)
	}
	s.state = state
	// A tail shorter than a word: keep the rest of the word for next time.
	if n < len(p) {
		binary.LittleEndian.PutUint64(s.word[:], s.next())
		s.used = copy(p[n:], s.word[:])
		n += s.used
	}
	s.left -= int64(n)
	return n, nil
}

// Seed derives a blob seed from a label and an index, so that scenarios name
// their blobs ("big", 0) instead of picking magic numbers. Different labels
// or indexes give unrelated streams.
func Seed(label string, i int) uint64 {
	h := fnv.New64a()
	_, _ = io.WriteString(h, label)
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], uint64(i))
	_, _ = h.Write(b[:])
	// One splitmix64 round spreads fnv's output over all bits.
	z := h.Sum64() + 0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// Blob names one generated blob: its seed and size.
type Blob struct {
	Seed uint64
	Size int64
}

// Reader returns a fresh stream of the blob's bytes.
func (b Blob) Reader() *Stream { return NewStream(b.Seed, b.Size) }

// digestBufSize is the read size used while hashing: large enough that the
// per-call cost vanishes, small enough to stay in cache.
const digestBufSize = 256 << 10

// Digester computes and remembers the sha256 digests of generated blobs. It
// is safe for concurrent use.
type Digester struct {
	mu    sync.Mutex
	known map[Blob]string
}

// NewDigester returns an empty Digester.
func NewDigester() *Digester { return &Digester{known: make(map[Blob]string)} }

// Digest returns "sha256:<hex>" of the blob's bytes, streaming them through
// the hash the first time and answering from memory afterwards.
func (d *Digester) Digest(b Blob) string {
	d.mu.Lock()
	dg, ok := d.known[b]
	d.mu.Unlock()
	if ok {
		return dg
	}
	dg = DigestOf(b)
	d.mu.Lock()
	d.known[b] = dg
	d.mu.Unlock()
	return dg
}

// DigestOf streams the blob through SHA-256 and returns its digest string.
func DigestOf(b Blob) string {
	h := sha256.New()
	buf := make([]byte, digestBufSize)
	if _, err := io.CopyBuffer(h, b.Reader(), buf); err != nil {
		// A Stream never fails and a hash never fails to write.
		panic(fmt.Sprintf("bench: hashing a generated stream: %v", err))
	}
	return formatDigest(h.Sum(nil))
}

// DigestOfBytes returns the "sha256:<hex>" digest of data.
func DigestOfBytes(data []byte) string {
	s := sha256.Sum256(data)
	return formatDigest(s[:])
}

func formatDigest(sum []byte) string { return "sha256:" + hex.EncodeToString(sum) }

// pipelineMin is the body size from which PullBlob reads and hashes in two
// goroutines: SHA-256 alone runs near the speed a server can send over
// loopback, so doing both in turn on one core would make the tool the
// bottleneck of large pulls.
const pipelineMin = 8 << 20

// hashPipelined reads r to the end in one goroutine while writing what was
// read to h in the calling one, through a few reused 1 MiB buffers. It
// returns the bytes read.
func hashPipelined(r io.Reader, h io.Writer) (int64, error) {
	const buffers, size = 4, 1 << 20
	free := make(chan []byte, buffers)
	full := make(chan []byte, buffers)
	for range buffers {
		free <- make([]byte, size)
	}
	readErr := make(chan error, 1)
	go func() {
		defer close(full)
		for b := range free {
			n, err := io.ReadFull(r, b)
			if n > 0 {
				full <- b[:n]
			}
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				readErr <- nil
				return
			}
			if err != nil {
				readErr <- err
				return
			}
		}
	}()
	var total int64
	for b := range full {
		_, _ = h.Write(b) // a hash never fails to write
		total += int64(len(b))
		free <- b[:cap(b)]
	}
	return total, <-readErr
}
