// Package osv reads vulnerability records in the OSV format
// (https://ossf.github.io/osv-schema/) and imports them into a
// meta.VulnStore: one JSON file, a directory tree of them, or an osv.dev
// per-ecosystem all.zip export, streamed entry by entry.
//
// The record types are a small hand-written subset of the schema rather
// than the ossf/osv-schema Go bindings: those are generated protobuf
// messages that need protojson and structpb to read database_specific and
// ecosystem_specific, which is several times slower to decode than
// encoding/json for the 100k-record feeds this package streams, and the
// store keeps the original JSON anyway, so no field is lost.
package osv

import (
	"bytes"
	"compress/flate"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/vuln"
)

// Record is the part of an OSV record that matching and import use.
type Record struct {
	SchemaVersion string     `json:"schema_version,omitempty"`
	ID            string     `json:"id"`
	Modified      time.Time  `json:"modified"`
	Published     *time.Time `json:"published,omitempty"`
	// Withdrawn is set when the record was retracted; such records match
	// nothing.
	Withdrawn *time.Time `json:"withdrawn,omitempty"`
	Aliases   []string   `json:"aliases,omitempty"`
	Upstream  []string   `json:"upstream,omitempty"`
	Summary   string     `json:"summary,omitempty"`
	Details   string     `json:"details,omitempty"`
	Severity  []Severity `json:"severity,omitempty"`
	Affected  []Affected `json:"affected,omitempty"`
	// DatabaseSpecific is kept raw; Severity reads its "severity" key.
	DatabaseSpecific json.RawMessage `json:"database_specific,omitempty"`
}

// Severity is one entry of a record's or an affected package's severity
// list: a type (CVSS_V2, CVSS_V3, CVSS_V4, Ubuntu) and its score (a CVSS
// vector, or a word for Ubuntu).
type Severity struct {
	Type  string `json:"type"`
	Score string `json:"score"`
}

// Affected names one affected package and the versions of it affected.
type Affected struct {
	Package           Package         `json:"package"`
	Severity          []Severity      `json:"severity,omitempty"`
	Ranges            []Range         `json:"ranges,omitempty"`
	Versions          []string        `json:"versions,omitempty"`
	EcosystemSpecific json.RawMessage `json:"ecosystem_specific,omitempty"`
	DatabaseSpecific  json.RawMessage `json:"database_specific,omitempty"`
}

// Package identifies a package within an ecosystem.
type Package struct {
	Ecosystem string `json:"ecosystem"`
	Name      string `json:"name"`
	PURL      string `json:"purl,omitempty"`
}

// The range types. GIT ranges name commits, which an installed package
// does not have; matching ignores them.
const (
	RangeEcosystem = "ECOSYSTEM"
	RangeSemver    = "SEMVER"
	RangeGit       = "GIT"
)

// Range is one version range: events in the ordering its Type names.
type Range struct {
	Type   string  `json:"type"`
	Repo   string  `json:"repo,omitempty"`
	Events []Event `json:"events"`
}

// Event is one range event; exactly one field is set.
type Event struct {
	Introduced   string `json:"introduced,omitempty"`
	Fixed        string `json:"fixed,omitempty"`
	LastAffected string `json:"last_affected,omitempty"`
	Limit        string `json:"limit,omitempty"`
}

// Parse decodes one OSV record and checks the fields Berth relies on: an
// id and a modified time. A malformed record is an errdefs.ErrInvalid error.
func Parse(data []byte) (*Record, error) {
	var r Record
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, errdefs.Invalid("not an OSV record: %v", err)
	}
	if err := r.check(); err != nil {
		return nil, err
	}
	return &r, nil
}

func (r *Record) check() error {
	switch {
	case strings.TrimSpace(r.ID) == "":
		return errdefs.Invalid("OSV record has no id")
	case r.Modified.IsZero():
		return errdefs.Invalid("OSV record %s has no modified time", r.ID)
	}
	return nil
}

// Packages returns the index entries of r: each distinct (ecosystem, name)
// its affected list names, with the name as vuln.IndexName spells it.
func (r *Record) Packages() []meta.VulnPackage {
	out := make([]meta.VulnPackage, 0, len(r.Affected))
	seen := make(map[meta.VulnPackage]bool, len(r.Affected))
	for _, a := range r.Affected {
		if a.Package.Ecosystem == "" || a.Package.Name == "" {
			continue
		}
		p := meta.VulnPackage{Ecosystem: a.Package.Ecosystem, Name: vuln.IndexName(a.Package.Ecosystem, a.Package.Name)}
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	return out
}

// deflated marks stored data compressed by Encode; stored data that starts
// with '{' is plain JSON.
const deflated = 'z'

// writers keeps compressors for reuse: a flate.Writer holds about a
// megabyte of state, too much to allocate for every record.
var writers = sync.Pool{New: func() any {
	zw, _ := flate.NewWriter(nil, flate.BestSpeed) // the level is valid
	return zw
}}

// Encode compresses the JSON text of a record for the store.
func Encode(raw []byte) ([]byte, error) {
	var buf bytes.Buffer
	buf.Grow(len(raw)/3 + 16)
	buf.WriteByte(deflated)
	zw := writers.Get().(*flate.Writer)
	defer writers.Put(zw)
	zw.Reset(&buf)
	if _, err := zw.Write(raw); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// readers keeps decompressors for reuse.
var readers = sync.Pool{New: func() any { return flate.NewReader(bytes.NewReader(nil)) }}

// Decode returns the JSON text of stored data (compressed by Encode, or
// plain JSON as written by hand).
func Decode(data []byte) ([]byte, error) {
	if len(data) == 0 || data[0] != deflated {
		return data, nil
	}
	zr := readers.Get().(io.ReadCloser)
	defer readers.Put(zr)
	if err := zr.(flate.Resetter).Reset(bytes.NewReader(data[1:]), nil); err != nil {
		return nil, fmt.Errorf("decompress stored OSV record: %w", err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		return nil, fmt.Errorf("decompress stored OSV record: %w", err)
	}
	return raw, nil
}

// FromStored parses a record as the store holds it.
func FromStored(rec meta.VulnRecord) (*Record, error) {
	raw, err := Decode(rec.Data)
	if err != nil {
		return nil, err
	}
	r, err := Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("stored record %s: %w", rec.ID, err)
	}
	return r, nil
}
