package e2e

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/berthtest"
	"github.com/opencontainers/go-digest"
)

// shutdownTimeout is the graceful shutdown timeout the test configures.
const shutdownTimeout = 20 * time.Second

// TestGracefulShutdown sends SIGTERM while an upload's body is still being
// sent slowly: the listener must close at once (new connections refused),
// the upload must finish with its normal status, and the process must exit
// 0 within the shutdown timeout. A restart then finds the upload whole.
func TestGracefulShutdown(t *testing.T) {
	t.Parallel()
	p := start(t, berthtest.ProcessOptions{Env: []string{"BERTH_HTTP_SHUTDOWN_TIMEOUT=" + shutdownTimeout.String()}})
	reg := p.Registry()
	ctx := context.Background()
	loc, err := reg.StartUpload(ctx, "shutdown/slow")
	if err != nil {
		t.Fatal(err)
	}
	data := randomBytes(2<<20, 21)

	type result struct {
		loc    string
		offset int64
		err    error
	}
	done := make(chan result, 1)
	body, send := io.Pipe()
	go func() {
		next, off, err := reg.PatchChunk(ctx, loc, 0, body, int64(len(data)))
		done <- result{next, off, err}
	}()
	if err := sendSlowly(send, data[:256<<10]); err != nil {
		t.Fatalf("send the start of the body: %v (PATCH: %v)", err, (<-done).err)
	}
	waitInFlight(t, p, 2) // the PATCH and the scrape asking

	if err := p.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	waitRefused(t, p.Addr)
	select {
	case r := <-done:
		t.Fatalf("the PATCH ended before its body was sent: %+v", r)
	case <-p.Done():
		t.Fatal("berth exited while a request was in flight")
	default:
	}

	if err := sendSlowly(send, data[256<<10:]); err != nil {
		t.Fatalf("the shutdown cut off the in-flight PATCH: %v (sending the body: %v)", (<-done).err, err)
	}
	if err := send.Close(); err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.err != nil || r.offset != int64(len(data)) {
		t.Fatalf("PATCH during shutdown: offset %d, %v; want 202 with all %d bytes", r.offset, r.err, len(data))
	}
	code, ok := p.Wait(shutdownTimeout + 10*time.Second)
	switch {
	case !ok:
		t.Fatalf("berth still running %v after SIGTERM", time.Since(stopped))
	case code != 0:
		t.Errorf("exit code %d after SIGTERM, want 0", code)
	case time.Since(stopped) > shutdownTimeout:
		t.Errorf("shutdown took %v, longer than the %v timeout", time.Since(stopped), shutdownTimeout)
	}
	if !strings.Contains(p.Stderr(), "shutting down") {
		t.Errorf("the shutdown was not logged:\n%s", p.Stderr())
	}

	p = start(t, berthtest.ProcessOptions{DataDir: p.DataDir})
	reg = p.Registry()
	path := pathOf(t, r.loc)
	if off, err := reg.UploadStatus(ctx, path); err != nil || off != int64(len(data)) {
		t.Fatalf("after restart the upload holds %d bytes (%v), want %d", off, err, len(data))
	}
	if err := reg.CompleteUpload(ctx, path, digest.FromBytes(data)); err != nil {
		t.Fatal(err)
	}
	got, err := reg.GetBlob(ctx, "shutdown/slow", digest.FromBytes(data))
	if err != nil {
		t.Fatal(err)
	}
	checkBytes(t, "uploaded blob", got, data)
}

// sendSlowly writes data in 32 KiB pieces with a pause between them.
func sendSlowly(w io.Writer, data []byte) error {
	for len(data) > 0 {
		n := min(32<<10, len(data))
		if _, err := w.Write(data[:n]); err != nil {
			return err
		}
		data = data[n:]
		time.Sleep(2 * time.Millisecond)
	}
	return nil
}

// waitInFlight polls /metrics until berth_http_requests_in_flight reaches
// n, so the test knows the server is serving its request.
func waitInFlight(t *testing.T, p *berthtest.Process, n float64) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for scrape(t, p).value("berth_http_requests_in_flight", nil) < n {
		if time.Now().After(deadline) {
			t.Fatalf("the server never had %v requests in flight", n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitRefused dials addr until the connection is refused (the listener is
// closed), failing after 30 seconds.
func waitRefused(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if errors.Is(err, syscall.ECONNREFUSED) {
			return
		}
		if err == nil {
			conn.Close()
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s still accepts connections 30s after SIGTERM (last: %v)", addr, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
