package secret

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"

	"golang.org/x/crypto/argon2"

	"github.com/berth-registry/berth/internal/errdefs"
)

func TestHashPasswordFormat(t *testing.T) {
	h, err := HashPassword("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Errorf("hash %q does not name the OWASP parameters", h)
	}
	p, err := parsePHC(h)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.salt) != 16 || len(p.key) != 32 {
		t.Errorf("salt %d bytes, key %d bytes; want 16 and 32", len(p.salt), len(p.key))
	}
	h2, err := HashPassword("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if h == h2 {
		t.Error("two hashes of one password are equal: salt is not random")
	}
}

// phcWith builds a PHC string with explicit parameters, as another argon2id
// implementation would.
func phcWith(pw string, m, tm uint32, p uint8) string {
	salt := []byte("0123456789abcdef")
	key := argon2.IDKey([]byte(pw), salt, tm, m, p, 24)
	return fmt.Sprintf("$argon2id$v=19$m=%d,t=%d,p=%d$%s$%s", m, tm, p,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key))
}

func TestVerifyPassword(t *testing.T) {
	good, err := HashPassword("s3cret")
	if err != nil {
		t.Fatal(err)
	}
	other := phcWith("s3cret", 64, 1, 2)
	tests := []struct {
		name    string
		hash    string
		pw      string
		want    bool
		invalid bool
	}{
		{"right password", good, "s3cret", true, false},
		{"wrong password", good, "s3cret!", false, false},
		{"empty password", good, "", false, false},
		{"other parameters honoured", other, "s3cret", true, false},
		{"other parameters, wrong password", other, "S3cret", false, false},
		{"parameters changed in the string", strings.Replace(other, "t=1", "t=2", 1), "s3cret", false, false},
		{"empty hash", "", "s3cret", false, true},
		{"argon2i", strings.Replace(good, "argon2id", "argon2i", 1), "s3cret", false, true},
		{"version 16", strings.Replace(good, "v=19", "v=16", 1), "s3cret", false, true},
		{"missing field", strings.Join(strings.Split(good, "$")[:5], "$"), "s3cret", false, true},
		{"bad base64 salt", strings.Replace(good, "$argon2id$v=19$m=19456,t=2,p=1$", "$argon2id$v=19$m=19456,t=2,p=1$!!", 1), "s3cret", false, true},
		{"zero time", strings.Replace(good, "t=2", "t=0", 1), "s3cret", false, true},
		{"huge memory", strings.Replace(good, "m=19456", "m=99999999", 1), "s3cret", false, true},
		{"parameters out of order", strings.Replace(good, "m=19456,t=2", "t=2,m=19456", 1), "s3cret", false, true},
		{"sha256 secret hash", HashSecret("s3cret"), "s3cret", false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, err := VerifyPassword(tt.hash, tt.pw)
			if tt.invalid {
				if !errors.Is(err, errdefs.ErrInvalid) {
					t.Fatalf("err = %v, want class ErrInvalid", err)
				}
				if tt.hash != "" && strings.Contains(err.Error(), tt.hash) {
					t.Errorf("error %q quotes the hash", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if ok != tt.want {
				t.Errorf("VerifyPassword = %v, want %v", ok, tt.want)
			}
		})
	}
}

func TestSecrets(t *testing.T) {
	s, err := NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(raw) != 32 {
		t.Fatalf("secret %q is not 32 bytes of URL-safe base64: %v", s, err)
	}
	s2, err := NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	if s == s2 {
		t.Fatal("two secrets are equal")
	}
	h := HashSecret(s)
	if !strings.HasPrefix(h, "sha256:") || len(h) != len("sha256:")+64 {
		t.Fatalf("HashSecret = %q, want sha256:<64 hex>", h)
	}
	tests := []struct {
		name string
		hash string
		s    string
		want bool
	}{
		{"right secret", h, s, true},
		{"other secret", h, s2, false},
		{"empty secret", h, "", false},
		{"truncated hash", h[:len(h)-1], s, false},
		{"bare hex", strings.TrimPrefix(h, "sha256:"), s, false},
		{"empty hash", "", "", false},
		{"argon2 hash", "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5", s, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := VerifySecret(tt.hash, tt.s); got != tt.want {
				t.Errorf("VerifySecret = %v, want %v", got, tt.want)
			}
		})
	}
}
