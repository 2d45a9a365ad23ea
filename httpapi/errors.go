package httpapi

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/hashike/hashike"
)

// Codes of errors that only HTTP has; the others are hashike.ErrorCode values.
const (
	codeUnauthorized     = "unauthorized"
	codeForbidden        = "forbidden"
	codeMethodNotAllowed = "method_not_allowed"
)

// AuthError is a request refused for its credentials. The Client returns it for a 401 or 403
// so that the CLI can tell "log in" apart from the request's own errors.
type AuthError struct {
	// Status is 401 (no token, a malformed header, or a token the server does not know or
	// has revoked) or 403 (the token's scope does not allow the request).
	Status  int
	Message string
}

func (e *AuthError) Error() string {
	if e.Status == http.StatusForbidden {
		return "forbidden: " + e.Message
	}
	return "unauthorized: " + e.Message
}

// Forbidden reports whether the token was known but its scope too small.
func (e *AuthError) Forbidden() bool { return e.Status == http.StatusForbidden }

// StatusOf is the HTTP status of an error of a Service: the one mapping from an error to an
// HTTP status, which the console shares.
func StatusOf(err error) int { return statusOf(err) }

func statusOf(err error) int {
	var ae *AuthError
	if errors.As(err, &ae) {
		return ae.Status
	}
	switch hashike.ErrorCodeOf(err) {
	case hashike.ENotFound:
		return http.StatusNotFound
	case hashike.EConflict:
		return http.StatusConflict
	case hashike.EInvalid:
		return http.StatusBadRequest
	case hashike.ETooLarge:
		return http.StatusRequestEntityTooLarge
	case hashike.EUnavailable:
		return http.StatusServiceUnavailable
	case hashike.EInternal:
		return http.StatusInternalServerError
	default:
		return http.StatusInternalServerError
	}
}

// codeOfStatus guesses an error's code from a status alone, for an error body that is not
// the API's (a proxy's 502 page). It inverts statusOf rather than keeping a second table.
func codeOfStatus(status int) hashike.ErrorCode {
	for _, c := range []hashike.ErrorCode{hashike.ENotFound, hashike.EConflict, hashike.EInvalid,
		hashike.ETooLarge, hashike.EUnavailable} {
		if statusOf(&hashike.Error{Code: c}) == status {
			return c
		}
	}
	if status == http.StatusBadGateway || status == http.StatusGatewayTimeout {
		return hashike.EUnavailable
	}
	return hashike.EInternal
}

// errorBody is the body of every error response, and the last line of a log stream that
// failed midway.
type errorBody struct {
	Error wireError `json:"error"`
}

type wireError struct {
	Code    string               `json:"code"`
	Message string               `json:"message"`
	Fields  []hashike.FieldError `json:"fields,omitempty"`
}

// toWire describes err for a client. An internal error's text stays in the server's log: it
// may name files, hosts or SQL that are none of the client's business.
func toWire(err error) wireError {
	var ae *AuthError
	if errors.As(err, &ae) {
		code := codeUnauthorized
		if ae.Forbidden() {
			code = codeForbidden
		}
		return wireError{Code: code, Message: ae.Message}
	}
	var e *hashike.Error
	if !errors.As(err, &e) || e.Code == hashike.EInternal || e.Code == "" {
		return wireError{Code: string(hashike.EInternal), Message: "internal server error"}
	}
	if e.Code == hashike.EUnavailable {
		return wireError{Code: string(e.Code), Message: unavailableMessage(e)}
	}
	msg := e.Message
	if e.Err != nil {
		if msg != "" {
			msg += ": "
		}
		msg += e.Err.Error()
	}
	return wireError{Code: string(e.Code), Message: msg, Fields: e.Fields}
}

// unavailableMessage says which dependency is unavailable, never how to reach it: the cause
// of a database error names the database's user, name, host and port (pgconn's connect
// errors), that of an engine's its socket, and the client may hold no valid token yet. The
// stores' errors name their store first ("postgres: list runs", "sqlite: ..."); the
// backends' messages name the platform and nothing of its address.
func unavailableMessage(e *hashike.Error) string {
	if strings.HasPrefix(e.Message, "postgres:") || strings.HasPrefix(e.Message, "sqlite:") {
		return "database unavailable"
	}
	if e.Message == "" {
		return "a dependency is unavailable"
	}
	return e.Message
}

// fromWire turns an error body back into the error it describes.
func fromWire(status int, w wireError) error {
	switch {
	case status == http.StatusUnauthorized || w.Code == codeUnauthorized:
		return &AuthError{Status: http.StatusUnauthorized, Message: w.Message}
	case status == http.StatusForbidden || w.Code == codeForbidden:
		return &AuthError{Status: http.StatusForbidden, Message: w.Message}
	}
	code := hashike.ErrorCode(w.Code)
	switch code {
	case hashike.ENotFound, hashike.EConflict, hashike.EInvalid, hashike.ETooLarge,
		hashike.EUnavailable, hashike.EInternal:
	default:
		// A code this client does not know (a newer server, "method_not_allowed"): keep the
		// message, classify by status.
		code = codeOfStatus(status)
		if w.Code != "" {
			w.Message = fmt.Sprintf("%s (%s)", w.Message, w.Code)
		}
	}
	return &hashike.Error{Code: code, Message: w.Message, Fields: w.Fields}
}

// invalid is an EInvalid error about one field of a request; what says which part of the
// request ("request body", "query", "header").
func invalid(what, path, format string, args ...any) error {
	return &hashike.Error{Code: hashike.EInvalid, Message: "invalid " + what,
		Fields: []hashike.FieldError{{Path: path, Message: fmt.Sprintf(format, args...), Severity: hashike.SeverityError}}}
}
