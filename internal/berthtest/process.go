package berthtest

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// built is the berth binary shared by every test of one test binary.
var built struct {
	once sync.Once
	dir  string
	bin  string
	err  error
}

// Build compiles ./cmd/berth of the module the test runs in, once per test
// binary (GOTOOLCHAIN=local, no VCS stamping), and returns the path of the
// executable. The first caller pays for the build; parallel callers wait for
// it. A failed build fails every caller. The binary lives in a temporary
// directory that Main removes; the directory is readable by every user so a
// test may run the binary under another uid.
func Build(t testing.TB) string {
	t.Helper()
	built.once.Do(func() { built.bin, built.err = buildBerth() })
	if built.err != nil {
		t.Fatalf("build berth: %v", built.err)
	}
	return built.bin
}

func buildBerth() (string, error) {
	root, err := ModuleRoot()
	if err != nil {
		return "", err
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("find the go command: %w", err)
	}
	dir, err := os.MkdirTemp("", "berthtest-bin-")
	if err != nil {
		return "", fmt.Errorf("create build directory: %w", err)
	}
	built.dir = dir
	if err := os.Chmod(dir, 0o755); err != nil {
		return "", fmt.Errorf("open build directory to other users: %w", err)
	}
	bin := filepath.Join(dir, "berth")
	cmd := exec.Command(goBin, "build", "-buildvcs=false", "-o", bin, "./cmd/berth")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOTOOLCHAIN=local")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/berth in %s: %w\n%s", root, err, out)
	}
	return bin, nil
}

// Main runs the tests of a package (call it from TestMain) and then removes
// the binary Build made, before exiting with the tests' status.
func Main(m *testing.M) {
	code := m.Run()
	Cleanup()
	os.Exit(code)
}

// Cleanup removes the binary Build made, for a TestMain that cannot use
// Main because another helper's cleanup must run too.
func Cleanup() {
	if built.dir != "" {
		_ = os.RemoveAll(built.dir)
	}
}

// ModuleRoot returns the directory of the Berth module's go.mod, found by
// walking up from the working directory (a test runs in its package's
// directory).
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("working directory: %w", err)
	}
	for {
		data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.Contains(data, []byte("module github.com/berth-registry/berth\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod of github.com/berth-registry/berth above the working directory")
		}
		dir = parent
	}
}

// ProcessOptions say how StartProcess runs `berth serve`.
type ProcessOptions struct {
	// DataDir is the data directory; "" means a fresh t.TempDir(). Pass the
	// DataDir of an earlier Process to restart on its data.
	DataDir string
	// TLS, if not nil, serves HTTPS with this certificate; the Process's
	// Client then trusts it.
	TLS *TLSCert
	// Args are extra `berth serve` arguments, after the harness's own
	// (--addr 127.0.0.1:0, --data-dir, --tls-cert, --tls-key).
	Args []string
	// ExactArgs, when not nil, replaces every argument after "serve": the
	// test controls the command line entirely and must make berth listen
	// on 127.0.0.1 some other way (BERTH_ADDR=127.0.0.1:0 in Env). DataDir
	// is then only reported, not passed.
	ExactArgs []string
	// Env holds extra KEY=VALUE environment variables, which win over the
	// test's own. BERTH_* variables of the test's environment are never
	// passed on.
	Env []string
	// Credential, if not nil, runs the process as that user (the test
	// must run as root).
	Credential *syscall.Credential
	// ReadyTimeout bounds the wait for the listening line and /readyz.
	// Default 30s.
	ReadyTimeout time.Duration
}

// Process is a running `berth serve` child process. Its methods must be
// called from the test's goroutine unless stated otherwise.
type Process struct {
	// URL is the base URL the server printed, e.g. http://127.0.0.1:41234.
	URL string
	// Addr is HOST:PORT.
	Addr string
	// DataDir is the data directory it serves.
	DataDir string
	// Client is an HTTP client for this server; it trusts the server's
	// certificate when TLS is on.
	Client *http.Client

	t      testing.TB
	cmd    *exec.Cmd
	stdout *syncBuffer
	stderr *syncBuffer
	done   chan struct{}
	// code is the exit code (-1 if killed by a signal), valid once done is
	// closed.
	code    int
	waitErr error
}

