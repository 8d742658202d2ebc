package registry

import (
	"errors"
	"io"
	"sync"
	"sync/atomic"
)

// How an upload's body reaches the blob writer. A body is read through a
// small buffer first; once it has proved larger than smallCopy, the rest
// goes through two large pooled buffers, and reading the next one from
// the network overlaps writing and hashing the last one in another
// goroutine. For a big blob that means a few system calls per MiB instead
// of a read and a write per 32 KiB (io.Copy's buffer), and two cores at
// work instead of one; the small blobs of an image push take no large
// buffer at all.
const (
	smallCopy    = 256 << 10
	smallCopyBuf = 32 << 10
	largeCopyBuf = 1 << 20
)

// largeCopyBufs holds pairs of large buffers.
var largeCopyBufs = sync.Pool{New: func() any {
	return &[2][]byte{make([]byte, largeCopyBuf), make([]byte, largeCopyBuf)}
}}

// copyChunks copies r to w until r reports io.EOF, like io.Copy: it
// returns the bytes written and the first error of either side (a read
// error after the data read with it was written). Only the calling
// goroutine reads r, and w is done with every buffer when it returns. A
// writer that reads for itself (io.ReaderFrom, as the S3 driver's, which
// reads straight into its part buffer) is left to do so.
func copyChunks(w io.Writer, r io.Reader) (int64, error) {
	if rf, ok := w.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	n, err := io.CopyBuffer(w, io.LimitReader(r, smallCopy), make([]byte, smallCopyBuf))
	if err != nil || n < smallCopy {
		return n, err
	}
	bufs := largeCopyBufs.Get().(*[2][]byte)
	defer largeCopyBufs.Put(bufs)
	m, err := copyPipelined(w, r, bufs[:])
	return n + m, err
}

// copyPipelined reads r into bufs in the calling goroutine and writes
// them to w, in order, in another. It stops reading once a write failed.
func copyPipelined(w io.Writer, r io.Reader, bufs [][]byte) (int64, error) {
	free := make(chan []byte, len(bufs))
	full := make(chan []byte, len(bufs))
	for _, b := range bufs {
		free <- b
	}
	var (
		written int64
		werr    error
		failed  atomic.Bool
		done    = make(chan struct{})
	)
	go func() {
		defer close(done)
		for b := range full {
			if werr == nil {
				var n int
				n, werr = w.Write(b)
				written += int64(n)
				if werr == nil && n < len(b) {
					werr = io.ErrShortWrite
				}
				if werr != nil {
					failed.Store(true)
				}
			}
			free <- b[:cap(b)]
		}
	}()
	var rerr error
	for !failed.Load() {
		b := <-free
		n, err := r.Read(b)
		if n > 0 {
			full <- b[:n]
		} else {
			free <- b
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				rerr = err
			}
			break
		}
	}
	close(full)
	<-done
	if werr != nil {
		return written, werr
	}
	return written, rerr
}
