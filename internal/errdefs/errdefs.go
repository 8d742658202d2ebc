// Package errdefs defines the few classes of domain error that Berth's
// services return. Code below the HTTP layer wraps one of these sentinels with
// %w and a message saying what failed; only the api packages turn a class into
// an OCI error code and an HTTP status.
package errdefs

import (
	"errors"
	"fmt"
)

// The error classes. Test for them with errors.Is (or the Is* helpers).
var (
	// ErrNotFound means the named thing does not exist (or is not visible).
	ErrNotFound = errors.New("not found")
	// ErrAlreadyExists means a create found the thing already there.
	ErrAlreadyExists = errors.New("already exists")
	// ErrConflict means the request raced another change or does not fit the
	// current state (a tag moved meanwhile, an upload at another offset).
	ErrConflict = errors.New("conflict")
	// ErrInvalid means the input is malformed or breaks a rule of the spec.
	ErrInvalid = errors.New("invalid")
	// ErrDenied means the caller may not do this (policy, permission, quota).
	ErrDenied = errors.New("denied")
	// ErrUnavailable means a dependency (database, storage) cannot serve now;
	// retrying later may succeed.
	ErrUnavailable = errors.New("unavailable")
	// ErrTooLarge means a body or value exceeds a configured limit.
	ErrTooLarge = errors.New("too large")
	// ErrUnsupported means the request asks for something Berth does not do.
	ErrUnsupported = errors.New("unsupported")
	// ErrUnauthenticated means the caller presented no credentials, or
	// credentials that are wrong, expired or revoked.
	ErrUnauthenticated = errors.New("unauthenticated")
	// ErrTooManyRequests means the caller must slow down (for example after
	// too many failed logins) and may retry later.
	ErrTooManyRequests = errors.New("too many requests")
)

// NotFound returns an error of class ErrNotFound with a formatted message.
func NotFound(format string, args ...any) error { return wrap(ErrNotFound, format, args...) }

// AlreadyExists returns an error of class ErrAlreadyExists.
func AlreadyExists(format string, args ...any) error { return wrap(ErrAlreadyExists, format, args...) }

// Conflict returns an error of class ErrConflict.
func Conflict(format string, args ...any) error { return wrap(ErrConflict, format, args...) }

// Invalid returns an error of class ErrInvalid.
func Invalid(format string, args ...any) error { return wrap(ErrInvalid, format, args...) }

// Denied returns an error of class ErrDenied.
func Denied(format string, args ...any) error { return wrap(ErrDenied, format, args...) }

// Unavailable returns an error of class ErrUnavailable.
func Unavailable(format string, args ...any) error { return wrap(ErrUnavailable, format, args...) }

// TooLarge returns an error of class ErrTooLarge.
func TooLarge(format string, args ...any) error { return wrap(ErrTooLarge, format, args...) }

// Unsupported returns an error of class ErrUnsupported.
func Unsupported(format string, args ...any) error { return wrap(ErrUnsupported, format, args...) }

// Unauthenticated returns an error of class ErrUnauthenticated.
func Unauthenticated(format string, args ...any) error {
	return wrap(ErrUnauthenticated, format, args...)
}

// TooManyRequests returns an error of class ErrTooManyRequests.
func TooManyRequests(format string, args ...any) error {
	return wrap(ErrTooManyRequests, format, args...)
}

// Wrap returns an error of class class that keeps cause for errors.Is and
// errors.As, with a formatted message followed by the cause's.
func Wrap(class, cause error, format string, args ...any) error {
	return &causeError{classError: classError{class: class, msg: fmt.Sprintf(format, args...) + ": " + cause.Error()}, cause: cause}
}

type causeError struct {
	classError
	cause error
}

func (e *causeError) Unwrap() []error { return []error{e.class, e.cause} }

// IsNotFound reports whether err is of class ErrNotFound.
func IsNotFound(err error) bool { return errors.Is(err, ErrNotFound) }

// IsAlreadyExists reports whether err is of class ErrAlreadyExists.
func IsAlreadyExists(err error) bool { return errors.Is(err, ErrAlreadyExists) }

// IsConflict reports whether err is of class ErrConflict.
func IsConflict(err error) bool { return errors.Is(err, ErrConflict) }

// IsInvalid reports whether err is of class ErrInvalid.
func IsInvalid(err error) bool { return errors.Is(err, ErrInvalid) }

// IsDenied reports whether err is of class ErrDenied.
func IsDenied(err error) bool { return errors.Is(err, ErrDenied) }

// IsUnavailable reports whether err is of class ErrUnavailable.
func IsUnavailable(err error) bool { return errors.Is(err, ErrUnavailable) }

// classError carries a class and a message; Error prints only the message
// so users do not read "not found: ... : not found".
type classError struct {
	class error
	msg   string
}

func (e *classError) Error() string { return e.msg }
func (e *classError) Unwrap() error { return e.class }

func wrap(class error, format string, args ...any) error {
	return &classError{class: class, msg: fmt.Sprintf(format, args...)}
}

// Wrapf prefixes *errp with a formatted context message, keeping its class.
// Use it deferred at the top of a function so every error it returns says
// what failed:
//
//	defer errdefs.Wrapf(&err, "put manifest %s", dgst)
func Wrapf(errp *error, format string, args ...any) {
	if *errp != nil {
		*errp = fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), *errp)
	}
}
