package sync

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/berth-registry/berth/internal/bytesize"
	"github.com/berth-registry/berth/internal/errdefs"
)

// progressEvery is how many bytes pass between two progress log lines of
// a download.
const progressEvery = 256 << 20

// spool copies r into a new temporary file, stopping with ErrTooLarge past
// s.cfg.MaxBytes, and returns the file's path (the caller removes it) and
// size. what names the data in messages; total is its announced size, or
// -1.
func (s *Syncer) spool(ctx context.Context, log *slog.Logger, r io.Reader, what string, total int64) (path string, n int64, err error) {
	f, err := os.CreateTemp(s.cfg.TempDir, "berth-vulnsync-*")
	if err != nil {
		return "", 0, errdefs.Wrap(errdefs.ErrUnavailable, err, "spool %s", what)
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = errdefs.Wrap(errdefs.ErrUnavailable, cerr, "spool %s", what)
		}
		if err != nil {
			_ = os.Remove(f.Name())
		}
	}()
	w := &progressWriter{ctx: ctx, log: log, what: what, total: total, w: f, next: progressEvery}
	n, err = io.Copy(w, io.LimitReader(r, s.cfg.MaxBytes+1))
	switch {
	case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		return "", n, fmt.Errorf("spool %s: %w", what, err)
	case err != nil:
		return "", n, errdefs.Wrap(errdefs.ErrUnavailable, err, "read %s after %d bytes", what, n)
	case n > s.cfg.MaxBytes:
		return "", n, errdefs.TooLarge("%s is larger than the %s limit", what, bytesize.Format(s.cfg.MaxBytes))
	}
	log.InfoContext(ctx, "fetched vulnerability data", "from", what, "bytes", n)
	return f.Name(), n, nil
}

// progressWriter writes to w, logging every progressEvery bytes, and stops
// when ctx ends.
type progressWriter struct {
	ctx   context.Context
	log   *slog.Logger
	what  string
	total int64
	w     io.Writer
	n     int64
	next  int64
}

func (p *progressWriter) Write(b []byte) (int, error) {
	if err := p.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := p.w.Write(b)
	p.n += int64(n)
	if p.n >= p.next {
		p.next = p.n + progressEvery
		p.log.InfoContext(p.ctx, "fetching vulnerability data", "from", p.what, "bytes", p.n, "total", p.total)
	}
	return n, err
}

// zipMagic is how a zip archive starts (a local file header).
const zipMagic = "PK\x03\x04"

// checkZip returns ErrInvalid when the file at path does not start like a
// zip archive.
func checkZip(path, what string) error {
	f, err := os.Open(path)
	if err != nil {
		return errdefs.Wrap(errdefs.ErrUnavailable, err, "read %s", what)
	}
	defer f.Close()
	var magic [len(zipMagic)]byte
	if _, err := io.ReadFull(f, magic[:]); err != nil || string(magic[:]) != zipMagic {
		return errdefs.Invalid("%s should be a zip archive but is not", what)
	}
	return nil
}
