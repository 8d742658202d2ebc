package bench

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"65536", 65536, true},
		{"64KiB", 64 << 10, true},
		{"16MiB", 16 << 20, true},
		{"2GiB", 2 << 30, true},
		{"512m", 512 << 20, true},
		{"1 GB", 1 << 30, true},
		{"10b", 10, true},
		{"0", 0, true},
		{"", 0, false},
		{"-1", 0, false},
		{"1.5GiB", 0, false},
		{"12TiB", 0, false},
		{"99999999999GiB", 0, false},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseSize(tc.in)
			if (err == nil) != tc.ok {
				t.Fatalf("ParseSize(%q) err = %v, want ok=%v", tc.in, err, tc.ok)
			}
			if got != tc.want {
				t.Errorf("ParseSize(%q) = %d, want %d", tc.in, got, tc.want)
			}
		})
	}
}

func TestParseConcurrency(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want map[string]int
		ok   bool
	}{
		{"16", map[string]int{"*": 16}, true},
		{"small-blobs=8", map[string]int{"small-blobs": 8}, true},
		{"4, manifest-few=128,small-blobs=2", map[string]int{"*": 4, "manifest-few": 128, "small-blobs": 2}, true},
		{"", map[string]int{}, true},
		{"0", nil, false},
		{"x=y", nil, false},
		{"tag-push=-1", nil, false},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseConcurrency(tc.in)
			if (err == nil) != tc.ok {
				t.Fatalf("ParseConcurrency(%q) err = %v, want ok=%v", tc.in, err, tc.ok)
			}
			if diff := cmp.Diff(tc.want, got); tc.ok && diff != "" {
				t.Errorf("ParseConcurrency(%q) (-want +got):\n%s", tc.in, diff)
			}
		})
	}
}
