package jobs

import (
	"context"
	"log/slog"
	"strings"
)

// quietStop lowers River's error records that only say a context was
// cancelled: River logs them while it stops on a clean shutdown, and an
// operator reading "ERROR" on every restart would go looking for a fault.
type quietStop struct{ slog.Handler }

func (h quietStop) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= slog.LevelError && cancelledOnly(r) {
		r = slog.NewRecord(r.Time, slog.LevelDebug, r.Message, r.PC)
		if !h.Enabled(ctx, slog.LevelDebug) {
			return nil
		}
	}
	return h.Handler.Handle(ctx, r)
}

func (h quietStop) WithAttrs(as []slog.Attr) slog.Handler { return quietStop{h.Handler.WithAttrs(as)} }
func (h quietStop) WithGroup(name string) slog.Handler    { return quietStop{h.Handler.WithGroup(name)} }

// cancelledOnly reports whether the record's error is a context
// cancellation.
func cancelledOnly(r slog.Record) bool {
	found := false
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "error" || a.Key == "err" {
			found = strings.HasSuffix(a.Value.String(), "context canceled")
			return false
		}
		return true
	})
	return found
}
