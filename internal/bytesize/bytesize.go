// Package bytesize prints and reads byte counts for people: "95.3 MiB",
// "10GiB". One place, so the CLI, the admin API's messages and the
// registry's refusals all write sizes the same way.
package bytesize

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Format prints n bytes in binary units with one decimal, e.g. "95.3 MiB"
// ("512 B" under a KiB; negative counts keep their sign).
func Format(n int64) string {
	const unit = 1024
	if n < unit && n > -unit {
		return fmt.Sprintf("%d B", n)
	}
	v := float64(n)
	units := []string{"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"}
	i := -1
	for (v >= unit || v <= -unit) && i < len(units)-1 {
		v /= unit
		i++
	}
	return fmt.Sprintf("%.1f %s", v, units[i])
}

// sizeUnits are the multipliers Parse knows, by lower-case suffix.
var sizeUnits = map[string]float64{
	"": 1, "b": 1,
	"k": 1 << 10, "kib": 1 << 10, "kb": 1e3,
	"m": 1 << 20, "mib": 1 << 20, "mb": 1e6,
	"g": 1 << 30, "gib": 1 << 30, "gb": 1e9,
	"t": 1 << 40, "tib": 1 << 40, "tb": 1e12,
	"p": 1 << 50, "pib": 1 << 50, "pb": 1e15,
}

// Parse reads a size such as "10GiB", "1.5 GB", "512" (bytes) or
// "none" (0).
func Parse(s string) (int64, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	if t == "none" || t == "" {
		return 0, nil
	}
	i := strings.IndexFunc(t, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	num, unit := t, ""
	if i >= 0 {
		num, unit = t[:i], strings.TrimSpace(t[i:])
	}
	mult, ok := sizeUnits[unit]
	if !ok || num == "" {
		return 0, fmt.Errorf("size %q: want a number with an optional unit (B, KiB, MiB, GiB, TiB, KB, MB, GB, TB)", s)
	}
	v, err := strconv.ParseFloat(num, 64)
	if err != nil || v < 0 || v*mult > math.MaxInt64/2 {
		return 0, fmt.Errorf("size %q: not a usable number", s)
	}
	return int64(math.Round(v * mult)), nil
}
