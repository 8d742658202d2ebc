package bytesize

import "testing"

func TestParse(t *testing.T) {
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
			got, err := Parse(tc.in)
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Errorf("Parse(%q) = %d, %v; want %d (error %v)", tc.in, got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func TestFormat(t *testing.T) {
	tests := []struct {
		in   int64
		want string
	}{
		{0, "0 B"},
		{1023, "1023 B"},
		{1024, "1.0 KiB"},
		{3 << 19, "1.5 MiB"},
		{100 << 20, "100.0 MiB"},
		{10 << 30, "10.0 GiB"},
		{-2048, "-2.0 KiB"},
	}
	for _, tc := range tests {
		if got := Format(tc.in); got != tc.want {
			t.Errorf("Format(%d) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
