package e2e

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/berthtest"
	"github.com/berth-registry/berth/internal/pgtest"
	"github.com/berth-registry/berth/internal/s3test"
	"github.com/jackc/pgx/v5"
)

// The scale-out tests run `berth serve` replicas on a real PostgreSQL
// (internal/pgtest) and a real S3-compatible server (versitygw, through
// internal/s3test). Both skip without the server, and fail instead under
// BERTHTEST_REQUIRE_TOOLS=1.

// scaleOut is a set of replicas sharing one PostgreSQL database and one
// bucket, as a scale-out deployment runs them.
type scaleOut struct {
	bin string
	// db is the database URL (the postgres role, no password).
	db string
	// bucket is the bucket; storage its URL without credentials, which the
	// replicas read from the AWS environment variables in env.
	bucket  *s3test.Bucket
	storage string
	// env is every replica's extra environment: credentials and settings.
	env []string
	// replicas are the running processes, opts how each was started (a
	// restart reuses them).
	replicas []*berthtest.Process
	opts     []berthtest.ProcessOptions
}

// newScaleOut makes a fresh database and bucket and starts n replicas on
// them at the same time (so they migrate the empty database together),
// each with the BERTH_* settings in settings. It fails the test unless all
// come up.
func newScaleOut(t *testing.T, n int, settings ...string) *scaleOut {
	t.Helper()
	c := newBackends(t, settings...)
	c.opts = make([]berthtest.ProcessOptions, n)
	for i := range c.opts {
		c.opts[i] = c.options()
	}
	c.replicas = berthtest.StartProcesses(t, c.bin, c.opts)
	return c
}

// newBackends makes the database and bucket of a scale-out set without
// starting anything.
func newBackends(t *testing.T, settings ...string) *scaleOut {
	t.Helper()
	bin := berthBinary(t)
	db := pgtest.NewDatabase(t)
	bucket := s3test.NewBucket(t)
	return &scaleOut{
		bin: bin, db: db, bucket: bucket, storage: withoutCredentials(t, bucket.URL),
		env: append([]string{
			"AWS_ACCESS_KEY_ID=" + bucket.Server.AccessKey,
			"AWS_SECRET_ACCESS_KEY=" + bucket.Server.SecretKey,
			"AWS_REGION=" + bucket.Server.Region,
			"AWS_SESSION_TOKEN=", "AWS_PROFILE=",
		}, settings...),
	}
}

// options returns the options of a replica on c's backends, with a data
// directory of its own (which a replica does not use for data).
func (c *scaleOut) options() berthtest.ProcessOptions {
	return berthtest.ProcessOptions{
		Args: []string{"--metadata", c.db, "--storage", c.storage, "--log-level", "warn"},
		Env:  c.env,
	}
}

// restart starts replica i again with the options it first ran with.
func (c *scaleOut) restart(t *testing.T, i int) {
	t.Helper()
	c.replicas[i] = berthtest.StartProcess(t, c.bin, c.opts[i])
}

// reg returns a client for replica i.
func (c *scaleOut) reg(i int) *berthtest.Registry { return c.replicas[i].Registry() }

// regs returns a client for every replica.
func (c *scaleOut) regs() []*berthtest.Registry {
	out := make([]*berthtest.Registry, len(c.replicas))
	for i := range c.replicas {
		out[i] = c.reg(i)
	}
	return out
}

// withoutCredentials removes access-key and secret-key from a bucket URL.
func withoutCredentials(t *testing.T, raw string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatalf("bucket URL: %v", err)
	}
	q := u.Query()
	q.Del("access-key")
	q.Del("secret-key")
	u.RawQuery = q.Encode()
	return u.String()
}

