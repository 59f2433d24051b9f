// Package apierror is the one error shape every service's HTTP API answers
// with, and the mapping from domain errors to status codes. A service's
// domain returns *Error values (or wraps them); transports write them.
//
//	{"error":"validation","message":"…","fields":{"petitioners[0].idNumber":"…"}}
package apierror

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"strings"

	"xinfang.io/services/kit/auth"
)

// Kind classifies an error for the caller.
type Kind string

const (
	Validation        Kind = "validation"         // 400: the request is wrong; Fields says where
	BadRequest        Kind = "bad_request"        // 400: malformed body (not JSON, not UTF-8, too large)
	Unauthenticated   Kind = "unauthenticated"    // 401
	Forbidden         Kind = "forbidden"          // 403
	NotFound          Kind = "not_found"          // 404
	Conflict          Kind = "conflict"           // 409: duplicate, stale version
	IllegalTransition Kind = "illegal_transition" // 409: the case's state does not allow the action
	TooLarge          Kind = "too_large"          // 413
	RateLimited       Kind = "rate_limited"       // 429
	Unavailable       Kind = "unavailable"        // 503
	Internal          Kind = "internal"           // 500: never carries the cause to the caller
)

var status = map[Kind]int{
	Validation: 400, BadRequest: 400, Unauthenticated: 401, Forbidden: 403, NotFound: 404,
	Conflict: 409, IllegalTransition: 409, TooLarge: 413, RateLimited: 429, Unavailable: 503, Internal: 500,
}

// Error is a domain error a caller can act on.
type Error struct {
	Kind    Kind              `json:"error"`
	Message string            `json:"message"`
	Fields  map[string]string `json:"fields,omitempty"`
	// Details carries structured extras (e.g. the allowed actions of an
	// illegal transition).
	Details map[string]any `json:"details,omitempty"`
}

func (e *Error) Error() string {
	if len(e.Fields) == 0 {
		return string(e.Kind) + ": " + e.Message
	}
	keys := make([]string, 0, len(e.Fields))
	for k := range e.Fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + ": " + e.Fields[k]
	}
	return fmt.Sprintf("%s: %s (%s)", e.Kind, e.Message, strings.Join(parts, "; "))
}

// Status is the HTTP status of the error's kind.
func (e *Error) Status() int {
	if s, ok := status[e.Kind]; ok {
		return s
	}
	return 500
}

// New returns an error of kind with a formatted message.
func New(kind Kind, format string, args ...any) *Error {
	return &Error{Kind: kind, Message: fmt.Sprintf(format, args...)}
}

// Fields is a validation error with one message per field path; empty
// when no field failed, so callers can collect and then check Err.
type Fields map[string]string

// Add records a problem at path (the first one per path wins).
func (f Fields) Add(path, format string, args ...any) {
	if _, ok := f[path]; !ok {
		f[path] = fmt.Sprintf(format, args...)
	}
}

// Err returns the validation error, or nil when no field failed.
func (f Fields) Err() error {
	if len(f) == 0 {
		return nil
	}
	return &Error{Kind: Validation, Message: "the request has invalid fields", Fields: f}
}

// From classifies any error: an *Error as itself, auth errors as 401/403,
// anything else as an internal error whose cause stays in the logs.
func From(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	switch {
	case errors.Is(err, auth.ErrForbidden):
		return &Error{Kind: Forbidden, Message: err.Error()}
	case errors.Is(err, auth.ErrUnauthenticated):
		return &Error{Kind: Unauthenticated, Message: err.Error()}
	}
	return &Error{Kind: Internal, Message: "internal error"}
}

// Write answers err as JSON; internal errors are logged with their cause.
func Write(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	e := From(err)
	if e.Kind == Internal && log != nil {
		log.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path, "error", err)
	}
	if e.Kind == Unauthenticated {
		w.Header().Set("WWW-Authenticate", `Bearer realm="xinfang"`)
	}
	WriteJSON(w, e.Status(), e)
}

// WriteJSON writes v with status code.
func WriteJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}
