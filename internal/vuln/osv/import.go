package osv

import (
	"archive/zip"
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/berth-registry/berth/internal/errdefs"
	"github.com/berth-registry/berth/internal/meta"
)

// Defaults of Options.
const (
	DefaultBatchSize     = 500
	DefaultMaxRecordSize = 16 << 20
	// maxSkipsKept bounds Report.Skipped; SkippedCount counts them all.
	maxSkipsKept = 1000
)

// Options tunes Import. The zero value is a good default.
type Options struct {
	// Source names the data source the records are attributed to; ""
	// means the base name of the imported path.
	Source string
	// BatchSize is how many records go into one store transaction; zero
	// means DefaultBatchSize.
	BatchSize int
	// MaxRecordSize bounds one record's JSON text; a bigger one is skipped.
	// Zero means DefaultMaxRecordSize.
	MaxRecordSize int64
	// Progress, if set, is called after each stored batch.
	Progress func(Progress)
	// Now gives the import's finishing time; nil means time.Now.
	Now func() time.Time
}

// Progress reports how far an import is.
type Progress struct {
	// Done counts the files, zip entries or array elements read so far.
	Done int
	// Total is the number of entries of a zip, 0 when not known ahead.
	Total int
	// Stored counts the records added or replaced so far.
	Stored int
}

// Skip is an entry the import left out, and why.
type Skip struct {
	// Entry is the file, zip entry or array element ("file.json[3]").
	Entry string `json:"entry"`
	// Reason says what was wrong with it.
	Reason string `json:"reason"`
}

// Report says what an import did.
type Report struct {
	// Source is the name the records were attributed to.
	Source string `json:"source"`
	// Read counts the records read (stored, unchanged or skipped).
	Read int `json:"read"`
	// Added, Replaced and Unchanged count as meta.VulnPutResult does;
	// duplicates of an id within one import count as Unchanged.
	Added     int `json:"added"`
	Replaced  int `json:"replaced"`
	Unchanged int `json:"unchanged"`
	// SkippedCount counts entries left out; Skipped lists the first 1000.
	SkippedCount int    `json:"skippedCount"`
	Skipped      []Skip `json:"skipped,omitempty"`
	// Generation is the data's generation after the import.
	Generation int64 `json:"generation"`
	// Data is the source as the store holds it after this import.
	Data SourceState `json:"data"`
}

// SourceState is what the store holds of one data source.
type SourceState struct {
	// Records counts the stored records that came from the source last.
	Records int64 `json:"records"`
	// NewestModified is the latest modified time of those records (zero
	// when there are none): the age of the data.
	NewestModified time.Time `json:"newestModified"`
	// ImportedAt is when the last import of the source finished.
	ImportedAt time.Time `json:"importedAt"`
}

// Changed reports whether the import added or replaced any record.
func (r *Report) Changed() bool { return r.Added+r.Replaced > 0 }

// Import reads the OSV records at path into store: path may be a JSON file
// (one record, or an array of records), a directory (every *.json file
// under it) or a zip archive such as osv.dev's per-ecosystem all.zip, read
// one entry at a time so memory stays bounded by a batch of records. A
// record replaces a stored one only if it is newer (meta.VulnStore's rule).
// Entries that are not valid records are skipped and listed in the report;
// a failure of the store or of reading path ends the import with an error,
// keeping the batches already stored.
func Import(ctx context.Context, store meta.VulnStore, path string, opts Options) (_ *Report, err error) {
	defer errdefs.Wrapf(&err, "import OSV data from %s", path)
	info, err := os.Stat(path)
	if err != nil {
		return nil, statError(err)
	}
	im := newImporter(store, path, opts)
	switch {
	case info.IsDir():
		err = im.dir(ctx, path)
	case isZip(path):
		err = im.zip(ctx, path)
	default:
		err = im.file(ctx, path, filepath.Base(path))
	}
	if err == nil {
		err = im.flush(ctx)
	}
	if err != nil {
		return nil, err
	}
	return im.finish(ctx)
}

func statError(err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return errdefs.NotFound("%v", err)
	}
	return errdefs.Wrap(errdefs.ErrUnavailable, err, "read")
}

// isZip reports whether the file at path starts like a zip archive.
func isZip(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	var magic [4]byte
	_, err = io.ReadFull(f, magic[:])
	return err == nil && string(magic[:]) == "PK\x03\x04"
}

// importer accumulates records into batches and stores them.
type importer struct {
	store   meta.VulnStore
	opts    Options
	report  Report
	batch   []meta.VulnRecord
	inBatch map[string]int // id → index in batch
	done    int
	total   int
}