// queryDB runs one query on c's database and scans its single row into
// dest.
func (c *scaleOut) queryDB(t *testing.T, dest []any, sql string, args ...any) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, c.db)
	if err != nil {
		t.Fatalf("connect to the test database: %v", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	return conn.QueryRow(ctx, sql, args...).Scan(dest...)
}

// execDB runs one statement on c's database.
func (c *scaleOut) execDB(t *testing.T, sql string, args ...any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, c.db)
	if err != nil {
		t.Fatalf("connect to the test database: %v", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// eventually calls check until it returns nil or the bound passes, and
// fails the test with the last error then. It is a bounded wait for
// something the registry does asynchronously (the change feed reaching
// another replica's cache), not a timing assertion: the bound is far above
// what it normally takes.
func eventually(t *testing.T, bound time.Duration, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(bound)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still not true after %v: %v", what, bound, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// feedBound bounds waits for the change feed. The replicas run with a cache
// TTL of an hour, so only the feed can make them converge within it.
const feedBound = 15 * time.Second

// roundRobin is a reverse proxy on 127.0.0.1 that sends each request to the
// next of its backends, as a load balancer without session affinity would.
type roundRobin struct {
	// URL is the proxy's base URL and Addr its HOST:PORT.
	URL, Addr string
	backends  []*url.URL
	next      atomic.Uint64
	// counts holds the requests sent to each backend.
	counts []atomic.Int64
	// rewritten counts Location headers that named a backend and had to be
	// made relative.
	rewritten atomic.Int64
}

// newRoundRobin starts a round-robin proxy in front of procs until the
// test ends.
func newRoundRobin(t *testing.T, procs []*berthtest.Process) *roundRobin {
	t.Helper()
	rr := &roundRobin{}
	for _, p := range procs {
		u, err := url.Parse(p.URL)
		if err != nil {
			t.Fatal(err)
		}
		rr.backends = append(rr.backends, u)
	}
	rr.counts = make([]atomic.Int64, len(rr.backends))
	proxy := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			i := (rr.next.Add(1) - 1) % uint64(len(rr.backends))
			rr.counts[i].Add(1)
			pr.SetURL(rr.backends[i])
			pr.Out.Host = pr.In.Host // the registry sees the name clients use
			pr.SetXForwarded()
		},
		ModifyResponse: rr.relativeLocation,
		FlushInterval:  -1,
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: proxy, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("round-robin proxy: %v", err)
		}
	})
	rr.Addr = ln.Addr().String()
	rr.URL = "http://" + rr.Addr
	return rr
}

// sent returns how many requests the proxy sent to each backend.
func (rr *roundRobin) sent() []int64 {
	out := make([]int64, len(rr.counts))
	for i := range rr.counts {
		out[i] = rr.counts[i].Load()
	}
	return out
}

// relativeLocation makes a Location header that names one backend
// relative, so the client's next request may land on any replica.
func (rr *roundRobin) relativeLocation(resp *http.Response) error {
	loc := resp.Header.Get("Location")
	if loc == "" {
		return nil
	}
	u, err := url.Parse(loc)
	if err != nil || !u.IsAbs() {
		return nil // not an absolute URL: nothing to rewrite
	}
	for _, b := range rr.backends {
		if u.Scheme == b.Scheme && u.Host == b.Host {
			rel := &url.URL{Path: u.Path, RawPath: u.RawPath, RawQuery: u.RawQuery}
			resp.Header.Set("Location", rel.String())
			rr.rewritten.Add(1)
			return nil
		}
	}
	return nil
}

// process describes the proxy as a berthtest.Process for helpers that
// only need its address (runConformance).
func (rr *roundRobin) process() *berthtest.Process {
	return &berthtest.Process{URL: rr.URL, Addr: rr.Addr}
}

// checkNoSecret fails the test if out contains any of secrets.
func checkNoSecret(t *testing.T, what, out string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if s != "" && strings.Contains(out, s) {
			t.Errorf("%s shows a secret (%q):\n%s", what, s, out)
		}
	}
}

// closedPort returns a port on 127.0.0.1 that nothing listens on (it was
// free a moment ago).
func closedPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return port
}
