// Package violations breaks each rule of the lint gate; `make lint` checks that the gate
// rejects it (a gate that accepts this file enforces nothing). It is never built: testdata is
// outside ./... .
package violations

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/internal/awsfake" // depguard: a test kit in production code
)

// Start returns a clock from the test kit.
func Start() *awsfake.ManualClock { return awsfake.NewManualClock(time.Unix(0, 0)) }

// Canceled compares an error with == (errorlint): a wrapped context.Canceled does not match.
func Canceled(err error) bool { return err == context.Canceled }

// Timeout type-asserts an error (errorlint): a wrapped *hashike.Error does not match.
func Timeout(err error) bool {
	_, ok := err.(*hashike.Error)
	return ok || errors.Is(err, context.DeadlineExceeded)
}

// Done misses states of the enum (exhaustive): a new state would fall through silently.
func Done(s hashike.RunState) bool {
	switch s {
	case hashike.StateSucceeded, hashike.StateFailed:
		return true
	default:
		return false
	}
}

// Wrap formats an error with %v (errorlint): the caller's errors.Is no longer sees it.
func Wrap(err error) error { return fmt.Errorf("wrap: %v", err) }

// Label replaces nothing (staticcheck SA1018) and formats a string with %d (govet printf).
func Label(s string) string {
	s = strings.Replace(s, "-", "_", 0)
	return fmt.Sprintf("job %d", s)
}
