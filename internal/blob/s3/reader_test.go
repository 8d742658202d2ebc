package s3

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/s3test"
)

// countingTransport counts the GET requests it carries and the response
// body bytes read through it.
type countingTransport struct {
	mu        sync.Mutex
	gets      int
	bytesRead int64
}

func (c *countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err == nil && req.Method == http.MethodGet {
		c.mu.Lock()
		c.gets++
		c.mu.Unlock()
		resp.Body = &countingBody{ReadCloser: resp.Body, c: c}
	}
	return resp, err
}

func (c *countingTransport) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gets, c.bytesRead = 0, 0
}

func (c *countingTransport) counts() (gets int, bytesRead int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gets, c.bytesRead
}

type countingBody struct {
	io.ReadCloser
	c *countingTransport
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.c.mu.Lock()
	b.c.bytesRead += int64(n)
	b.c.mu.Unlock()
	return n, err
}

// TestServeRange serves a blob with http.ServeContent, as the registry
// does, and checks that a Range request reads only its range from the
// bucket (a ranged GET, not a read-and-discard from the start), while a
// whole-blob request costs a single GET.
func TestServeRange(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := s3test.NewBucket(t)
	tr := &countingTransport{}
	s := openTestStore(t, b.URL, Options{PartSize: MinPartSize, Transport: tr})
	data := randomData(3*MinPartSize+99, 80)
	dgst, _ := storeBlob(t, s, data, 1<<20)

	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rd, err := s.Open(r.Context(), dgst)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		defer rd.Close()
		// As the registry does; without a type ServeContent would read
		// 512 bytes to sniff one and seek back.
		w.Header().Set("Content-Type", "application/octet-stream")
		http.ServeContent(w, r, "", time.Time{}, rd)
	}))
	defer srv.Close()

	size := len(data)
	tests := []struct {
		name     string
		rangeHdr string
		want     []byte
		// maxRead bounds the bytes read from the bucket.
		maxRead  int64
		wantGets int
	}{
		{"whole blob", "", data, int64(size), 1},
		{"range near the end", fmt.Sprintf("bytes=%d-%d", size-70_000, size-1), data[size-70_000:], 70_000, 2},
		{"suffix range", "bytes=-1000", data[size-1000:], 1000, 2},
		{"range in the middle", "bytes=6000000-6000999", data[6_000_000:6_001_000], 1000, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr.reset()
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
			if tc.rangeHdr != "" {
				req.Header.Set("Range", tc.rangeHdr)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatalf("GET: %v", err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			wantStatus := http.StatusOK
			if tc.rangeHdr != "" {
				wantStatus = http.StatusPartialContent
			}
			if resp.StatusCode != wantStatus || !bytes.Equal(body, tc.want) {
				t.Fatalf("status %d with %d bytes; want %d with %d bytes (equal: %v)",
					resp.StatusCode, len(body), wantStatus, len(tc.want), bytes.Equal(body, tc.want))
			}
			gets, read := tr.counts()
			if gets != tc.wantGets || read > tc.maxRead {
				t.Errorf("served with %d GETs reading %d bytes from the bucket; want %d GETs and at most %d bytes",
					gets, read, tc.wantGets, tc.maxRead)
			}
		})
	}
}
