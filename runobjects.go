package hashike

import (
	"context"
	"time"
)

// Names of a run's objects (RunObject.Name).
const (
	// RunObjectPayload is an enqueue's payload that was too large to pass inline, stored once
	// per enqueue under the first try's ID (every retry reads the same object).
	RunObjectPayload = "payload"
	// RunObjectResult is what the run's container wrote as its result.
	RunObjectResult = "result"
	// RunObjectScript is an enqueue's script (--script) too large to pass in the command,
	// stored once per enqueue under the first try's ID.
	RunObjectScript = "script"
)

// RunObject is an object of the ObjectStore that belongs to a run: its payload passed by
// reference, or its result. The database keeps this record; the bytes are in the ObjectStore
// under Key.
type RunObject struct {
	RunID string `json:"runId"`
	// Name is RunObjectPayload, RunObjectScript or RunObjectResult.
	Name string `json:"name"`
	// Key is the object's key in the ObjectStore; "" when Error is set.
	Key         string `json:"key,omitempty"`
	Size        int64  `json:"size"`
	ContentType string `json:"contentType,omitempty"`
	// Error says why the object was not kept (a result over the size limit).
	Error     string    `json:"error,omitempty"`
	CreatedAt time.Time `json:"createdAt"`
}

// RunObjects is the ServerStore's record of which objects belong to which run.
type RunObjects interface {
	// PutRunObject records o, replacing the run's object of the same name (a result written
	// again by a supervisor that took the run over). EInvalid for an empty RunID or Name.
	PutRunObject(ctx context.Context, o RunObject) error
	// GetRunObject returns the run's object of that name; ENotFound when none is recorded.
	GetRunObject(ctx context.Context, runID, name string) (RunObject, error)
}

// ValidateRunObject reports what a store refuses to record.
func ValidateRunObject(o RunObject) error {
	var fields []FieldError
	if o.RunID == "" {
		fields = append(fields, FieldError{Path: "runId", Message: "required"})
	}
	if o.Name == "" {
		fields = append(fields, FieldError{Path: "name", Message: "required"})
	}
	if o.Key == "" && o.Error == "" {
		fields = append(fields, FieldError{Path: "key", Message: "required unless error is set"})
	}
	if o.Size < 0 {
		fields = append(fields, FieldError{Path: "size", Message: "must not be negative"})
	}
	if len(fields) > 0 {
		return &Error{Code: EInvalid, Message: "invalid run object", Fields: fields}
	}
	return nil
}
