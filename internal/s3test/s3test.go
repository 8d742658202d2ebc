// Package s3test gives tests a real S3-compatible server: versitygw
// (Apache-2.0) with its posix backend in a temporary directory, started
// once per test binary on 127.0.0.1, and a fresh bucket per test.
//
//	func TestMain(m *testing.M) { os.Exit(s3test.Main(m)) }
//
//	func TestX(t *testing.T) {
//		b := s3test.NewBucket(t)
//		store, err := s3.Open(ctx, b.URL, s3.Options{})
//		...
//	}
//
// The binary is the module's .tools/bin/versitygw (scripts/test.sh builds
// it) or versitygw on PATH. Without it tests are skipped, or fail when
// BERTHTEST_REQUIRE_TOOLS=1. To use an existing server instead, set
// BERTHTEST_S3_URL to its endpoint (http://host:port) and the credentials
// in AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_REGION if not
// us-east-1); buckets are then created and removed through its API.
package s3test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// Environment variables read by this package.
const (
	// EnvURL names an existing S3 endpoint to use instead of versitygw.
	EnvURL = "BERTHTEST_S3_URL"
	// envRequireTools makes a missing binary fail tests instead of
	// skipping them (set by scripts/test.sh).
	envRequireTools = "BERTHTEST_REQUIRE_TOOLS"
)

// The credentials and region of the local server.
const (
	localAccessKey = "berthtest"
	localSecretKey = "berthtest-secret-key"
	defaultRegion  = "us-east-1"
	// readyTimeout bounds the wait for a started server to answer.
	readyTimeout = 20 * time.Second
)

// Server is a running S3-compatible server.
type Server struct {
	// Endpoint is the server's base URL, http://127.0.0.1:PORT.
	Endpoint string
	// AccessKey, SecretKey and Region are what clients use.
	AccessKey, SecretKey, Region string
	// Client talks to the server with those credentials.
	Client *minio.Core

	// root is the posix backend's directory (buckets are directories in
	// it), empty for an external server.
	root string
	// base holds root and the server log; removed by stop.
	base string
	cmd  *exec.Cmd
	// exited is closed when the server process ends.
	exited chan struct{}
}

// errMissing says that no versitygw binary was found.
var errMissing = errors.New("versitygw is not installed")

var (
	startOnce sync.Once
	shared    *Server
	startErr  error
)

// Main runs the tests of m and then stops the server if one was started,
// removing its directory. Use it from TestMain: os.Exit(s3test.Main(m)).
// Without it the server still dies with the test binary (on Linux), but
// its temporary directory stays.
func Main(m *testing.M) int {
	code := m.Run()
	Cleanup()
	return code
}

// Cleanup stops the shared server, if a test started one, and removes its
// data, for a TestMain that combines several helpers.
func Cleanup() {
	if shared != nil {
		shared.stop()
	}
}

// Start returns the shared server, starting it on first use. It skips the
// test (or fails it under BERTHTEST_REQUIRE_TOOLS=1) if there is no
// versitygw binary, and fails it if the server does not start.
func Start(tb testing.TB) *Server {
	tb.Helper()
	startOnce.Do(func() { shared, startErr = startShared() })
	switch {
	case errors.Is(startErr, errMissing) && os.Getenv(envRequireTools) != "1":
		tb.Skipf("%v; run scripts/test.sh, which builds it into .tools/bin (or set %s to an S3 endpoint)", startErr, EnvURL)
	case startErr != nil:
		tb.Fatalf("s3test: %v", startErr)
	}
	return shared
}

// startShared starts versitygw, or connects to the server EnvURL names.
func startShared() (*Server, error) {
	if raw := os.Getenv(EnvURL); raw != "" {
		return external(raw)
	}
	bin, err := binary()
	if err != nil {
		return nil, err
	}
	var errs []error
	// A free port can be taken between choosing and binding it: retry.
	for range 3 {
		s, err := startLocal(bin)
		if err == nil {
			return s, nil
		}
		errs = append(errs, err)
	}
	return nil, errors.Join(errs...)
}

// external describes the server at endpoint raw, credentials from the
// AWS environment variables.
func external(raw string) (*Server, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("%s=%q is not an http(s)://host:port endpoint", EnvURL, raw)
	}
	s := &Server{
		Endpoint:  u.Scheme + "://" + u.Host,
		AccessKey: os.Getenv("AWS_ACCESS_KEY_ID"),
		SecretKey: os.Getenv("AWS_SECRET_ACCESS_KEY"),
		Region:    os.Getenv("AWS_REGION"),
	}
	if s.AccessKey == "" || s.SecretKey == "" {
		return nil, fmt.Errorf("%s is set but AWS_ACCESS_KEY_ID or AWS_SECRET_ACCESS_KEY is not", EnvURL)
	}
	if s.Region == "" {
		s.Region = defaultRegion
	}
	return s, s.connect()
}

// binary finds versitygw in the module's .tools/bin or on PATH.
func binary() (string, error) {
	if root, ok := moduleRoot(); ok {
		p := filepath.Join(root, ".tools", "bin", "versitygw")
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("%w (neither in the module's .tools/bin nor on PATH)", errMissing)
}

// moduleRoot returns the nearest directory at or above the working
// directory that holds a go.mod.
func moduleRoot() (string, bool) {
	dir, err := os.Getwd()
	if err != nil {
		return "", false
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, true
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", false
		}
		dir = parent
	}
}

