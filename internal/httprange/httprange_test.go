package httprange

import (
	"errors"
	"math"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/google/go-cmp/cmp"
)

func TestParseContentRange(t *testing.T) {
	max := strconv.FormatInt(math.MaxInt64, 10)
	tests := []struct {
		in         string
		start, end int64
		wantMsg    string // "" for success
	}{
		{"0-0", 0, 0, ""},
		{"0-1023", 0, 1023, ""},
		{"1024-2047", 1024, 2047, ""},
		{"007-010", 7, 10, ""},
		{"0-" + max, 0, math.MaxInt64, ""},
		{max + "-" + max, math.MaxInt64, math.MaxInt64, ""},
		{"bytes 0-99", 0, 99, ""},
		{"bytes 100-199/200", 100, 199, ""},
		{"bytes 100-199/*", 100, 199, ""},
		{"bytes 0-0/1", 0, 0, ""},

		{"", 0, 0, "must start with the first byte offset"},
		{"-", 0, 0, "must start with the first byte offset"},
		{"-1-5", 0, 0, "must start with the first byte offset"},
		{"+1-5", 0, 0, "must start with the first byte offset"},
		{"0--1", 0, 0, "last byte offset after"},
		{"5-4", 0, 0, "the last byte offset is before the first"},
		{"10", 0, 0, `want "<start>-<end>"`},
		{"10-", 0, 0, "last byte offset after"},
		{"1_000-2000", 0, 0, `want "<start>-<end>"`},
		{"0x10-0x20", 0, 0, `want "<start>-<end>"`},
		{"0-9223372036854775808", 0, 0, "fits in 63 bits"},
		{"99999999999999999999-1", 0, 0, "fits in 63 bits"},
		{" 0-1", 0, 0, "must start"},
		{"0-1 ", 0, 0, "unexpected text after the range"},
		{"0 -1", 0, 0, `want "<start>-<end>"`},
		{"0- 1", 0, 0, "last byte offset after"},
		{"0-1\n", 0, 0, "unexpected text"},
		{"0-1/2", 0, 0, "unexpected text after the range"},
		{"0-1,3-4", 0, 0, "unexpected text"},
		{"bytes=0-1", 0, 0, "must start"},
		{"Bytes 0-1", 0, 0, "must start"},
		{"bytes  0-1", 0, 0, "must start"},
		{"bytes0-1", 0, 0, "must start"},
		{"bytes 0-1 /2", 0, 0, "unexpected text"},
		{"bytes 0-1/", 0, 0, `complete length after "/"`},
		{"bytes 0-1/1", 0, 0, "ends beyond the complete length"},
		{"bytes 0-1/2x", 0, 0, `complete length after "/"`},
		{"bytes 0-1/**", 0, 0, `complete length after "/"`},
		{"bytes 0-1/-3", 0, 0, `complete length after "/"`},
		{"bytes */10", 0, 0, "must start"},
		{"٣-٤", 0, 0, "must start"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			start, end, err := ParseContentRange(tt.in)
			if tt.wantMsg == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				if diff := cmp.Diff([2]int64{tt.start, tt.end}, [2]int64{start, end}); diff != "" {
					t.Errorf("range (-want +got):\n%s", diff)
				}
				return
			}
			switch {
			case err == nil:
				t.Fatalf("got %d-%d, want an error containing %q", start, end, tt.wantMsg)
			case !errors.Is(err, errdefs.ErrInvalid):
				t.Errorf("error %q is not of class Invalid", err)
			case !strings.Contains(err.Error(), tt.wantMsg):
				t.Errorf("error %q does not contain %q", err, tt.wantMsg)
			case !strings.Contains(err.Error(), strconv.Quote(tt.in)):
				t.Errorf("error %q does not quote the header %q", err, tt.in)
			}
		})
	}
}

func TestFormatRange(t *testing.T) {
	tests := []struct {
		offset int64
		want   string
	}{
		{-1, "0-0"},
		{0, "0-0"},
		{1, "0-0"},
		{2, "0-1"},
		{1024, "0-1023"},
		{math.MaxInt64, "0-" + strconv.FormatInt(math.MaxInt64-1, 10)},
	}
	for _, tt := range tests {
		if got := FormatRange(tt.offset); got != tt.want {
			t.Errorf("FormatRange(%d) = %q, want %q", tt.offset, got, tt.want)
		}
	}
}

// The accepted grammar as a regular expression, an oracle written apart from
// the hand-written parser; numbers still need an overflow check.
var oracle = regexp.MustCompile(`^(?:bytes )?([0-9]+)-([0-9]+)$|^bytes ([0-9]+)-([0-9]+)/([0-9]+|\*)$`)

// oracleParse parses s with the oracle expression and strconv.
func oracleParse(s string) (start, end int64, ok bool) {
	m := oracle.FindStringSubmatch(s)
	if m == nil {
		return 0, 0, false
	}
	a, b, size := m[1], m[2], ""
	if a == "" {
		a, b, size = m[3], m[4], m[5]
	}
	start, err1 := strconv.ParseInt(a, 10, 64)
	end, err2 := strconv.ParseInt(b, 10, 64)
	if err1 != nil || err2 != nil || end < start {
		return 0, 0, false
	}
	if size != "" && size != "*" {
		n, err := strconv.ParseInt(size, 10, 64)
		if err != nil || n <= end {
			return 0, 0, false
		}
	}
	return start, end, true
}

func FuzzParseContentRange(f *testing.F) {
	for _, s := range []string{"0-0", "0-1023", "bytes 5-10", "bytes 5-10/11", "bytes 5-10/*", "0--1", "5-4",
		"9223372036854775807-9223372036854775807", "0-9223372036854775808", "bytes 0-1/1", " 0-1", "bytes=0-1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		start, end, err := ParseContentRange(s)
		wantStart, wantEnd, wantOK := oracleParse(s)
		if (err == nil) != wantOK {
			t.Fatalf("ParseContentRange(%q) error %v; oracle accepts: %v", s, err, wantOK)
		}
		if err != nil {
			if !errors.Is(err, errdefs.ErrInvalid) {
				t.Fatalf("error %q is not of class Invalid", err)
			}
			return
		}
		if start != wantStart || end != wantEnd {
			t.Fatalf("ParseContentRange(%q) = %d-%d, oracle %d-%d", s, start, end, wantStart, wantEnd)
		}
		if start < 0 || end < start {
			t.Fatalf("ParseContentRange(%q) = %d-%d", s, start, end)
		}
		canonical := strconv.FormatInt(start, 10) + "-" + strconv.FormatInt(end, 10)
		if s2, e2, err := ParseContentRange(canonical); err != nil || s2 != start || e2 != end {
			t.Fatalf("canonical %q parses to %d-%d, %v", canonical, s2, e2, err)
		}
		if end < math.MaxInt64 {
			r := FormatRange(end + 1)
			if r != "0-"+strconv.FormatInt(end, 10) {
				t.Fatalf("FormatRange(%d) = %q", end+1, r)
			}
			if s2, e2, err := ParseContentRange(r); err != nil || s2 != 0 || e2 != end {
				t.Fatalf("FormatRange(%d) = %q parses to %d-%d, %v", end+1, r, s2, e2, err)
			}
		}
	})
}
