// Package hygiene reports image build practices that policies may act on:
// running as root (no USER, or USER root/0), a very large image, and the
// "latest" tag. It is a pure function of facts the inventory and the
// registry already hold.
package hygiene

import (
	"fmt"
	"sort"
	"strings"

	"github.com/berth-registry/berth/internal/bytesize"
	"github.com/berth-registry/berth/internal/scan"
	"github.com/berth-registry/berth/internal/vuln"
)

// The rule ids.
const (
	RuleNoUser      = "no-user"
	RuleRunsAsRoot  = "runs-as-root"
	RuleLargeImage  = "large-image"
	RuleLatestTag   = "latest-tag"
	defaultMaxBytes = 1 << 30
)

// Input is what the checks read about one image.
type Input struct {
	// User is the image config's User field.
	User string
	// Size is the image's stored (compressed) size in bytes.
	Size int64
	// Tags are the tags pointing at the image.
	Tags []string
}

// Options tune the checks.
type Options struct {
	// MaxSize is the size above which an image is reported as very large;
	// 0 means 1 GiB.
	MaxSize int64
}

// Check returns the hygiene findings for in, sorted by rule.
func Check(in Input, opts Options) []scan.Finding {
	if opts.MaxSize <= 0 {
		opts.MaxSize = defaultMaxBytes
	}
	var out []scan.Finding
	add := func(rule string, sev vuln.Severity, title string) {
		out = append(out, scan.Finding{Kind: scan.KindHygiene, Rule: rule, Severity: sev, Title: title})
	}
	user, _, _ := strings.Cut(strings.TrimSpace(in.User), ":")
	switch user {
	case "":
		add(RuleNoUser, vuln.SeverityMedium, "The image sets no USER, so its processes run as root")
	case "root", "0":
		add(RuleRunsAsRoot, vuln.SeverityMedium, fmt.Sprintf("The image runs as root (USER %s)", in.User))
	}
	if in.Size > opts.MaxSize {
		add(RuleLargeImage, vuln.SeverityLow, fmt.Sprintf("The image is %s, more than the %s limit", bytesize.Format(in.Size), bytesize.Format(opts.MaxSize)))
	}
	for _, t := range in.Tags {
		if t == "latest" {
			add(RuleLatestTag, vuln.SeverityLow, `The image is tagged "latest", which moves; deploy by digest or a versioned tag`)
			break
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Rule < out[j].Rule })
	return out
}
