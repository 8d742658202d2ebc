package admin_test

import (
	"encoding/json"
	"testing"

	"github.com/berth-registry/berth/internal/api/admin/admintest"
)

func TestOpenAPIGolden(t *testing.T) {
	s := admintest.Start(t)
	r := send(t, s, anon, "GET", "/api/v1/openapi.json", nil)
	if r.status != 200 || r.header.Get("Content-Type") != "application/json" {
		t.Fatalf("%d %q", r.status, r.header.Get("Content-Type"))
	}
	var doc map[string]any
	if err := json.Unmarshal(r.body, &doc); err != nil {
		t.Fatal(err)
	}
	if doc["openapi"] != "3.1.0" {
		t.Errorf("openapi %v", doc["openapi"])
	}
	golden(t, "openapi.golden.json", r.body)
}
