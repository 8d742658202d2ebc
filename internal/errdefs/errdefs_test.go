package errdefs

import (
	"errors"
	"io/fs"
	"testing"
)

func TestClasses(t *testing.T) {
	tests := []struct {
		name  string
		err   error
		class error
		msg   string
	}{
		{"not found", NotFound("blob %s", "x"), ErrNotFound, "blob x"},
		{"invalid", Invalid("bad %d", 1), ErrInvalid, "bad 1"},
		{"wrap keeps cause", Wrap(ErrUnavailable, fs.ErrPermission, "write %s", "f"), ErrUnavailable, "write f: permission denied"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !errors.Is(tt.err, tt.class) {
				t.Errorf("%v is not %v", tt.err, tt.class)
			}
			if tt.err.Error() != tt.msg {
				t.Errorf("message %q, want %q", tt.err.Error(), tt.msg)
			}
		})
	}
	if !errors.Is(Wrap(ErrUnavailable, fs.ErrPermission, "x"), fs.ErrPermission) {
		t.Error("Wrap lost its cause")
	}
	var err error = NotFound("m")
	Wrapf(&err, "ctx %d", 2)
	if err.Error() != "ctx 2: m" || !IsNotFound(err) {
		t.Errorf("Wrapf: %v", err)
	}
	var nilErr error
	Wrapf(&nilErr, "x")
	if nilErr != nil {
		t.Error("Wrapf made an error out of nil")
	}
}
