package bench

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/berth-registry/berth/internal/errdefs"
)

// SelfCheck is one measurement of the tool's own speed.
type SelfCheck struct {
	Name    string  `json:"name"`
	Bytes   int64   `json:"bytes"`
	Seconds float64 `json:"seconds"`
	MiBps   float64 `json:"mib_per_sec"`
}

// RunSelfCheck measures how fast this machine can generate blob data, hash
// it, send it over loopback HTTP to a sink that discards it, and receive
// and verify it from a source that generates it, size bytes each. The sink
// and source are in-process and share the CPU with the client, as a server
// would; if these rates are well above what a registry achieves, the tool
// is not what limits the benchmark.
func RunSelfCheck(ctx context.Context, size int64) ([]SelfCheck, error) {
	b := Blob{Seed: Seed("selfcheck", 0), Size: size}
	buf := make([]byte, copyBufSize)
	var out []SelfCheck
	record := func(name string, fn func() error) error {
		start := time.Now()
		if err := fn(); err != nil {
			return fmt.Errorf("selfcheck %s: %w", name, err)
		}
		s := time.Since(start).Seconds()
		out = append(out, SelfCheck{Name: name, Bytes: size, Seconds: s, MiBps: float64(size) / (1 << 20) / s})
		return nil
	}
	if err := record("generate", func() error { return consume(b.Reader(), buf, nil) }); err != nil {
		return nil, err
	}
	if err := record("generate+sha256", func() error { return consume(b.Reader(), buf, sha256.New()) }); err != nil {
		return nil, err
	}
	dg := DigestOf(b)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("selfcheck: %w", errdefs.Unavailable("listening on loopback: %v", err))
	}
	srv := &http.Server{Handler: selfcheckHandler(b), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	c, err := NewClient("http://"+ln.Addr().String(), 1)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if err := record("http-put", func() error {
		return c.PushMonolithic(ctx, "selfcheck", b.Reader(), b.Size, dg)
	}); err != nil {
		return nil, err
	}
	if err := record("http-get+sha256", func() error {
		_, err := c.PullBlob(ctx, "selfcheck", dg, buf)
		return err
	}); err != nil {
		return nil, err
	}
	return out, nil
}

// consume reads r to the end with buf, into w when not nil. It does not use
// io.Copy, whose io.Discard shortcut would read in small pieces.
func consume(r io.Reader, buf []byte, w io.Writer) error {
	for {
		n, err := r.Read(buf)
		if w != nil && n > 0 {
			_, _ = w.Write(buf[:n])
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// selfcheckHandler answers just enough of the upload flow for PushMonolithic
// (POST gives a Location, PUT discards the body) and serves b for any GET.
// It is a measuring instrument for the tool, not a registry.
func selfcheckHandler(b Blob) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodPost:
			w.Header().Set("Location", "/upload/1")
			w.WriteHeader(http.StatusAccepted)
		case http.MethodPut:
			if err := consume(r.Body, make([]byte, copyBufSize), nil); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			w.WriteHeader(http.StatusCreated)
		case http.MethodGet:
			w.Header().Set("Content-Length", fmt.Sprint(b.Size))
			buf := make([]byte, copyBufSize)
			_ = consume(b.Reader(), buf, w)
		default:
			w.WriteHeader(http.StatusMethodNotAllowed)
		}
	})
}
