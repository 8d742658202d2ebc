package cli

import "testing"

func TestParseSize(t *testing.T) {
	tests := []struct {
		in      string
		want    int64
		wantErr bool
	}{
		{"0", 0, false},
		{"none", 0, false},
		{"512", 512, false},
		{"10GiB", 10 << 30, false},
		{"1.5 MiB", 3 << 19, false},
		{"2GB", 2e9, false},
		{"8g", 8 << 30, false},
		{"-1", 0, true},
		{"ten", 0, true},
		{"5 parsecs", 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := parseSize(tc.in)
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Errorf("parseSize(%q) = %d, %v; want %d (error %v)", tc.in, got, err, tc.want, tc.wantErr)
			}
		})
	}
}
