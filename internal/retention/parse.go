package retention

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"

	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/berth-registry/berth/internal/policy"
)

// Limits Validate enforces, so that ages stay far from time.Duration's
// range and a policy stays small enough to show.
const (
	// MaxRules is the most rules a policy may have.
	MaxRules = 100
	// MaxDays is the largest CountNumber of a days criterion (100 years).
	MaxDays = 36500
	// MaxCount is the largest CountNumber of a counting criterion.
	MaxCount = 1_000_000
	// MaxPolicySize is the largest policy document Parse reads, in bytes.
	MaxPolicySize = 256 << 10
)

// Parse decodes a policy document and validates it. The JSON is strict:
// unknown fields and trailing data are refused. An ECR lifecycle policy is
// accepted as is (including "action": {"type": "expire"} and "countUnit":
// "days"). Errors are of class errdefs.ErrInvalid.
func Parse(data []byte) (*Policy, error) {
	if len(data) > MaxPolicySize {
		return nil, errdefs.Invalid("retention policy: %d bytes, at most %d", len(data), MaxPolicySize)
	}
	if t := bytes.TrimSpace(data); len(t) == 0 || t[0] != '{' {
		return nil, errdefs.Invalid("retention policy: a JSON object {\"rules\": [...]} is expected")
	}
	var p Policy
	if err := decodeStrict(data, &p); err != nil {
		return nil, errdefs.Invalid("retention policy: %v", err)
	}
	if err := Validate(&p); err != nil {
		return nil, err
	}
	return &p, nil
}

func decodeStrict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return fmt.Errorf("trailing data after the policy object")
	}
	return nil
}

// UnmarshalJSON accepts a string ("expire", "retain") or ECR's object form
// {"type": "expire"}. The value itself is checked by Validate.
func (a *Action) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*a = Action(s)
		return nil
	}
	var obj struct {
		Type string `json:"type"`
	}
	if err := decodeStrict(b, &obj); err != nil {
		return fmt.Errorf("action: a string or {\"type\": ...}: %w", err)
	}
	*a = Action(obj.Type)
	return nil
}

// Validate checks a policy: at most MaxRules rules with unique positive
// priorities, and each rule valid (see the package doc and the field docs:
// known action, tag status and count type; tag lists only with tagStatus
// tagged; regular expressions that compile; countUnit "days" exactly for the
// since criteria; a positive countNumber except for "always"). Errors are of
// class errdefs.ErrInvalid and name the rule priority and the field.
func Validate(p *Policy) error {
	if p == nil {
		return errdefs.Invalid("retention policy: missing")
	}
	if len(p.Rules) > MaxRules {
		return errdefs.Invalid("retention policy: %d rules, at most %d", len(p.Rules), MaxRules)
	}
	seen := make(map[int]bool, len(p.Rules))
	for i := range p.Rules {
		r := &p.Rules[i]
		if r.Priority <= 0 {
			return errdefs.Invalid("rule #%d: rulePriority must be a positive integer, got %d", i+1, r.Priority)
		}
		if seen[r.Priority] {
			return errdefs.Invalid("rule %d: rulePriority %d is used by another rule", r.Priority, r.Priority)
		}
		seen[r.Priority] = true
		if err := validateRule(r); err != nil {
			return errdefs.Invalid("rule %d: %v", r.Priority, err)
		}
	}
	return nil
}

func validateRule(r *Rule) error {
	switch r.Action {
	case "", Expire, Retain:
	default:
		return fmt.Errorf("action: unknown type %q (expire or retain)", r.Action)
	}
	if err := policy.ValidateRepositoryPatterns(r.Repositories); err != nil {
		return fmt.Errorf("repositories: %w", err)
	}
	s := &r.Selection
	switch s.TagStatus {
	case Tagged:
		if err := validateTagLists(s); err != nil {
			return err
		}
	case Untagged, Any:
		if f := firstTagList(s); f != "" {
			return fmt.Errorf("selection.%s: tag lists are for tagStatus %q only", f, Tagged)
		}
	case "":
		return fmt.Errorf("selection.tagStatus: missing (tagged, untagged or any)")
	default:
		return fmt.Errorf("selection.tagStatus: unknown value %q (tagged, untagged or any)", s.TagStatus)
	}
	return validateCount(s)
}

