package pgtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// server is a PostgreSQL server this process started: its temporary
// directory holds the data directory, the unix socket and the log.
type server struct {
	dir  string
	port int
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
	cred *syscall.Credential
}

// pgHBA lets the postgres role in without a password and asks every other
// role for its password, so that tests can exercise failed logins.
const pgHBA = `local all all trust
host all postgres 127.0.0.1/32 trust
host all all 127.0.0.1/32 scram-sha-256
`

// findBinaries returns the directory of initdb and postgres: the newest
// Debian installation, else the one on PATH. It returns a reason to skip
// when there is none.
func findBinaries() (dir, skip string) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(dirs, func(a, b string) int { return majorVersion(a) - majorVersion(b) })
	for _, d := range slices.Backward(dirs) {
		if isExecutable(filepath.Join(d, "initdb")) && isExecutable(filepath.Join(d, "postgres")) {
			return d, ""
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil && isExecutable(filepath.Join(filepath.Dir(p), "postgres")) {
		return filepath.Dir(p), ""
	}
	return "", "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb, no initdb on PATH)"
}

// majorVersion reads the version from /usr/lib/postgresql/<ver>/bin.
func majorVersion(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// startServer initialises a cluster in a new temporary directory and starts
// it on a free port of 127.0.0.1.
func startServer(ctx context.Context, bin string) (_ *server, err error) {
	sweepStale()
	dir, err := os.MkdirTemp("", dirPrefix)
	if err != nil {
		return nil, err
	}
	s := &server{dir: dir}
	defer func() {
		if err != nil {
			_ = os.RemoveAll(dir)
		}
	}()
	if os.Geteuid() == 0 {
		if s.cred, err = postgresUser(); err != nil {
			return nil, err
		}
		if err := os.Chown(dir, int(s.cred.Uid), int(s.cred.Gid)); err != nil {
			return nil, err
		}
	}
	if err := s.initdb(ctx, bin); err != nil {
		return nil, err
	}
	// Another process may take the free port before the server binds it.
	for attempt := 0; ; attempt++ {
		if s.port, err = freePort(); err != nil {
			return nil, err
		}
		err = s.run(ctx, bin)
		if err == nil || attempt == 4 || ctx.Err() != nil {
			return s, err
		}
	}
}

// dirPrefix starts the name of every server directory in os.TempDir.
const dirPrefix = "berth-pgtest-"

// sweepStale removes the directories of servers whose test binary died
// without stopping them (a test timeout or a panic exits at once; the
// server itself got SIGQUIT). A running server has a postmaster.pid; a
// directory without one that nothing touched for ten minutes is not
// being set up either.
func sweepStale() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), dirPrefix+"*"))
	for _, d := range dirs {
		fi, err := os.Stat(d)
		if err != nil || !fi.IsDir() || time.Since(fi.ModTime()) < 10*time.Minute {
			continue
		}
		if _, err := os.Stat(filepath.Join(d, "data", "postmaster.pid")); errors.Is(err, fs.ErrNotExist) {
			_ = os.RemoveAll(d)
		}
	}
}

// postgresUser returns the credentials of the postgres user, whom the
// server runs as when this process is root.
func postgresUser() (*syscall.Credential, error) {
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root, and initdb refuses root: %w", err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("postgres user ids: %w", err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// command builds a command that runs as the postgres user when needed.
func (s *server) command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = s.dir
	cmd.Env = append(os.Environ(), "LC_ALL=C", "TZ=UTC")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred}
	return cmd
}

// initdb creates the cluster, sorting text with ICU en-US where the build
// supports it, and installs pgHBA.
func (s *server) initdb(ctx context.Context, bin string) error {
	data := filepath.Join(s.dir, "data")
	base := []string{"-D", data, "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8"}
	// Without ICU (or before PostgreSQL 15) fall back to libc's locales.
	var out []byte
	var err error
	for _, locale := range [][]string{
		{"--locale=C.UTF-8", "--locale-provider=icu", "--icu-locale=en-US"},
		{"--locale=C.UTF-8"},
		{"--no-locale"},
	} {
		_ = os.RemoveAll(data)
		out, err = s.command(ctx, filepath.Join(bin, "initdb"), append(base, locale...)...).CombinedOutput()
		if err == nil {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("initdb: %w\n%s", err, out)
	}
	// Root may write the server user's file; otherwise it is ours.
	if err := os.WriteFile(filepath.Join(data, "pg_hba.conf"), []byte(pgHBA), 0o600); err != nil {
		return fmt.Errorf("write pg_hba.conf: %w", err)
	}
	return nil
}

// freePort returns a TCP port of 127.0.0.1 that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// run starts the postmaster and waits until it accepts connections. The
// kernel sends the server SIGQUIT (immediate shutdown) if this process dies
// without stopping it.
func (s *server) run(ctx context.Context, bin string) error {
	logFile, err := os.OpenFile(s.logPath(), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	defer logFile.Close()
	// Not CommandContext: the server outlives ctx, which only bounds the
	// start.
	cmd := s.command(context.Background(), filepath.Join(bin, "postgres"),
		"-D", filepath.Join(s.dir, "data"),
		"-h", "127.0.0.1", "-p", strconv.Itoa(s.port), "-k", s.dir,
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
		"-c", "max_connections=300", "-c", "deadlock_timeout=100ms", "-c", "log_min_messages=warning")
	cmd.SysProcAttr.Pdeathsig = syscall.SIGQUIT
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start postgres: %w", err)
	}
	s.cmd, s.done = cmd, make(chan struct{})
	go func() { _ = cmd.Wait(); close(s.done) }()
	if err := s.waitReady(ctx); err != nil {
		return fmt.Errorf("%w\n%s", err, s.halt())
	}
	return nil
}

// waitReady polls until the server accepts a connection, it exits, or ctx
// ends.
func (s *server) waitReady(ctx context.Context) error {
	for {
		attempt, cancel := context.WithTimeout(ctx, 2*time.Second)
		conn, err := pgx.Connect(attempt, s.url())
		cancel()
		if err == nil {
			return conn.Close(ctx)
		}
		select {
		case <-s.done:
			return errors.New("postgres exited at start")
		case <-ctx.Done():
			return fmt.Errorf("postgres did not accept connections: %w", err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// url is the URL of the maintenance database, as the postgres role.
func (s *server) url() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", s.port)
}

func (s *server) logPath() string { return filepath.Join(s.dir, "postgres.log") }

// halt shuts the server down (fast shutdown, then kill) and returns what
// went wrong, with the server log, or "".
func (s *server) halt() string {
	if s.cmd == nil {
		return ""
	}
	var problem string
	_ = s.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-s.done:
		if !s.cmd.ProcessState.Success() {
			problem = "postgres exited with " + s.cmd.ProcessState.String()
		}
	case <-time.After(30 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
		problem = "postgres did not stop within 30s"
	}
	s.cmd = nil
	if problem != "" {
		log, _ := os.ReadFile(s.logPath())
		problem += "\n" + string(bytes.TrimSpace(log))
	}
	return problem
}

// stop halts the server and removes its directory.
func (s *server) stop() string {
	problem := s.halt()
	if err := os.RemoveAll(s.dir); err != nil {
		problem = strings.TrimSpace(problem + "\nremove " + s.dir + ": " + err.Error())
	}
	return problem
}
