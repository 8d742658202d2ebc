package berthtest

import (
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// StartProcesses runs one `berth serve` per element of opts, launching every
// process before waiting for any, so that they start together: replicas on
// one PostgreSQL database then migrate it at the same moment, as a rolling
// deployment that starts them at once would. It waits for each to print its
// listening line and answer /readyz, and fails the test if one does not come
// up (with its output). Each Process behaves as one from StartProcess: it is
// killed when the test ends, and its output is logged if the test failed.
func StartProcesses(t testing.TB, bin string, opts []ProcessOptions) []*Process {
	t.Helper()
	procs := make([]*Process, len(opts))
	firsts := make([]chan string, len(opts))
	for i := range opts {
		if opts[i].DataDir == "" && opts[i].ExactArgs == nil {
			opts[i].DataDir = t.TempDir()
		}
		if opts[i].ReadyTimeout == 0 {
			opts[i].ReadyTimeout = 30 * time.Second
		}
		procs[i], firsts[i] = launch(t, bin, opts[i])
	}
	for i, p := range procs {
		p.awaitListening(firsts[i], opts[i].ReadyTimeout)
	}
	for i, p := range procs {
		if err := p.awaitReady(opts[i].ReadyTimeout); err != nil {
			t.Fatalf("berth serve #%d at %s: %v\nstderr:\n%s", i, p.URL, err, p.Stderr())
		}
	}
	return procs
}

// launch starts `bin serve` with opts (defaults already applied) and
// returns the process, not yet listening, and the channel that receives
// its first stdout line.
func launch(t testing.TB, bin string, opts ProcessOptions) (*Process, chan string) {
	t.Helper()
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
	return p, first
}
