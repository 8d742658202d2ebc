package bench

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/google/go-cmp/cmp"
)

// A real line of /proc/<pid>/stat with the command name made awkward.
const statLine = "4242 (my (odd) server) S 1 4242 4242 0 -1 4194560 12345 0 3 0 250 75 0 0 20 0 9 0 1234 1603772416 11456 18446744073709551615 1 1 0 0 0 0 0 0 2143420159 0 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0 0\n"

const statusText = `Name:	registry
Umask:	0022
State:	S (sleeping)
VmPeak:	 1566180 kB
VmHWM:	   51200 kB
VmRSS:	   45120 kB
Threads:	9
`

func TestParseStatCPU(t *testing.T) {
	for _, tc := range []struct {
		name, stat string
		want       int64
		ok         bool
	}{
		{"parentheses and spaces in the name", statLine, 325, true},
		{"no command", "4242 S 1 2 3", 0, false},
		{"too short", "1 (x) S 1 2 3", 0, false},
		{"not a number", "1 (x) S 1 1 1 0 -1 0 0 0 0 0 x 1 0 0", 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseStatCPU(tc.stat)
			if (err == nil) != tc.ok {
				t.Fatalf("err = %v, want ok=%v", err, tc.ok)
			}
			if !tc.ok && !errdefs.IsInvalid(err) {
				t.Errorf("err = %v, want class invalid", err)
			}
			if got != tc.want {
				t.Errorf("ParseStatCPU = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestParseStatusBytes(t *testing.T) {
	for _, tc := range []struct {
		field string
		want  int64
		ok    bool
	}{
		{"VmHWM", 51200 << 10, true},
		{"VmRSS", 45120 << 10, true},
		{"VmSwap", 0, false},
		{"Threads", 0, false}, // no unit: refused rather than misread
	} {
		t.Run(tc.field, func(t *testing.T) {
			got, err := ParseStatusBytes(statusText, tc.field)
			if (err == nil) != tc.ok {
				t.Fatalf("err = %v, want ok=%v", err, tc.ok)
			}
			if got != tc.want {
				t.Errorf("ParseStatusBytes(%s) = %d, want %d", tc.field, got, tc.want)
			}
		})
	}
}

// fakeProc writes stat and status files of pid under a temporary proc root.
func fakeProc(t *testing.T, pid int, stat, status string) string {
	t.Helper()
	root := t.TempDir()
	dir := filepath.Join(root, strconv.Itoa(pid))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string]string{"stat": stat, "status": status} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestProcMeterScopes(t *testing.T) {
	for _, tc := range []struct {
		name       string
		blockReset bool
		wantScope  string
	}{
		{"peak reset per phase", false, "phase"},
		{"reset refused", true, "process"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := fakeProc(t, 4242, statLine, statusText)
			if tc.blockReset {
				// A directory cannot be written as a file: the reset fails.
				if err := os.Mkdir(filepath.Join(root, "4242", "clear_refs"), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			m := ProcMeter{PID: 4242, Root: root}
			probe, err := m.Start()
			if err != nil {
				t.Fatal(err)
			}
			later := "4242 (my (odd) server) S 1 4242 4242 0 -1 4194560 12345 0 3 0 400 100 0 0 20 0 9 0"
			if err := os.WriteFile(filepath.Join(root, "4242", "stat"), []byte(later), 0o644); err != nil {
				t.Fatal(err)
			}
			got, err := m.Stop(probe)
			if err != nil {
				t.Fatal(err)
			}
			want := &ServerUsage{CPUSeconds: 1.75, RSSStartBytes: 45120 << 10, PeakRSSBytes: 51200 << 10, PeakScope: tc.wantScope}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("usage (-want +got):\n%s", diff)
			}
			if !tc.blockReset {
				b, err := os.ReadFile(filepath.Join(root, "4242", "clear_refs"))
				if err != nil || string(b) != "5" {
					t.Errorf("clear_refs = %q, %v; want \"5\" written", b, err)
				}
			}
		})
	}
}

func TestProcMeterDisabledAndMissing(t *testing.T) {
	p, err := ProcMeter{}.Start()
	if p != nil || err != nil {
		t.Errorf("zero meter Start = %v, %v; want nil, nil", p, err)
	}
	if u, err := (ProcMeter{}).Stop(nil); u != nil || err != nil {
		t.Errorf("zero meter Stop = %v, %v; want nil, nil", u, err)
	}
	_, err = ProcMeter{PID: 1, Root: t.TempDir()}.Start()
	if !errors.Is(err, errdefs.ErrUnavailable) {
		t.Errorf("Start on a missing process: err = %v, want class unavailable", err)
	}
}

// TestProcMeterOwnProcess reads this test process from the real /proc.
func TestProcMeterOwnProcess(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc on this system")
	}
	m := ProcMeter{PID: os.Getpid()}
	probe, err := m.Start()
	if err != nil {
		t.Fatal(err)
	}
	sink := 0
	for i := range 5_000_000 {
		sink += i % 7
	}
	_ = sink
	u, err := m.Stop(probe)
	if err != nil {
		t.Fatal(err)
	}
	if u.CPUSeconds < 0 || u.PeakRSSBytes <= 0 || u.RSSStartBytes <= 0 {
		t.Errorf("implausible usage of this process: %+v", u)
	}
}
