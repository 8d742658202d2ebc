// Package secrets finds credentials left in image layers: PEM private keys,
// AWS access key ids and secret keys, GitHub, GitLab and Slack tokens, and
// conservative generic "password = '…'" assignments of high entropy. It reads
// every regular text file of every layer (a file deleted by an upper layer
// still ships in the image), skipping binaries and large files, and reports
// scan.Finding values carrying a redacted fingerprint, never the secret.
//
// Use a Scanner's Visit as layers.Options.Visit, then read Findings.
package secrets

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"math"
	"regexp"
	"sort"
	"strings"
	"sync"

	"github.com/berth-registry/berth/internal/scan"
	"github.com/berth-registry/berth/internal/scan/layers"
	"github.com/berth-registry/berth/internal/vuln"
)

// rule is one kind of secret. The regexp's first group (or the whole match
// when it has none) is the secret value.
type rule struct {
	id       string
	title    string
	severity vuln.Severity
	re       *regexp.Regexp
	// check, when set, must accept the value (entropy, placeholders).
	check func(value string) bool
}

var rules = []rule{
	{id: "private-key", title: "Private key", severity: vuln.SeverityHigh,
		re: regexp.MustCompile(`-----BEGIN ((?:RSA |EC |DSA |OPENSSH |ENCRYPTED |PGP )?PRIVATE KEY(?: BLOCK)?)-----`)},
	{id: "aws-access-key-id", title: "AWS access key id", severity: vuln.SeverityMedium,
		re: regexp.MustCompile(`\b((?:AKIA|ASIA)[A-Z2-7]{16})\b`)},
	{id: "aws-secret-access-key", title: "AWS secret access key", severity: vuln.SeverityCritical,
		re:    regexp.MustCompile(`(?i)aws_?secret_?(?:access_?)?key["']?\s*[:=]\s*["']?([A-Za-z0-9/+]{40})(?:[^A-Za-z0-9/+=]|$)`),
		check: highEntropy(4.0)},
	{id: "github-token", title: "GitHub token", severity: vuln.SeverityHigh,
		re: regexp.MustCompile(`\b(gh[pousr]_[A-Za-z0-9]{36,251}|github_pat_[A-Za-z0-9_]{82})\b`)},
	{id: "gitlab-token", title: "GitLab personal access token", severity: vuln.SeverityHigh,
		re: regexp.MustCompile(`\b(glpat-[A-Za-z0-9_\-]{20,64})\b`)},
	{id: "slack-token", title: "Slack token", severity: vuln.SeverityHigh,
		re: regexp.MustCompile(`\b(xox[baprs]-[0-9A-Za-z]{10,48}(?:-[0-9A-Za-z]{10,48}){1,3})\b`)},
	{id: "slack-webhook", title: "Slack incoming webhook URL", severity: vuln.SeverityMedium,
		re: regexp.MustCompile(`(https://hooks\.slack\.com/services/T[A-Z0-9]{8,12}/B[A-Z0-9]{8,12}/[A-Za-z0-9]{24})`)},
	{id: "generic-secret", title: "Hard-coded secret assignment", severity: vuln.SeverityMedium,
		re:    regexp.MustCompile(`(?i)(?:password|passwd|secret|api_?key|access_?token|auth_?token|client_?secret)["']?\s*[:=]\s*["']([^"'\s$%{}<>]{20,200})["']`),
		check: func(v string) bool { return hasLettersAndDigits(v) && highEntropy(3.8)(v) && !placeholder(v) }},
}

// skipPrefixes are trees holding documentation, where example keys abound.
var skipPrefixes = []string{"usr/share/doc/", "usr/share/man/", "usr/share/info/", "usr/share/locale/"}

// Options tune a Scanner.
type Options struct {
	// MaxFileSize is the largest file read; 0 means 1 MiB.
	MaxFileSize int64
}

// Scanner collects secret findings across the files Visit is given. It is
// safe for concurrent use.
type Scanner struct {
	maxFileSize int64
	mu          sync.Mutex
	findings    map[scan.Finding]bool
}

// New returns a Scanner.
func New(opts Options) *Scanner {
	if opts.MaxFileSize <= 0 {
		opts.MaxFileSize = 1 << 20
	}
	return &Scanner{maxFileSize: opts.MaxFileSize, findings: map[scan.Finding]bool{}}
}