// listenLine matches the first line `berth serve` prints on stdout.
var listenLine = regexp.MustCompile(`listening on (https?)://(\S+)`)

// StartProcess runs `bin serve` on 127.0.0.1 (an ephemeral port), waits for
// the listening line on stdout and for /readyz to answer 200, and returns
// the running process. The test fails if it does not come up. When the test
// ends the process is killed if still running, and if the test failed its
// stdout and stderr are written to the test log.
func StartProcess(t testing.TB, bin string, opts ProcessOptions) *Process {
	t.Helper()
	if opts.DataDir == "" && opts.ExactArgs == nil {
		opts.DataDir = t.TempDir()
	}
	if opts.ReadyTimeout == 0 {
		opts.ReadyTimeout = 30 * time.Second
	}
	p := &Process{
		DataDir: opts.DataDir,
		Client:  newClient(opts.TLS),
		t:       t,
		stdout:  &syncBuffer{},
		stderr:  &syncBuffer{},
		done:    make(chan struct{}),
	}
	first := make(chan string, 1)
	p.cmd = exec.Command(bin, append([]string{"serve"}, serveArgs(opts)...)...)
	p.cmd.Env = append(append(withoutBerthEnv(os.Environ()), "BERTH_ADMIN_PASSWORD="+AdminPassword), opts.Env...)
	p.cmd.Stdout = &firstLineWriter{buf: p.stdout, first: first}
	p.cmd.Stderr = p.stderr
	if opts.Credential != nil {
		p.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: opts.Credential}
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	go func() {
		p.waitErr = p.cmd.Wait()
		p.code = p.cmd.ProcessState.ExitCode()
		close(p.done)
	}()
	t.Cleanup(p.cleanup)
	p.awaitListening(first, opts.ReadyTimeout)
	if err := p.awaitReady(opts.ReadyTimeout); err != nil {
		t.Fatalf("berth serve at %s: %v\nstderr:\n%s", p.URL, err, p.Stderr())
	}
	return p
}

func serveArgs(opts ProcessOptions) []string {
	if opts.ExactArgs != nil {
		return opts.ExactArgs
	}
	args := []string{"--addr", "127.0.0.1:0", "--data-dir", opts.DataDir}
	if opts.TLS != nil {
		args = append(args, "--tls-cert", opts.TLS.CertFile, "--tls-key", opts.TLS.KeyFile)
	}
	return append(args, opts.Args...)
}

// awaitListening waits for the first stdout line and parses the URL.
func (p *Process) awaitListening(first <-chan string, timeout time.Duration) {
	p.t.Helper()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	var line string
	select {
	case line = <-first:
	case <-p.done:
		p.t.Fatalf("berth serve exited with code %d before listening\nstdout:\n%s\nstderr:\n%s", p.code, p.Stdout(), p.Stderr())
	case <-timer.C:
		p.t.Fatalf("berth serve printed no listening line within %v\nstderr:\n%s", timeout, p.Stderr())
	}
	m := listenLine.FindStringSubmatch(line)
	if m == nil {
		p.t.Fatalf("berth serve's first line %q does not say where it listens", line)
	}
	p.URL, p.Addr = m[1]+"://"+m[2], m[2]
}

// awaitReady polls /readyz until it answers 200, the process exits or the
// timeout passes.
func (p *Process) awaitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var last error
	for {
		resp, err := p.Client.Get(p.URL + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("/readyz answered %s", resp.Status)
		}
		last = err
		select {
		case <-p.done:
			return fmt.Errorf("exited with code %d while waiting for /readyz (last: %v)", p.code, last)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready after %v (last: %v)", timeout, last)
		}
	}
}

// Stdout returns everything the process has printed on stdout so far.
// Safe for concurrent use.
func (p *Process) Stdout() string { return p.stdout.String() }

