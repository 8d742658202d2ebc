package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// Report is the output of one berthbench run: what was measured against
// which server, and every result.
type Report struct {
	Tool      string    `json:"tool"`
	Registry  string    `json:"registry"`
	Label     string    `json:"label,omitempty"` // which server, e.g. "berth" or "distribution"
	Round     int       `json:"round,omitempty"`
	Started   time.Time `json:"started"`
	ServerPID int       `json:"server_pid,omitempty"`
	GoVersion string    `json:"go_version"`
	// LoadStart and LoadEnd are the 1-minute load averages when the run
	// started and ended: other work on the machine skews every figure.
	LoadStart float64  `json:"load_start,omitempty"`
	LoadEnd   float64  `json:"load_end,omitempty"`
	Config    Config   `json:"config"`
	Results   []Result `json:"results"`
}

// Problems returns the number of failed operations plus the number of
// scenarios that could not be measured at all.
func (r Report) Problems() int64 {
	var n int64
	for _, res := range r.Results {
		n += res.Errors
		if res.Failed != "" {
			n++
		}
	}
	return n
}

// LoadAverage returns the 1-minute load average from /proc/loadavg, or 0
// where there is none.
func LoadAverage() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	v, _ := strconv.ParseFloat(f[0], 64)
	return v
}

// WriteJSON writes r as indented JSON.
func WriteJSON(w io.Writer, r Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(r); err != nil {
		return fmt.Errorf("writing JSON report: %w", err)
	}
	return nil
}

// ReadReport decodes a report written by WriteJSON.
func ReadReport(rd io.Reader) (Report, error) {
	var r Report
	if err := json.NewDecoder(rd).Decode(&r); err != nil {
		return r, fmt.Errorf("reading JSON report: %w", err)
	}
	return r, nil
}

// WriteTable writes r as an aligned text table followed by every error
// kind of every result; errors are never left out.
func WriteTable(w io.Writer, r Report) error {
	fmt.Fprintf(w, "berthbench against %s", r.Registry)
	if r.Label != "" {
		fmt.Fprintf(w, " (%s, round %d)", r.Label, r.Round)
	}
	fmt.Fprintf(w, ", started %s, load average %.2f → %.2f\n\n", r.Started.Format(time.RFC3339), r.LoadStart, r.LoadEnd)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "result\tconc\tops\terrors\tMiB\twall s\tvalue\tunit\tp50 ms\tp95 ms\tp99 ms\tsrv cpu s\tsrv rss MiB\tsrv peak MiB\t")
	for _, res := range r.Results {
		if res.Failed != "" {
			fmt.Fprintf(tw, "%s\tFAILED\t\t\t\t\t\t\t\t\t\t\t\t\t\n", res.Name)
			continue
		}
		lat := [3]string{"-", "-", "-"}
		if l := res.Latency; l != nil {
			lat = [3]string{f2(l.P50), f2(l.P95), f2(l.P99)}
		}
		cpu, rss, peak := "-", "-", "-"
		if s := res.Server; s != nil {
			cpu, rss, peak = f2(s.CPUSeconds), mib(s.RSSStartBytes), mib(s.PeakRSSBytes)
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n",
			res.Name, res.Concurrency, res.Ops, res.Errors, mib(res.Bytes), f2(res.WallSeconds),
			formatValue(res.Value, res.Unit), res.Unit, lat[0], lat[1], lat[2], cpu, rss, peak)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("writing table: %w", err)
	}
	writeProblems(w, r)
	return nil
}

func writeProblems(w io.Writer, r Report) {
	var b strings.Builder
	for _, res := range r.Results {
		if res.Failed != "" {
			fmt.Fprintf(&b, "  %s: NOT MEASURED: %s\n", res.Name, res.Failed)
		}
		for _, s := range res.ErrorSamples {
			fmt.Fprintf(&b, "  %s: %d x %s\n      e.g. %s\n", res.Name, s.Count, s.Kind, s.Example)
		}
	}
	if b.Len() == 0 {
		fmt.Fprintln(w, "\nno errors")
		return
	}
	fmt.Fprintf(w, "\nERRORS (%d problems):\n%s", r.Problems(), b.String())
}

func f2(v float64) string { return fmt.Sprintf("%.2f", v) }

func mib(b int64) string { return fmt.Sprintf("%.1f", float64(b)/(1<<20)) }
