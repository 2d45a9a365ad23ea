package ecs

import (
	"context"
	"errors"
	"strings"

	"github.com/aws/smithy-go"

	"github.com/hashike/hashike"
)

func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func apiMessage(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorMessage()
	}
	return err.Error()
}

// throttled reports whether err is AWS rate limiting.
func throttled(err error) bool {
	switch apiCode(err) {
	case "ThrottlingException", "Throttling", "ThrottledException", "RequestLimitExceeded",
		"TooManyRequestsException", "RequestThrottled", "RequestThrottledException", "SlowDown":
		return true
	}
	return false
}

// retryable reports whether the same call may succeed later: throttling, server errors, and
// errors without an AWS code (network, timeouts) except the caller's own cancellation.
func retryable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	if throttled(err) {
		return true
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorFault() == smithy.FaultServer || ae.ErrorCode() == "ServerException" || ae.ErrorCode() == "ServiceUnavailableException"
	}
	return true
}

// noInstances is RunTask's answer for a cluster without any container instance (an Auto
// Scaling group scaled to zero): a lack of capacity, not an invalid request.
func noInstances(err error) bool {
	return strings.Contains(apiMessage(err), "No Container Instances were found")
}

// tooManyConcurrent is RegisterTaskDefinition's answer to concurrent registrations of a family.
func tooManyConcurrent(err error) bool {
	return apiCode(err) == "ClientException" && strings.Contains(apiMessage(err), "Too many concurrent attempts")
}

// taskNotFound is StopTask's or TagResource's answer for a task ECS does not know (any more).
func taskNotFound(err error) bool {
	switch apiCode(err) {
	case "ResourceNotFoundException":
		return true
	case "InvalidParameterException", "ClientException":
		m := strings.ToLower(apiMessage(err))
		return strings.Contains(m, "not found") || strings.Contains(m, "does not exist")
	}
	return false
}

// classify wraps err with the operation and the domain code callers branch on: the request
// is refused (EInvalid: access denied, invalid parameters, unknown cluster) or the platform
// cannot be reached or keeps throttling (EUnavailable).
func classify(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return &hashike.Error{Code: hashike.EUnavailable, Message: op, Err: err}
	}
	var he *hashike.Error
	if errors.As(err, &he) {
		return &hashike.Error{Code: he.Code, Message: op, Err: err}
	}
	switch code := apiCode(err); {
	case retryable(err):
		return &hashike.Error{Code: hashike.EUnavailable, Message: op, Err: err}
	case code != "":
		return &hashike.Error{Code: hashike.EInvalid, Message: op, Err: err}
	}
	return &hashike.Error{Code: hashike.EInternal, Message: op, Err: err}
}