func newImporter(store meta.VulnStore, path string, opts Options) *importer {
	if opts.Source == "" {
		opts.Source = filepath.Base(filepath.Clean(path))
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = DefaultBatchSize
	}
	if opts.MaxRecordSize <= 0 {
		opts.MaxRecordSize = DefaultMaxRecordSize
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &importer{store: store, opts: opts, report: Report{Source: opts.Source}, inBatch: map[string]int{}}
}

// skipRecord counts a record read and left out.
func (im *importer) skipRecord(entry, reason string) {
	im.done++
	im.report.Read++
	im.skip(entry, reason)
}

func (im *importer) skip(entry, reason string) {
	im.report.SkippedCount++
	if len(im.report.Skipped) < maxSkipsKept {
		im.report.Skipped = append(im.report.Skipped, Skip{Entry: entry, Reason: reason})
	}
}

// add parses one record and queues it, storing the batch when it is full.
func (im *importer) add(ctx context.Context, entry string, raw []byte) error {
	im.done++
	im.report.Read++
	r, err := Parse(raw)
	if err != nil {
		im.skip(entry, err.Error())
		return nil
	}
	data, err := Encode(raw)
	if err != nil {
		return fmt.Errorf("compress %s: %w", entry, err)
	}
	rec := meta.VulnRecord{ID: r.ID, Modified: r.Modified, Packages: r.Packages(), Data: data}
	if i, ok := im.inBatch[r.ID]; ok {
		im.report.Unchanged++ // one of the two versions is left out
		if rec.Modified.After(im.batch[i].Modified) {
			im.batch[i] = rec
		}
		return nil
	}
	im.inBatch[r.ID] = len(im.batch)
	im.batch = append(im.batch, rec)
	if len(im.batch) >= im.opts.BatchSize {
		return im.flush(ctx)
	}
	return nil
}

// flush stores the queued batch in one transaction.
func (im *importer) flush(ctx context.Context) error {
	if len(im.batch) == 0 {
		return nil
	}
	res, err := im.store.PutVulnRecords(ctx, im.opts.Source, im.batch)
	if err != nil {
		return err
	}
	im.report.Added += res.Added
	im.report.Replaced += res.Replaced
	im.report.Unchanged += res.Unchanged
	im.batch = im.batch[:0]
	clear(im.inBatch)
	if im.opts.Progress != nil {
		im.opts.Progress(Progress{Done: im.done, Total: im.total, Stored: im.report.Added + im.report.Replaced})
	}
	return nil
}

func (im *importer) finish(ctx context.Context) (*Report, error) {
	src, err := im.store.FinishVulnImport(ctx, im.opts.Source, im.opts.Now())
	if err != nil {
		return nil, err
	}
	gen, err := im.store.VulnGeneration(ctx)
	if err != nil {
		return nil, err
	}
	im.report.Generation = gen
	im.report.Data = SourceState{Records: src.Records, NewestModified: src.NewestModified, ImportedAt: src.ImportedAt}
	return &im.report, nil
}

// dir imports every *.json file under root, in lexical order.
func (im *importer) dir(ctx context.Context, root string) error {
	return filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return errdefs.Wrap(errdefs.ErrUnavailable, err, "walk")
		}
		if d.IsDir() || !strings.EqualFold(filepath.Ext(path), ".json") {
			return nil
		}
		rel, _ := filepath.Rel(root, path)
		return im.file(ctx, path, filepath.ToSlash(rel))
	})
}

// file imports one JSON file: a record, or an array of records streamed
// element by element.
func (im *importer) file(ctx context.Context, path, entry string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	f, err := os.Open(path)
	if err != nil {
		return statError(err)
	}
	defer f.Close()
	return im.stream(ctx, entry, f)
}

// stream imports the JSON text of r: one record, or an array of them.
func (im *importer) stream(ctx context.Context, entry string, r io.Reader) error {
	br := bufio.NewReader(r)
	first, err := peekNonSpace(br)
	if err != nil {
		im.skipRecord(entry, "empty file")
		return nil
	}
	if first != '[' {
		raw, err := io.ReadAll(io.LimitReader(br, im.opts.MaxRecordSize+1))
		switch {
		case err != nil:
			return errdefs.Wrap(errdefs.ErrUnavailable, err, "read %s", entry)
		case int64(len(raw)) > im.opts.MaxRecordSize:
			im.skipRecord(entry, fmt.Sprintf("record larger than %d bytes", im.opts.MaxRecordSize))
			return nil
		}
		return im.add(ctx, entry, raw)
	}
	dec := json.NewDecoder(br)
	if _, err := dec.Token(); err != nil {
		im.skipRecord(entry, "not JSON: "+err.Error())
		return nil
	}
	for i := 0; dec.More(); i++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			im.skipRecord(fmt.Sprintf("%s[%d]", entry, i), "not JSON: "+err.Error())
			return nil
		}
		if err := im.add(ctx, fmt.Sprintf("%s[%d]", entry, i), raw); err != nil {
			return err
		}
	}
	return nil
}

// peekNonSpace skips leading white space and returns the next byte unread.
func peekNonSpace(br *bufio.Reader) (byte, error) {
	for {
		b, err := br.ReadByte()
		if err != nil {
			return 0, err
		}
		switch b {
		case ' ', '\t', '\r', '\n', 0xEF, 0xBB, 0xBF: // white space, a byte order mark
		default:
			return b, br.UnreadByte()
		}
	}
}

// zip imports every .json entry of the archive at path, one at a time.
func (im *importer) zip(ctx context.Context, path string) error {
	zr, err := zip.OpenReader(path)
	if err != nil {
		return errdefs.Invalid("read zip: %v", err)
	}
	defer zr.Close()
	im.total = len(zr.File)
	for _, f := range zr.File {
		if err := ctx.Err(); err != nil {
			return err
		}
		if f.FileInfo().IsDir() {
			continue
		}
		if !strings.EqualFold(filepath.Ext(f.Name), ".json") {
			im.done++
			im.skip(f.Name, "not a .json entry")
			continue
		}
		if f.UncompressedSize64 > uint64(im.opts.MaxRecordSize) {
			im.skipRecord(f.Name, fmt.Sprintf("record larger than %d bytes", im.opts.MaxRecordSize))
			continue
		}
		if err := im.zipEntry(ctx, f); err != nil {
			return err
		}
	}
	return nil
}

func (im *importer) zipEntry(ctx context.Context, f *zip.File) error {
	rc, err := f.Open()
	if err != nil {
		im.skipRecord(f.Name, "unreadable zip entry: "+err.Error())
		return nil
	}
	defer rc.Close()
	return im.stream(ctx, f.Name, rc)
}
