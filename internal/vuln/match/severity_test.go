package match

import (
	"encoding/json"
	"testing"

	"github.com/berth-registry/berth/internal/vuln"
	"github.com/berth-registry/berth/internal/vuln/osv"
)

func TestCVSSScore(t *testing.T) {
	// Base scores as the FIRST calculators give them.
	tests := []struct {
		vector string
		want   float64
	}{
		{"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 9.8},
		{"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H", 7.5},
		{"CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N", 6.1},
		{"CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H", 7.8},
		{"CVSS:3.0/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:N/A:N", 5.9},
		{"CVSS:3.1/AV:P/AC:H/PR:H/UI:R/S:U/C:N/I:N/A:N", 0},
		{"AV:N/AC:L/Au:N/C:P/I:P/A:P", 7.5},
		{"CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N", 9.3},
		{"CVSS:3.1/AV:X", 0},
		{"not a vector", 0},
	}
	for _, tc := range tests {
		t.Run(tc.vector, func(t *testing.T) {
			if got := cvssScore(tc.vector); got != tc.want {
				t.Errorf("cvssScore = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestRate(t *testing.T) {
	v31 := osv.Severity{Type: "CVSS_V3", Score: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H"}
	tests := []struct {
		name string
		rec  osv.Record
		want rating
	}{
		{"nothing", osv.Record{Affected: []osv.Affected{{}}}, rating{}},
		{"vector only", osv.Record{Severity: []osv.Severity{v31}, Affected: []osv.Affected{{}}}, rating{vuln.SeverityHigh, 7.5}},
		{"GitHub's word wins over the vector's rating", osv.Record{
			Severity: []osv.Severity{v31}, DatabaseSpecific: json.RawMessage(`{"severity":"MODERATE"}`),
			Affected: []osv.Affected{{}}}, rating{vuln.SeverityMedium, 7.5}},
		{"ecosystem_specific", osv.Record{Affected: []osv.Affected{{EcosystemSpecific: json.RawMessage(`{"severity":"critical"}`)}}},
			rating{vuln.SeverityCritical, 0}},
		{"Ubuntu priority", osv.Record{Affected: []osv.Affected{{EcosystemSpecific: json.RawMessage(`{"ubuntu_priority":"low"}`)}}},
			rating{vuln.SeverityLow, 0}},
		{"Ubuntu severity entry", osv.Record{Severity: []osv.Severity{{Type: "Ubuntu", Score: "high"}}, Affected: []osv.Affected{{}}},
			rating{vuln.SeverityHigh, 0}},
		{"affected entry's vector", osv.Record{Affected: []osv.Affected{{Severity: []osv.Severity{{Type: "CVSS_V3", Score: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}}}}},
			rating{vuln.SeverityCritical, 9.8}},
		{"v3 preferred over v2", osv.Record{Severity: []osv.Severity{{Type: "CVSS_V2", Score: "AV:N/AC:L/Au:N/C:C/I:C/A:C"}, v31}, Affected: []osv.Affected{{}}},
			rating{vuln.SeverityHigh, 7.5}},
		{"unreadable severity word", osv.Record{DatabaseSpecific: json.RawMessage(`{"severity":7}`), Affected: []osv.Affected{{}}}, rating{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := rate(&tc.rec, &tc.rec.Affected[0]); got != tc.want {
				t.Errorf("rate = %+v, want %+v", got, tc.want)
			}
		})
	}
}
