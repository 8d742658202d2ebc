package admin

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/berth-registry/berth/internal/api"
	"github.com/berth-registry/berth/internal/api/admin/wire"
	"github.com/berth-registry/berth/internal/errdefs"
)

// errorClass maps an errdefs class to the status and code the API sends.
type errorClass struct {
	class  error
	status int
	code   string
}

// classes is checked in order: the first class err belongs to wins.
var classes = []errorClass{
	{errdefs.ErrTooManyRequests, http.StatusTooManyRequests, "TOO_MANY_REQUESTS"},
	{errdefs.ErrUnauthenticated, http.StatusUnauthorized, "UNAUTHORIZED"},
	{errdefs.ErrDenied, http.StatusForbidden, "DENIED"},
	{errdefs.ErrNotFound, http.StatusNotFound, "NOT_FOUND"},
	{errdefs.ErrAlreadyExists, http.StatusConflict, "ALREADY_EXISTS"},
	{errdefs.ErrConflict, http.StatusConflict, "CONFLICT"},
	{errdefs.ErrInvalid, http.StatusBadRequest, "INVALID"},
	{errdefs.ErrTooLarge, http.StatusRequestEntityTooLarge, "TOO_LARGE"},
	{errdefs.ErrUnsupported, http.StatusBadRequest, "UNSUPPORTED"},
	{errdefs.ErrUnavailable, http.StatusServiceUnavailable, "UNAVAILABLE"},
}

// writeError sends err with the status of its class. Errors of no class
// (and unavailability) are logged to the request's logger and sent with a
// generic message, so database errors and paths stay in the log.
func (h *Handler) writeError(w http.ResponseWriter, r *http.Request, err error) {
	status, code, msg := http.StatusInternalServerError, "INTERNAL", "internal server error"
	for _, c := range classes {
		if errors.Is(err, c.class) {
			status, code, msg = c.status, c.code, err.Error()
			break
		}
	}
	switch status {
	case http.StatusInternalServerError, http.StatusServiceUnavailable:
		api.Logger(r.Context()).ErrorContext(r.Context(), "admin API request failed",
			"method", r.Method, "path", r.URL.Path, "error", err)
		if status == http.StatusServiceUnavailable {
			msg = "service unavailable, retry later"
		}
	case http.StatusUnauthorized:
		w.Header().Set("WWW-Authenticate", `Basic realm="berth"`)
	case http.StatusTooManyRequests:
		// The limiter does not say when its window ends; a minute is what
		// /v2 tells clients too.
		w.Header().Set("Retry-After", "60")
	}
	h.writeStatus(w, r, status, code, msg)
}

// writeStatus sends one error entry with status.
func (h *Handler) writeStatus(w http.ResponseWriter, r *http.Request, status int, code, msg string) {
	body, _ := json.Marshal(wire.Errors{Errors: []wire.Error{{Code: code, Message: msg}}})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}

// writeJSON sends v as JSON with status.
func writeJSON(w http.ResponseWriter, status int, v any) error {
	body, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode response: %w", err)
	}
	body = append(body, '\n')
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
	return nil
}

// decode reads r's JSON body into v: one object, no unknown fields, at most
// maxBody bytes (the limit is set by wrap).
func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return errdefs.TooLarge("request body is larger than %d bytes", tooBig.Limit)
		}
		return errdefs.Invalid("request body is not the JSON object this route takes: %v", err)
	}
	if dec.More() {
		return errdefs.Invalid("request body holds more than one JSON value")
	}
	return nil
}

// pageLimit parses the limit= query parameter: def when absent, at most
// max.
func pageLimit(r *http.Request, def, most int) (int, error) {
	s := r.URL.Query().Get("limit")
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > most {
		return 0, errdefs.Invalid("limit=%q: want a number from 1 to %d", s, most)
	}
	return n, nil
}
