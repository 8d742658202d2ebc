package config

import (
	"os"
	"strings"
	"testing"
)

// The configuration reference must name every setting with its variable,
// so the docs cannot fall behind the code.
func TestReferenceDocumentsEverySetting(t *testing.T) {
	b, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	for _, k := range Keys() {
		row := "| `" + k + "` | `" + EnvName(k) + "` |"
		if !strings.Contains(doc, row) {
			t.Errorf("docs/configuration.md has no row starting %q", row)
		}
	}
}
