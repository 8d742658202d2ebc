// Package secret hashes and checks the secrets people and machines log in
// with: passwords (argon2id, stored as a PHC string) and high-entropy
// generated secrets (robot and CLI secrets, stored as a SHA-256 digest).
//
// Every comparison is constant-time. Nothing in this package logs, and no
// error message contains a password, a secret or a hash.
package secret

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"

	"github.com/berth-registry/berth/internal/errdefs"
)

// The argon2id parameters of new password hashes: OWASP's recommendation
// (19 MiB of memory, two passes, one lane), a 16-byte salt and a 32-byte
// key. Verification uses whatever parameters a stored hash names, so these
// can be raised later without invalidating existing hashes.
const (
	argonMemory  = 19456 // KiB
	argonTime    = 2
	argonThreads = 1
	saltLen      = 16
	keyLen       = 32
)

// Bounds on the parameters a stored hash may name, so that a corrupted or
// hostile row cannot make one verification take gigabytes or minutes.
const (
	maxMemory  = 1 << 20 // KiB (1 GiB)
	maxTime    = 64
	maxThreads = 255
	minSalt    = 8
	minKey     = 16
	maxKey     = 128
)

// b64 is the PHC string encoding: standard base64 without padding.
var b64 = base64.RawStdEncoding

// HashPassword returns the argon2id hash of pw as a PHC string,
// "$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>", with a fresh random salt.
func HashPassword(pw string) (string, error) {
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", errdefs.Wrap(errdefs.ErrUnavailable, err, "hash password: read random salt")
	}
	key := argon2.IDKey([]byte(pw), salt, argonTime, argonMemory, argonThreads, keyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, argonMemory, argonTime, argonThreads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// VerifyPassword reports whether pw matches hash, a PHC string made by
// HashPassword (or by another argon2id implementation with other
// parameters, which are honoured). It fails with an error of class
// errdefs.ErrInvalid if hash is not a well-formed argon2id PHC string with
// parameters within sane bounds; the message never quotes the hash.
func VerifyPassword(hash, pw string) (bool, error) {
	p, err := parsePHC(hash)
	if err != nil {
		return false, err
	}
	got := argon2.IDKey([]byte(pw), p.salt, p.time, p.memory, p.threads, uint32(len(p.key)))
	return subtle.ConstantTimeCompare(got, p.key) == 1, nil
}

// phc is a parsed argon2id PHC string.
type phc struct {
	memory, time uint32
	threads      uint8
	salt, key    []byte
}

// parsePHC parses "$argon2id$v=19$m=M,t=T,p=P$salt$key".
func parsePHC(s string) (phc, error) {
	var p phc
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" {
		return p, errdefs.Invalid("malformed password hash: want 5 $-separated fields")
	}
	if parts[1] != "argon2id" {
		return p, errdefs.Invalid("malformed password hash: unsupported algorithm")
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return p, errdefs.Invalid("malformed password hash: unsupported argon2 version")
	}
	if err := p.parseParams(parts[3]); err != nil {
		return p, err
	}
	var err error
	if p.salt, err = b64.DecodeString(parts[4]); err != nil || len(p.salt) < minSalt {
		return p, errdefs.Invalid("malformed password hash: bad salt")
	}
	if p.key, err = b64.DecodeString(parts[5]); err != nil || len(p.key) < minKey || len(p.key) > maxKey {
		return p, errdefs.Invalid("malformed password hash: bad key")
	}
	return p, nil
}

// parseParams parses "m=M,t=T,p=P" (in that order) into p.
func (p *phc) parseParams(s string) error {
	fields := strings.Split(s, ",")
	if len(fields) != 3 {
		return errdefs.Invalid("malformed password hash: want parameters m, t and p")
	}
	vals := make([]uint64, 3)
	for i, name := range []string{"m", "t", "p"} {
		v, ok := strings.CutPrefix(fields[i], name+"=")
		if !ok {
			return errdefs.Invalid("malformed password hash: want parameter %s", name)
		}
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil || n == 0 {
			return errdefs.Invalid("malformed password hash: bad parameter %s", name)
		}
		vals[i] = n
	}
	if vals[0] > maxMemory || vals[1] > maxTime || vals[2] > maxThreads || vals[0] < 8*vals[2] {
		return errdefs.Invalid("malformed password hash: parameters out of bounds")
	}
	p.memory, p.time, p.threads = uint32(vals[0]), uint32(vals[1]), uint8(vals[2])
	return nil
}

// NewSecret returns a new random secret for a robot account or a CLI
// login: 32 bytes from crypto/rand, URL-safe base64 without padding (43
// characters).
func NewSecret() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", errdefs.Wrap(errdefs.ErrUnavailable, err, "new secret: read random bytes")
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// secretPrefix marks a hash made by HashSecret.
const secretPrefix = "sha256:"

// HashSecret returns "sha256:<hex>" of s. Use it only for secrets made by
// NewSecret, never for passwords people choose.
//
// A plain, unsalted SHA-256 is enough here: a 256-bit random secret cannot be
// guessed or looked up in a table, so stretching it (argon2id costs ~20 ms a
// check) would buy no security and would make every request of a robot that
// authenticates with HTTP Basic pay that cost.
func HashSecret(s string) string {
	sum := sha256.Sum256([]byte(s))
	return secretPrefix + hex.EncodeToString(sum[:])
}

// VerifySecret reports whether s matches hash, a string made by
// HashSecret, comparing in constant time. A hash of any other form never
// matches.
func VerifySecret(hash, s string) bool {
	if !strings.HasPrefix(hash, secretPrefix) {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(hash), []byte(HashSecret(s))) == 1
}
