package bench

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/berth-registry/berth/internal/errdefs"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/<pid>/stat. It
// is 100 on every Linux architecture Go supports (the kernel converts to it
// whatever CONFIG_HZ is).
const clockTicks = 100

// ServerUsage is what the server process used during one phase.
type ServerUsage struct {
	// CPUSeconds is user plus system CPU time consumed during the phase.
	CPUSeconds float64 `json:"cpu_seconds"`
	// RSSStartBytes is the resident set size when the phase started.
	RSSStartBytes int64 `json:"rss_start_bytes"`
	// PeakRSSBytes is the high-water mark of the resident set (VmHWM).
	PeakRSSBytes int64 `json:"peak_rss_bytes"`
	// PeakScope is "phase" when the mark was reset at the start of the phase,
	// or "process" when resetting failed and the mark covers the process's
	// whole life so far.
	PeakScope string `json:"peak_scope"`
}

// ProcMeter reads a server's CPU time and memory from /proc. The zero PID
// disables it: Start and Stop then return nil usage.
type ProcMeter struct {
	PID int
	// Root is the proc mount, "/proc" when empty.
	Root string
}

// Probe is the state captured when a phase starts.
type Probe struct {
	cpuTicks int64
	rss      int64
	reset    bool
}

func (m ProcMeter) path(name string) string {
	root := m.Root
	if root == "" {
		root = "/proc"
	}
	return fmt.Sprintf("%s/%d/%s", root, m.PID, name)
}

// Start resets the peak-RSS mark (writing 5 to clear_refs, Linux ≥ 4.0) so
// the peak is the phase's own, and reads the CPU time and current RSS.
func (m ProcMeter) Start() (*Probe, error) {
	if m.PID == 0 {
		return nil, nil
	}
	p := &Probe{}
	// Failing to reset is not fatal: the peak is then reported as the
	// process's, and says so.
	p.reset = os.WriteFile(m.path("clear_refs"), []byte("5"), 0o600) == nil
	var err error
	if p.cpuTicks, err = m.cpuTicks(); err != nil {
		return nil, err
	}
	if p.rss, err = m.statusBytes("VmRSS"); err != nil {
		return nil, err
	}
	return p, nil
}

// Stop reads the CPU time and peak RSS again and returns the usage since
// Start. It returns nil usage when p is nil (metering disabled).
func (m ProcMeter) Stop(p *Probe) (*ServerUsage, error) {
	if p == nil {
		return nil, nil
	}
	ticks, err := m.cpuTicks()
	if err != nil {
		return nil, err
	}
	peak, err := m.statusBytes("VmHWM")
	if err != nil {
		return nil, err
	}
	scope := "process"
	if p.reset {
		scope = "phase"
	}
	return &ServerUsage{
		CPUSeconds:    float64(ticks-p.cpuTicks) / clockTicks,
		RSSStartBytes: p.rss,
		PeakRSSBytes:  peak,
		PeakScope:     scope,
	}, nil
}

func (m ProcMeter) cpuTicks() (int64, error) {
	b, err := os.ReadFile(m.path("stat"))
	if err != nil {
		return 0, fmt.Errorf("reading server CPU time: %w", errdefs.Unavailable("%v", err))
	}
	return ParseStatCPU(string(b))
}

func (m ProcMeter) statusBytes(field string) (int64, error) {
	b, err := os.ReadFile(m.path("status"))
	if err != nil {
		return 0, fmt.Errorf("reading server memory: %w", errdefs.Unavailable("%v", err))
	}
	return ParseStatusBytes(string(b), field)
}

// ParseStatCPU returns utime+stime, in clock ticks, from the text of
// /proc/<pid>/stat. The command name in parentheses may hold spaces and
// parentheses itself, so fields are counted from the last ')'.
func ParseStatCPU(stat string) (int64, error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, errdefs.Invalid("proc stat %.40q: no command name", stat)
	}
	// After ") " come fields 3 (state) onwards; utime and stime are fields
	// 14 and 15 of proc(5), so indexes 11 and 12 here.
	f := strings.Fields(stat[i+1:])
	if len(f) < 13 {
		return 0, errdefs.Invalid("proc stat: %d fields after the command, want at least 13", len(f))
	}
	var total int64
	for _, s := range f[11:13] {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, errdefs.Invalid("proc stat: cpu time %q: %v", s, err)
		}
		total += v
	}
	return total, nil
}

// ParseStatusBytes returns the value of a "Name:   123 kB" line of
// /proc/<pid>/status, in bytes.
func ParseStatusBytes(status, field string) (int64, error) {
	for line := range strings.Lines(status) {
		name, value, ok := strings.Cut(line, ":")
		if !ok || name != field {
			continue
		}
		f := strings.Fields(value)
		if len(f) != 2 || f[1] != "kB" {
			return 0, errdefs.Invalid("proc status %s: unexpected value %q", field, strings.TrimSpace(value))
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, errdefs.Invalid("proc status %s: %v", field, err)
		}
		return kb << 10, nil
	}
	return 0, errdefs.NotFound("proc status: no %s line", field)
}
