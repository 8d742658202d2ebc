package bench

import (
	"bytes"
	"strings"
)

// KeptSections are the hand-written sections of docs/benchmarks.md that
// `berthbench report --out` carries over from the file it replaces: their
// figures come from opt-in scenarios outside the comparison.
var KeptSections = []string{"## Garbage collection", "## Retention evaluation", "## Vulnerability scanning"}

// KeepSections returns generated with every section of old whose heading
// line is in headings appended (a section runs to the next "## " heading
// or the end), unless generated has that heading already.
func KeepSections(old, generated []byte, headings []string) []byte {
	out := bytes.TrimRight(generated, "\n")
	lines := strings.Split(string(old), "\n")
	for _, h := range headings {
		if bytes.Contains(generated, []byte("\n"+h+"\n")) {
			continue
		}
		start := -1
		for i, l := range lines {
			if start < 0 && l == h {
				start = i
			} else if start >= 0 && strings.HasPrefix(l, "## ") {
				out = appendSection(out, lines[start:i])
				start = -2
				break
			}
		}
		if start >= 0 {
			out = appendSection(out, lines[start:])
		}
	}
	return append(out, '\n')
}

func appendSection(out []byte, section []string) []byte {
	body := strings.TrimRight(strings.Join(section, "\n"), "\n")
	return append(append(out, "\n\n"...), body...)
}
