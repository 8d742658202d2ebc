package bench

import (
	"strconv"
	"strings"

	"github.com/berth-registry/berth/internal/errdefs"
)

// ParseSize parses a byte count with an optional binary suffix: "65536",
// "64KiB", "16MiB", "2GiB" (also K, M, G, KB, MB, GB, read as powers of
// 1024, case-insensitive).
func ParseSize(s string) (int64, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{
		{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30},
		{"kb", 1 << 10}, {"mb", 1 << 20}, {"gb", 1 << 30},
		{"k", 1 << 10}, {"m", 1 << 20}, {"g", 1 << 30}, {"b", 1},
	} {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mult {
		return 0, errdefs.Invalid("size %q: want a non-negative integer with an optional KiB/MiB/GiB suffix", s)
	}
	return n * mult, nil
}

// ParseConcurrency parses the --concurrency flag: either one number, which
// applies to every scenario (key "*"), or a comma-separated list of
// scenario=number pairs, possibly with a bare number among them.
func ParseConcurrency(s string) (map[string]int, error) {
	out := make(map[string]int)
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, num, ok := strings.Cut(part, "=")
		if !ok {
			name, num = "*", part
		}
		n, err := strconv.Atoi(strings.TrimSpace(num))
		if err != nil || n <= 0 {
			return nil, errdefs.Invalid("concurrency %q: want a positive number or scenario=number", part)
		}
		out[strings.TrimSpace(name)] = n
	}
	return out, nil
}