// Visit scans one layer file; it fits layers.Options.Visit. Large files,
// documentation trees and binary files (a NUL byte in the first 8 KiB) are
// skipped. It fails only when reading fails.
func (s *Scanner) Visit(ctx context.Context, f layers.LayerFile, r io.Reader) error {
	if f.Info.Size() > s.maxFileSize || f.Info.Size() == 0 {
		return nil
	}
	for _, p := range skipPrefixes {
		if strings.HasPrefix(f.Path, p) {
			return nil
		}
	}
	found, err := Scan(f.Path, io.LimitReader(r, s.maxFileSize))
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, fd := range found {
		fd.Layer = f.Layer.String()
		s.findings[fd] = true
	}
	return nil
}

// Findings returns what Visit found, sorted by path, line, rule and layer.
func (s *Scanner) Findings() []scan.Finding {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]scan.Finding, 0, len(s.findings))
	for f := range s.findings {
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Path != b.Path {
			return a.Path < b.Path
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		if a.Rule != b.Rule {
			return a.Rule < b.Rule
		}
		return a.Layer < b.Layer
	})
	return out
}

// Scan reads r (the content of the file at path) and returns the secrets in
// it, without Layer set. A binary file (NUL in the first 8 KiB) yields none.
// Lines longer than 64 KiB are skipped.
func Scan(path string, r io.Reader) ([]scan.Finding, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	head, err := br.Peek(8 << 10)
	if err != nil && err != io.EOF && err != bufio.ErrBufferFull {
		return nil, err
	}
	if bytes.IndexByte(head, 0) >= 0 {
		return nil, nil
	}
	var out []scan.Finding
	line := 0
	for {
		text, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			line++
			for err == bufio.ErrBufferFull { // skip the rest of an over-long line
				_, err = br.ReadSlice('\n')
			}
			if err == io.EOF {
				return out, nil
			}
			if err != nil {
				return out, err
			}
			continue
		}
		if len(text) > 0 {
			line++
			out = append(out, scanLine(path, line, text)...)
		}
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
	}
}

func scanLine(path string, line int, text []byte) []scan.Finding {
	var out []scan.Finding
	for _, r := range rules {
		for _, m := range r.re.FindAllSubmatch(text, -1) {
			value := string(m[0])
			if len(m) > 1 && len(m[1]) > 0 {
				value = string(m[1])
			}
			if r.id == "private-key" {
				value = string(text) // the header alone says little; hash the line
			}
			if r.check != nil && !r.check(value) {
				continue
			}
			out = append(out, scan.Finding{Kind: scan.KindSecret, Rule: r.id, Severity: r.severity,
				Title: r.title, Path: path, Line: line, Fingerprint: Fingerprint(value)})
		}
	}
	return out
}

// Fingerprint redacts a secret: at most its first four characters, and the
// first 12 hex digits of its SHA-256.
func Fingerprint(value string) string {
	sum := sha256.Sum256([]byte(value))
	prefix := value
	if len(prefix) > 4 {
		prefix = prefix[:4]
	}
	if len(value) < 16 { // too short to show any of it
		prefix = ""
	}
	return prefix + "…#" + hex.EncodeToString(sum[:6])
}

// highEntropy returns a check accepting values whose Shannon entropy is at
// least bits per character.
func highEntropy(bits float64) func(string) bool {
	return func(v string) bool { return entropy(v) >= bits }
}

func entropy(s string) float64 {
	if s == "" {
		return 0
	}
	counts := map[rune]int{}
	for _, r := range s {
		counts[r]++
	}
	n := float64(len([]rune(s)))
	h := 0.0
	for _, c := range counts {
		p := float64(c) / n
		h -= p * math.Log2(p)
	}
	return h
}

func hasLettersAndDigits(s string) bool {
	return strings.ContainsAny(s, "0123456789") &&
		strings.ContainsAny(strings.ToLower(s), "abcdefghijklmnopqrstuvwxyz")
}

// placeholder reports values that are obviously not real secrets.
func placeholder(v string) bool {
	l := strings.ToLower(v)
	for _, p := range []string{"example", "changeme", "placeholder", "xxxxxx", "your_", "your-", "dummy", "redacted", "sample"} {
		if strings.Contains(l, p) {
			return true
		}
	}
	return false
}
