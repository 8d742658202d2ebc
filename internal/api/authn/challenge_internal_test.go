package authn

import (
	"crypto/tls"
	"net/http/httptest"
	"testing"
)

func TestOriginAndClientAddr(t *testing.T) {
	tests := []struct {
		name       string
		tls        bool
		hdr        map[string]string
		trust      bool
		origin     string
		clientAddr string
	}{
		{"plain", false, nil, false, "http://reg.example:5000", "192.0.2.1"},
		{"tls", true, nil, false, "https://reg.example:5000", "192.0.2.1"},
		{"forwarded but not trusted", false, map[string]string{
			"X-Forwarded-Proto": "https", "X-Forwarded-Host": "evil.example", "X-Forwarded-For": "198.51.100.7",
		}, false, "http://reg.example:5000", "192.0.2.1"},
		{"forwarded and trusted", false, map[string]string{
			"X-Forwarded-Proto": "https", "X-Forwarded-Host": "reg.public.example", "X-Forwarded-For": "203.0.113.9, 198.51.100.7",
		}, true, "https://reg.public.example", "198.51.100.7"},
		{"bad forwarded values ignored", false, map[string]string{
			"X-Forwarded-Proto": "gopher", "X-Forwarded-For": "not-an-ip",
		}, true, "http://reg.example:5000", "192.0.2.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "http://reg.example:5000/v2/", nil)
			r.RemoteAddr = "192.0.2.1:40000"
			if tt.tls {
				r.TLS = &tls.ConnectionState{}
			}
			for k, v := range tt.hdr {
				r.Header.Set(k, v)
			}
			if got := Origin(r, tt.trust); got != tt.origin {
				t.Errorf("Origin = %q, want %q", got, tt.origin)
			}
			if got := ClientAddr(r, tt.trust); got != tt.clientAddr {
				t.Errorf("ClientAddr = %q, want %q", got, tt.clientAddr)
			}
		})
	}
}
