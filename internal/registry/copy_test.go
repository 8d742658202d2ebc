package registry

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"testing"
	"testing/iotest"

	"github.com/google/go-cmp/cmp"
)

// limitedWriter accepts max bytes, then fails; it counts what it got.
type limitedWriter struct {
	buf bytes.Buffer
	max int
}

var errFull = errors.New("writer full")

func (w *limitedWriter) Write(p []byte) (int, error) {
	if room := w.max - w.buf.Len(); len(p) > room {
		w.buf.Write(p[:room])
		return room, errFull
	}
	return w.buf.Write(p)
}

// countingReader counts the bytes read from it.
type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	r := rand.NewChaCha8([32]byte{1})
	_, _ = r.Read(b)
	return b
}

func TestCopyChunks(t *testing.T) {
	errBroken := errors.New("connection reset")
	big := randomBytes(5*largeCopyBuf + 12345)
	for _, tc := range []struct {
		name    string
		data    []byte
		reader  func(io.Reader) io.Reader
		wantN   int
		wantErr error
	}{
		{"empty", nil, nil, 0, nil},
		{"small body, one buffer", big[:1000], nil, 1000, nil},
		{"exactly the small part", big[:smallCopy], nil, smallCopy, nil},
		{"large body, pipelined", big, nil, len(big), nil},
		{"one byte at a time", big[:smallCopy+100], iotest.OneByteReader, smallCopy + 100, nil},
		{"data with EOF", big, iotest.DataErrReader, len(big), nil},
		{"broken after the small part", big, func(r io.Reader) io.Reader {
			return io.MultiReader(io.LimitReader(r, smallCopy+7), iotest.ErrReader(errBroken))
		}, smallCopy + 7, errBroken},
		{"broken in the small part", big, func(r io.Reader) io.Reader {
			return io.MultiReader(io.LimitReader(r, 10), iotest.ErrReader(errBroken))
		}, 10, errBroken},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var r io.Reader = bytes.NewReader(tc.data)
			if tc.reader != nil {
				r = tc.reader(r)
			}
			var w bytes.Buffer
			n, err := copyChunks(&w, r)
			if !errors.Is(err, tc.wantErr) || (err != nil && tc.wantErr == nil) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if n != int64(tc.wantN) || w.Len() != tc.wantN {
				t.Fatalf("copied %d (writer holds %d), want %d", n, w.Len(), tc.wantN)
			}
			if !bytes.Equal(w.Bytes(), tc.data[:tc.wantN]) {
				t.Fatal("the writer holds other bytes than were read")
			}
		})
	}
}

// A failing writer stops the copy: its error is returned, with what it
// took, and the body is not read to the end.
func TestCopyChunksWriterFails(t *testing.T) {
	big := randomBytes(40 * largeCopyBuf)
	for _, max := range []int{100, smallCopy + 5, 3 * largeCopyBuf} {
		w := &limitedWriter{max: max}
		r := &countingReader{r: bytes.NewReader(big)}
		n, err := copyChunks(w, r)
		if !errors.Is(err, errFull) {
			t.Errorf("max %d: err = %v, want %v", max, err, errFull)
		}
		if diff := cmp.Diff(max, int(n)); diff != "" {
			t.Errorf("max %d: copied (-want +got):\n%s", max, diff)
		}
		if !bytes.Equal(w.buf.Bytes(), big[:max]) {
			t.Errorf("max %d: the writer holds other bytes than were read", max)
		}
		// At most the buffers in flight are read past the failure.
		if limit := max + smallCopy + 3*largeCopyBuf; r.n > limit {
			t.Errorf("max %d: read %d bytes of %d after the writer failed, want at most %d", max, r.n, len(big), limit)
		}
	}
}

// readerFromWriter reads for itself; copyChunks must let it.
type readerFromWriter struct {
	bytes.Buffer
	calls int
}

func (w *readerFromWriter) ReadFrom(r io.Reader) (int64, error) {
	w.calls++
	return w.Buffer.ReadFrom(r)
}

func TestCopyChunksReaderFrom(t *testing.T) {
	big := randomBytes(3 * largeCopyBuf)
	w := &readerFromWriter{}
	n, err := copyChunks(w, bytes.NewReader(big))
	if err != nil || n != int64(len(big)) || !bytes.Equal(w.Bytes(), big) {
		t.Fatalf("copied %d, err %v; want %d bytes, nil", n, err, len(big))
	}
	if w.calls != 1 {
		t.Errorf("ReadFrom called %d times, want once", w.calls)
	}
}