// startLocal starts bin on a free port with a posix backend in a new
// temporary directory and waits until it answers.
func startLocal(bin string) (*Server, error) {
	base, err := os.MkdirTemp("", "berth-s3test-")
	if err != nil {
		return nil, err
	}
	root := filepath.Join(base, "root")
	if err := os.Mkdir(root, 0o755); err != nil {
		os.RemoveAll(base)
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		os.RemoveAll(base)
		return nil, err
	}
	logPath := filepath.Join(base, "versitygw.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		os.RemoveAll(base)
		return nil, err
	}
	defer logFile.Close() // the child has its own descriptor
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	cmd := exec.Command(bin, "--port", addr, "posix", root)
	cmd.Env = append(os.Environ(), "ROOT_ACCESS_KEY="+localAccessKey, "ROOT_SECRET_KEY="+localSecretKey)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = procAttr()
	if err := cmd.Start(); err != nil {
		os.RemoveAll(base)
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	s := &Server{
		Endpoint: "http://" + addr, AccessKey: localAccessKey, SecretKey: localSecretKey, Region: defaultRegion,
		root: root, base: base, cmd: cmd, exited: make(chan struct{}),
	}
	go func() {
		_ = cmd.Wait() // the exit status is reported through the log
		close(s.exited)
	}()
	if err := s.waitReady(addr); err != nil {
		s.stop()
		out, _ := os.ReadFile(logPath)
		return nil, fmt.Errorf("versitygw on %s: %w; its log:\n%s", addr, err, out)
	}
	if err := s.connect(); err != nil {
		s.stop()
		return nil, err
	}
	return s, nil
}

// freePort returns a TCP port that was free on 127.0.0.1 a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// waitReady polls addr until the server answers HTTP, it exits, or
// readyTimeout passes.
func (s *Server) waitReady(addr string) error {
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(readyTimeout)
	for time.Now().Before(deadline) {
		select {
		case <-s.exited:
			return errors.New("the server exited during start-up")
		default:
		}
		resp, err := client.Get("http://" + addr + "/")
		if err == nil {
			resp.Body.Close()
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("no answer within %v", readyTimeout)
}

// connect makes the server's client.
func (s *Server) connect() error {
	u, _ := url.Parse(s.Endpoint) // built or checked by the caller
	c, err := minio.NewCore(u.Host, &minio.Options{
		Creds:        credentials.NewStaticV4(s.AccessKey, s.SecretKey, ""),
		Secure:       u.Scheme == "https",
		Region:       s.Region,
		BucketLookup: minio.BucketLookupPath,
	})
	if err != nil {
		return fmt.Errorf("client for %s: %w", s.Endpoint, err)
	}
	s.Client = c
	return nil
}

// stop ends a local server and removes its directory.
func (s *Server) stop() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill() // it may have exited already
	<-s.exited
	_ = os.RemoveAll(s.base)
}

// Local reports whether the server is the versitygw this package started
// (so its buckets are directories under Root).
func (s *Server) Local() bool { return s.root != "" }

// Root returns the posix backend's directory of a local server.
func (s *Server) Root() string { return s.root }

// Bucket is an empty bucket for one test.
type Bucket struct {
	// Name is the bucket name.
	Name string
	// URL opens the bucket with s3.Open: s3://NAME?endpoint=...&region=...
	// &path-style=true, with the local server's (test-only) credentials
	// as access-key and secret-key. For an external server it carries no
	// credentials: s3.Open reads them from the environment.
	URL string
	// Server is the server holding the bucket.
	Server *Server
}

// NewBucket creates a fresh bucket on the shared server and removes it,
// with everything in it, when the test ends.
func NewBucket(tb testing.TB) *Bucket {
	tb.Helper()
	s := Start(tb)
	name := "berth-" + strings.ToLower(rand.Text()[:16])
	ctx := context.Background()
	if err := s.Client.MakeBucket(ctx, name, minio.MakeBucketOptions{Region: s.Region}); err != nil {
		tb.Fatalf("s3test: create bucket %s: %v", name, err)
	}
	tb.Cleanup(func() {
		if err := s.removeBucket(context.Background(), name); err != nil {
			tb.Errorf("s3test: remove bucket %s: %v", name, err)
		}
	})
	return &Bucket{Name: name, URL: s.bucketURL(name), Server: s}
}

// bucketURL returns the store URL of bucket name.
func (s *Server) bucketURL(name string) string {
	q := url.Values{}
	q.Set("endpoint", s.Endpoint)
	q.Set("region", s.Region)
	q.Set("path-style", "true")
	if s.Local() {
		q.Set("access-key", s.AccessKey)
		q.Set("secret-key", s.SecretKey)
	}
	return "s3://" + name + "?" + q.Encode()
}

// removeBucket deletes a bucket: the directory of a local server, through
// the API (objects, multipart uploads, bucket) on an external one.
func (s *Server) removeBucket(ctx context.Context, name string) error {
	if s.Local() {
		return os.RemoveAll(filepath.Join(s.root, name))
	}
	for u := range s.Client.ListIncompleteUploads(ctx, name, "", true) {
		if u.Err != nil {
			return u.Err
		}
		if err := s.Client.AbortMultipartUpload(ctx, name, u.Key, u.UploadID); err != nil {
			return err
		}
	}
	for oi := range s.Client.Client.ListObjects(ctx, name, minio.ListObjectsOptions{Recursive: true}) {
		if oi.Err != nil {
			return oi.Err
		}
		if err := s.Client.RemoveObject(ctx, name, oi.Key, minio.RemoveObjectOptions{}); err != nil {
			return err
		}
	}
	return s.Client.RemoveBucket(ctx, name)
}