func validateCount(s *Selection) error {
	days := false
	switch s.CountType {
	case SincePushed, SincePulled:
		days = true
		if s.CountUnit != "days" {
			return fmt.Errorf("selection.countUnit: %s needs countUnit \"days\", got %q", s.CountType, s.CountUnit)
		}
	case CountMoreThan, MostRecentlyPulled, Always:
		if s.CountUnit != "" {
			return fmt.Errorf("selection.countUnit: %s takes no countUnit, got %q", s.CountType, s.CountUnit)
		}
	case "":
		return fmt.Errorf("selection.countType: missing")
	default:
		return fmt.Errorf("selection.countType: unknown value %q", s.CountType)
	}
	if s.CountType == Always {
		return nil // countNumber is ignored
	}
	limit := MaxCount
	if days {
		limit = MaxDays
	}
	if s.CountNumber <= 0 || s.CountNumber > limit {
		return fmt.Errorf("selection.countNumber: %s needs 1 to %d, got %d", s.CountType, limit, s.CountNumber)
	}
	return nil
}

// firstTagList names the first non-empty tag list of s, or "".
func firstTagList(s *Selection) string {
	for _, l := range tagLists(s) {
		if len(l.values) > 0 {
			return l.field
		}
	}
	return ""
}

type namedList struct {
	field  string
	values []string
	kind   listKind
}

type listKind int

const (
	prefixList listKind = iota
	patternList
	regexList
)

func tagLists(s *Selection) []namedList {
	return []namedList{
		{"tagPrefixList", s.TagPrefixList, prefixList},
		{"tagPatternList", s.TagPatternList, patternList},
		{"tagRegexList", s.TagRegexList, regexList},
		{"excludeTagPrefixList", s.ExcludeTagPrefixList, prefixList},
		{"excludeTagPatternList", s.ExcludeTagPatternList, patternList},
		{"excludeTagRegexList", s.ExcludeTagRegexList, regexList},
	}
}

func validateTagLists(s *Selection) error {
	for _, l := range tagLists(s) {
		for _, v := range l.values {
			if v == "" {
				return fmt.Errorf("selection.%s: empty entry", l.field)
			}
			if l.kind == regexList {
				if _, err := compileAnchored(v); err != nil {
					return fmt.Errorf("selection.%s: %q: %w", l.field, v, err)
				}
			}
		}
	}
	return nil
}

// compileAnchored compiles an RE2 expression that must match a whole tag.
func compileAnchored(expr string) (*regexp.Regexp, error) {
	return regexp.Compile(`^(?:` + expr + `)$`)
}

// sortedRules returns p's rules in priority order (p is not changed).
func sortedRules(p *Policy) []Rule {
	rules := append([]Rule(nil), p.Rules...)
	sort.SliceStable(rules, func(i, j int) bool { return rules[i].Priority < rules[j].Priority })
	return rules
}

// action is r's action with the default applied.
func (r *Rule) action() Action {
	if r.Action == "" {
		return Expire
	}
	return r.Action
}

// criterion describes r's action and count in a reason, e.g. "expire
// sinceImagePushed 30 days".
func (r *Rule) criterion() string {
	s := &r.Selection
	var b strings.Builder
	b.WriteString(string(r.action()) + " " + string(s.CountType))
	if s.CountType != Always {
		fmt.Fprintf(&b, " %d", s.CountNumber)
		if s.CountUnit != "" {
			b.WriteString(" " + s.CountUnit)
		}
	}
	return b.String()
}
