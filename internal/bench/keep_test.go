package bench

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestKeepSections(t *testing.T) {
	h := []string{"## Garbage collection"}
	tests := []struct {
		name, old, generated, want string
	}{
		{"no old file", "", "# B\n\n## Errors\n", "# B\n\n## Errors\n"},
		{"section at the end", "# B\n\n## Errors\n\nx\n\n## Garbage collection\n\nrate 1\n", "# B\n\n## Errors\n\ny\n",
			"# B\n\n## Errors\n\ny\n\n## Garbage collection\n\nrate 1\n"},
		{"section in the middle, subsections kept", "# B\n\n## Garbage collection\n\n### fs\n\nrate 1\n\n## Errors\n", "# B\n",
			"# B\n\n## Garbage collection\n\n### fs\n\nrate 1\n"},
		{"generated has it", "## Garbage collection\n\nold\n", "# B\n\n## Garbage collection\n\nnew\n",
			"# B\n\n## Garbage collection\n\nnew\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := string(KeepSections([]byte(tc.old), []byte(tc.generated), h))
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}
}
