// Package errcode holds the OCI Distribution error codes as registered data
// and writes the JSON error envelope the spec defines:
//
//	{"errors":[{"code":"BLOB_UNKNOWN","message":"...","detail":...}]}
//
// Handlers return errors; one writer (Write) turns any error into a status and
// an envelope. Domain error classes (package errdefs) map to a default code
// here, so services never speak HTTP.
package errcode

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	"github.com/berth-registry/berth/internal/errdefs"
)

// Code is a registered error code.
type Code struct {
	// Name is the identifier sent to clients, e.g. "BLOB_UNKNOWN".
	Name string
	// Message is the default message when an error carries none.
	Message string
	// Status is the HTTP status the code is sent with by default.
	Status int
}

// The codes of the OCI Distribution Spec v1.1, with their default statuses.
var (
	BlobUnknown         = register("BLOB_UNKNOWN", "blob unknown to registry", http.StatusNotFound)
	BlobUploadInvalid   = register("BLOB_UPLOAD_INVALID", "blob upload invalid", http.StatusBadRequest)
	BlobUploadUnknown   = register("BLOB_UPLOAD_UNKNOWN", "blob upload unknown to registry", http.StatusNotFound)
	DigestInvalid       = register("DIGEST_INVALID", "provided digest did not match uploaded content", http.StatusBadRequest)
	ManifestBlobUnknown = register("MANIFEST_BLOB_UNKNOWN", "manifest references a manifest or blob unknown to registry", http.StatusBadRequest)
	ManifestInvalid     = register("MANIFEST_INVALID", "manifest invalid", http.StatusBadRequest)
	ManifestUnknown     = register("MANIFEST_UNKNOWN", "manifest unknown to registry", http.StatusNotFound)
	NameInvalid         = register("NAME_INVALID", "invalid repository name", http.StatusBadRequest)
	NameUnknown         = register("NAME_UNKNOWN", "repository name not known to registry", http.StatusNotFound)
	SizeInvalid         = register("SIZE_INVALID", "provided length did not match content length", http.StatusBadRequest)
	Unauthorized        = register("UNAUTHORIZED", "authentication required", http.StatusUnauthorized)
	Denied              = register("DENIED", "requested access to the resource is denied", http.StatusForbidden)
	Unsupported         = register("UNSUPPORTED", "the operation is unsupported", http.StatusMethodNotAllowed)
	TooManyRequests     = register("TOOMANYREQUESTS", "too many requests", http.StatusTooManyRequests)
	// PaginationNumberInvalid is sent for a bad n in a listing.
	PaginationNumberInvalid = register("PAGINATION_NUMBER_INVALID", "invalid number of results requested", http.StatusBadRequest)
	// RangeInvalid is not in the spec's table but is what clients see for a
	// chunk that does not continue the upload (416).
	RangeInvalid = register("BLOB_UPLOAD_INVALID", "requested range not satisfiable", http.StatusRequestedRangeNotSatisfiable)
	// Unavailable is Berth's code for a backend that cannot serve now.
	Unavailable = register("UNAVAILABLE", "service unavailable, retry later", http.StatusServiceUnavailable)
	// TooLarge is Berth's code for a body over a configured limit.
	TooLarge = register("SIZE_INVALID", "request body too large", http.StatusRequestEntityTooLarge)
	// Internal is an unexpected failure; details go to the log, not the client.
	Internal = register("UNKNOWN", "internal server error", http.StatusInternalServerError)
)

var registered []*Code

func register(name, msg string, status int) *Code {
	c := &Code{Name: name, Message: msg, Status: status}
	registered = append(registered, c)
	return c
}

// Registered returns every code, for documentation.
func Registered() []Code {
	out := make([]Code, len(registered))
	for i, c := range registered {
		out[i] = *c
	}
	return out
}

// Error is an error that carries a code, a message and optional detail.
type Error struct {
	Code    *Code
	Message string
	Detail  any
	// Status overrides Code.Status when non-zero.
	Status int
	// Err is the underlying error, kept for logs and errors.Is.
	Err error
}

// Error returns the message.
func (e *Error) Error() string {
	if e.Message != "" {
		return e.Message
	}
	return e.Code.Message
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// New returns an Error with code c wrapping err; the client sees err's
// message.
func New(c *Code, err error) *Error {
	e := &Error{Code: c, Err: err}
	if err != nil {
		e.Message = err.Error()
	}
	return e
}

// Newf returns an Error with code c and a message.
func Newf(c *Code, msg string) *Error { return &Error{Code: c, Message: msg} }

// WithDetail sets the detail and returns e.
func (e *Error) WithDetail(d any) *Error { e.Detail = d; return e }

// WithStatus overrides the HTTP status and returns e.
func (e *Error) WithStatus(s int) *Error { e.Status = s; return e }

// From returns err as an *Error: itself if it already is one, otherwise a
// code chosen from its errdefs class, falling back to Internal.
func From(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	switch {
	case errors.Is(err, errdefs.ErrNotFound):
		return New(NameUnknown, err)
	case errors.Is(err, errdefs.ErrInvalid):
		return New(ManifestInvalid, err)
	case errors.Is(err, errdefs.ErrDenied):
		return New(Denied, err)
	case errors.Is(err, errdefs.ErrConflict), errors.Is(err, errdefs.ErrAlreadyExists):
		return New(Denied, err).WithStatus(http.StatusConflict)
	case errors.Is(err, errdefs.ErrTooLarge):
		return New(TooLarge, err)
	case errors.Is(err, errdefs.ErrUnsupported):
		return New(Unsupported, err)
	case errors.Is(err, errdefs.ErrUnavailable):
		return New(Unavailable, err)
	case errors.Is(err, errdefs.ErrUnauthenticated):
		return New(Unauthorized, err)
	case errors.Is(err, errdefs.ErrTooManyRequests):
		return New(TooManyRequests, err)
	}
	return &Error{Code: Internal, Err: err}
}

// StatusOf returns the HTTP status e is sent with.
func (e *Error) StatusOf() int {
	if e.Status != 0 {
		return e.Status
	}
	return e.Code.Status
}

type envelope struct {
	Errors []entry `json:"errors"`
}

type entry struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Detail  any    `json:"detail,omitempty"`
}

// Write sends err as the spec's JSON envelope and returns the status used.
// Internal errors are sent with a generic message; the caller logs them.
// A HEAD request gets the status and headers only.
func Write(w http.ResponseWriter, r *http.Request, err error) int {
	e := From(err)
	status := e.StatusOf()
	msg := e.Error()
	if e.Code == Internal || e.Code == Unavailable {
		// The details (paths, database errors) are for the log, which the
		// caller writes; the client learns what to do.
		msg = e.Code.Message
	}
	body, _ := json.Marshal(envelope{Errors: []entry{{Code: e.Code.Name, Message: msg, Detail: e.Detail}}})
	h := w.Header()
	h.Del("Docker-Content-Digest")
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	if r == nil || r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
	return status
}
