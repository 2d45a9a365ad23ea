package hashike

import (
	"errors"
	"fmt"
	"strings"
)

// ErrorCode classifies an error for callers that map it to an HTTP status or a CLI exit code.
// The mapping lives in exactly one place per surface (cmd/hashike for exit codes).
type ErrorCode string

const (
	// ENotFound: the named run, job or task does not exist.
	ENotFound ErrorCode = "not_found"
	// EConflict: the request contradicts the current state (illegal transition, idempotency
	// key reused with another definition, ambiguous id prefix).
	EConflict ErrorCode = "conflict"
	// EInvalid: the input is malformed or contradictory; nothing was started or recorded.
	EInvalid ErrorCode = "invalid"
	// EUnavailable: a dependency (Docker daemon, database) cannot be reached.
	EUnavailable ErrorCode = "unavailable"
	// ETooLarge: the input exceeds a size limit (an enqueue's payload); nothing was recorded.
	ETooLarge ErrorCode = "too_large"
	// EInternal: everything else.
	EInternal ErrorCode = "internal"
)

// Error is a domain error with a code. Fields lists every offending field of an invalid input.
type Error struct {
	Code    ErrorCode
	Message string
	Fields  []FieldError
	Err     error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Message)
	if e.Err != nil {
		if e.Message != "" {
			b.WriteString(": ")
		}
		b.WriteString(e.Err.Error())
	}
	for _, f := range e.Fields {
		b.WriteString("\n  ")
		b.WriteString(f.String())
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with the given code.
func Errorf(code ErrorCode, format string, args ...any) error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCodeOf returns the code of the first *Error in err's chain, EInternal otherwise.
func ErrorCodeOf(err error) ErrorCode {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EInternal
}

// Severity says whether a FieldError stops the job (SeverityError) or is only reported.
type Severity string

const (
	SeverityError   Severity = "error"
	SeverityWarning Severity = "warning"
)

// FieldError is one problem with one field of a job definition or request body. Path uses the
// definition's own field names: "taskDefinition.containerDefinitions[0].cpu". Pos, when the
// input came from a file, says where: "job.yaml:12:9".
type FieldError struct {
	Path     string   `json:"path"`
	Message  string   `json:"message"`
	Severity Severity `json:"severity"`
	Pos      string   `json:"pos,omitempty"`
}

func (f FieldError) String() string {
	var b strings.Builder
	if f.Pos != "" {
		b.WriteString(f.Pos)
		b.WriteString(": ")
	}
	if f.Severity == SeverityWarning {
		b.WriteString("warning: ")
	}
	if f.Path != "" {
		b.WriteString(f.Path)
		b.WriteString(": ")
	}
	b.WriteString(f.Message)
	return b.String()
}

// Errors returns only the problems of SeverityError (an empty Severity counts as an error).
func Errors(fs []FieldError) []FieldError {
	var out []FieldError
	for _, f := range fs {
		if f.Severity != SeverityWarning {
			out = append(out, f)
		}
	}
	return out
}

// StartError says the backend could not start the task at all: the image is missing, the
// platform refused a container. Nothing of the task is running. The run ends start_failed.
type StartError struct {
	Reason string
}

func (e *StartError) Error() string { return "task failed to start: " + e.Reason }
