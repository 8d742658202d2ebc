package bench

import (
	"bytes"
	"crypto/sha256"
	"io"
	"testing"
	"testing/iotest"

	"github.com/google/go-cmp/cmp"
)

// readAllWith reads r to the end in reads of the given sizes, cycling.
func readAllWith(t *testing.T, r io.Reader, sizes []int) []byte {
	t.Helper()
	var out []byte
	for i := 0; ; i++ {
		buf := make([]byte, sizes[i%len(sizes)])
		n, err := r.Read(buf)
		out = append(out, buf[:n]...)
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		if n == 0 && len(buf) > 0 {
			t.Fatal("read returned 0 bytes and no error")
		}
	}
}

func TestStreamIsDeterministicWhateverTheReadSizes(t *testing.T) {
	const size = 100_003 // not a multiple of 8
	want := readAllWith(t, NewStream(42, size), []int{size})
	if len(want) != size {
		t.Fatalf("stream gave %d bytes, want %d", len(want), size)
	}
	for _, tc := range []struct {
		name  string
		sizes []int
	}{
		{"one byte", []int{1}},
		{"odd sizes", []int{3, 5, 7, 13}},
		{"word aligned", []int{8, 64}},
		{"mixed", []int{1, 4096, 9, 65536}},
		{"larger than the stream", []int{size * 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := readAllWith(t, NewStream(42, size), tc.sizes)
			if !bytes.Equal(got, want) {
				t.Errorf("bytes differ from a single read (len %d vs %d)", len(got), len(want))
			}
		})
	}
}

func TestStreamPassesReaderConformance(t *testing.T) {
	want := readAllWith(t, NewStream(7, 5000), []int{5000})
	if err := iotest.TestReader(NewStream(7, 5000), want); err != nil {
		t.Fatal(err)
	}
}

func TestStreamEdges(t *testing.T) {
	for _, tc := range []struct {
		name string
		size int64
	}{{"empty", 0}, {"one byte", 1}, {"one word", 8}, {"word and a bit", 9}} {
		t.Run(tc.name, func(t *testing.T) {
			got := readAllWith(t, NewStream(1, tc.size), []int{3})
			if int64(len(got)) != tc.size {
				t.Errorf("got %d bytes, want %d", len(got), tc.size)
			}
		})
	}
}

func TestSeedsGiveDistinctStreams(t *testing.T) {
	seeds := map[uint64]string{}
	for _, label := range []string{"big", "small", "smal", "l"} {
		for i := range 50 {
			s := Seed(label, i)
			if prev, ok := seeds[s]; ok {
				t.Fatalf("Seed(%q, %d) collides with %s", label, i, prev)
			}
			seeds[s] = label
		}
	}
	a := readAllWith(t, Blob{Seed: Seed("a", 0), Size: 64}.Reader(), []int{64})
	b := readAllWith(t, Blob{Seed: Seed("a", 1), Size: 64}.Reader(), []int{64})
	if bytes.Equal(a, b) {
		t.Error("neighbouring indexes produce the same bytes")
	}
}

// TestDigestGolden pins the generator: blobs pushed by one version of the
// tool must keep their digests in the next (pull finds push-mono's blob by
// digest across runs).
func TestDigestGolden(t *testing.T) {
	b := Blob{Seed: Seed("golden", 0), Size: 1000}
	sum := sha256.Sum256(readAllWith(t, b.Reader(), []int{1000}))
	want := formatDigest(sum[:])
	if got := DigestOf(b); got != want {
		t.Fatalf("DigestOf = %s, hashing the bytes gives %s", got, want)
	}
	const golden = "sha256:6642e187bc86c1acc1c1f2149baa5d080553a1a6a4ee808a193b3b1aaa936d96"
	if want != golden {
		t.Errorf("digest of Seed(golden,0)/1000 bytes = %s, want %s (the generator changed)", want, golden)
	}
}

func TestDigesterRemembers(t *testing.T) {
	d := NewDigester()
	b := Blob{Seed: 3, Size: 4096}
	first := d.Digest(b)
	if diff := cmp.Diff(first, d.Digest(b)); diff != "" {
		t.Errorf("second digest differs (-first +second):\n%s", diff)
	}
	if first != DigestOf(b) {
		t.Error("Digester disagrees with DigestOf")
	}
	if d.Digest(Blob{Seed: 3, Size: 4095}) == first {
		t.Error("a shorter blob of the same seed has the same digest")
	}
}

func TestHashPipelinedMatchesSHA256(t *testing.T) {
	for _, size := range []int64{0, 1, 1 << 20, 1<<20 + 1, 5<<20 - 3} {
		b := Blob{Seed: 9, Size: size}
		h := sha256.New()
		n, err := hashPipelined(iotest.HalfReader(b.Reader()), h)
		if err != nil {
			t.Fatalf("size %d: %v", size, err)
		}
		if n != size || formatDigest(h.Sum(nil)) != DigestOf(b) {
			t.Errorf("size %d: read %d bytes, digest %s, want %s", size, n, formatDigest(h.Sum(nil)), DigestOf(b))
		}
	}
}

func TestHashPipelinedReportsReadErrors(t *testing.T) {
	r := io.MultiReader(NewStream(1, 3<<20), iotest.ErrReader(io.ErrClosedPipe))
	if _, err := hashPipelined(r, sha256.New()); err != io.ErrClosedPipe {
		t.Errorf("err = %v, want %v", err, io.ErrClosedPipe)
	}
}

// BenchmarkStream is the generator's rate; it must stay far above any
// server's ingest rate (see also berthbench selfcheck).
func BenchmarkStream(b *testing.B) {
	buf := make([]byte, copyBufSize)
	s := NewStream(1, 1<<62)
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		_, _ = s.Read(buf)
	}
}

// BenchmarkStreamSHA256 is the rate of hashing generated data, the set-up
// cost of every push.
func BenchmarkStreamSHA256(b *testing.B) {
	buf := make([]byte, copyBufSize)
	s := NewStream(1, 1<<62)
	h := sha256.New()
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		_, _ = s.Read(buf)
		_, _ = h.Write(buf)
	}
}
