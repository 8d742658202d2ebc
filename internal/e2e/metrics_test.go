package e2e

import (
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/berth-registry/berth/internal/berthtest"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// metrics is one scrape of /metrics, by family name.
type metrics map[string]*dto.MetricFamily

// scrape fetches and parses p's /metrics.
func scrape(t *testing.T, p *berthtest.Process) metrics {
	t.Helper()
	resp, err := p.Client.Get(p.URL + "/metrics")
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s", resp.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return fams
}

// value sums the series of family name whose labels include every pair of
// labels: the value of counters, gauges and untyped metrics, the sample
// count of histograms and summaries.
func (m metrics) value(name string, labels map[string]string) float64 {
	fam := m[name]
	if fam == nil {
		return 0
	}
	var sum float64
	for _, s := range fam.GetMetric() {
		if !hasLabels(s, labels) {
			continue
		}
		switch {
		case s.Counter != nil:
			sum += s.Counter.GetValue()
		case s.Gauge != nil:
			sum += s.Gauge.GetValue()
		case s.Untyped != nil:
			sum += s.Untyped.GetValue()
		case s.Histogram != nil:
			sum += float64(s.Histogram.GetSampleCount())
		case s.Summary != nil:
			sum += float64(s.Summary.GetSampleCount())
		}
	}
	return sum
}

// labelValues returns the distinct values of label in family name.
func (m metrics) labelValues(name, label string) map[string]bool {
	out := map[string]bool{}
	for _, s := range m[name].GetMetric() {
		for _, l := range s.GetLabel() {
			if l.GetName() == label {
				out[l.GetValue()] = true
			}
		}
	}
	return out
}

// histogram returns the first histogram series of family name with labels.
func (m metrics) histogram(name string, labels map[string]string) *dto.Histogram {
	for _, s := range m[name].GetMetric() {
		if s.Histogram != nil && hasLabels(s, labels) {
			return s.Histogram
		}
	}
	return nil
}

func hasLabels(s *dto.Metric, want map[string]string) bool {
	have := make(map[string]string, len(s.GetLabel()))
	for _, l := range s.GetLabel() {
		have[l.GetName()] = l.GetValue()
	}
	for k, v := range want {
		if have[k] != v {
			return false
		}
	}
	return true
}

// formatLabels writes a label set as Prometheus does, sorted.
func formatLabels(labels map[string]string) string {
	if len(labels) == 0 {
		return ""
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		parts = append(parts, fmt.Sprintf("%s=%q", k, labels[k]))
	}
	return "{" + strings.Join(parts, ",") + "}"
}

// requests is a label set of berth_http_requests_total.
func requests(route, method, code string) map[string]string {
	l := map[string]string{"route": route, "method": method}
	if code != "" {
		l["code"] = code
	}
	return l
}