// Stderr returns everything the process has logged on stderr so far.
// Safe for concurrent use.
func (p *Process) Stderr() string { return p.stderr.String() }

// Signal sends sig to the process. Safe for concurrent use.
func (p *Process) Signal(sig os.Signal) error {
	if err := p.cmd.Process.Signal(sig); err != nil {
		return fmt.Errorf("signal %v to berth (pid %d): %w", sig, p.cmd.Process.Pid, err)
	}
	return nil
}

// Done is closed when the process has exited. Safe for concurrent use.
func (p *Process) Done() <-chan struct{} { return p.done }

// Wait waits up to timeout for the process to exit and returns its exit
// code (-1 if a signal killed it); ok is false if it is still running.
// Safe for concurrent use.
func (p *Process) Wait(timeout time.Duration) (code int, ok bool) {
	if p.exited() {
		return p.code, true
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-p.done:
		return p.code, true
	case <-timer.C:
		return 0, false
	}
}

// Kill sends SIGKILL, as a crash would, and waits until the process is gone,
// so its data directory can be reused at once.
func (p *Process) Kill() {
	p.t.Helper()
	if err := p.Signal(syscall.SIGKILL); err != nil && !p.exited() {
		p.t.Fatalf("kill: %v", err)
	}
	if _, ok := p.Wait(30 * time.Second); !ok {
		p.t.Fatalf("berth (pid %d) still running 30s after SIGKILL", p.cmd.Process.Pid)
	}
}

// Stop sends SIGTERM and waits for the graceful shutdown to finish (up to
// a minute, after which the process is killed and the test fails), and
// returns the exit code.
func (p *Process) Stop() int {
	p.t.Helper()
	if err := p.Signal(syscall.SIGTERM); err != nil && !p.exited() {
		p.t.Fatalf("stop: %v", err)
	}
	code, ok := p.Wait(time.Minute)
	if !ok {
		p.Kill()
		p.t.Fatalf("berth (pid %d) did not exit within a minute of SIGTERM; killed", p.cmd.Process.Pid)
	}
	return code
}

func (p *Process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// cleanup kills a process still running at the end of the test and shows
// its output if the test failed.
func (p *Process) cleanup() {
	if !p.exited() {
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
		<-p.done
	}
	if p.t.Failed() {
		p.t.Logf("berth serve (%s, data %s) stdout:\n%s\nstderr:\n%s", p.URL, p.DataDir, p.Stdout(), tail(p.Stderr(), 64<<10))
	}
}

// tail returns the last n bytes of s, marked as cut when it is longer.
func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "[... " + fmt.Sprint(len(s)-n) + " bytes cut ...]\n" + s[len(s)-n:]
}

// newClient returns an HTTP client that trusts cert (if not nil) and signs
// in as AdminUser. It does not follow redirects, so tests see exactly what
// the server answers.
func newClient(cert *TLSCert) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if cert != nil {
		tr.TLSClientConfig = &tls.Config{RootCAs: cert.Pool, MinVersion: tls.VersionTLS12}
	}
	return &http.Client{
		Transport:     &basicAuth{next: tr, user: AdminUser, pass: AdminPassword},
		Timeout:       5 * time.Minute,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// withoutBerthEnv drops BERTH_* variables, so a developer's settings do
// not leak into the servers tests start.
func withoutBerthEnv(env []string) []string {
	out := make([]string, 0, len(env))
	for _, kv := range env {
		if !strings.HasPrefix(kv, "BERTH_") {
			out = append(out, kv)
		}
	}
	return out
}

// syncBuffer is a bytes.Buffer safe for concurrent use.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// firstLineWriter copies to buf and sends the first complete line on first.
type firstLineWriter struct {
	buf   *syncBuffer
	first chan<- string
	sent  bool
}

func (w *firstLineWriter) Write(p []byte) (int, error) {
	n, err := w.buf.Write(p)
	if !w.sent {
		if line, _, ok := strings.Cut(w.buf.String(), "\n"); ok {
			w.first <- line
			w.sent = true
		}
	}
	return n, err
}
