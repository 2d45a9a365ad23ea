package ecs

import (
	"context"
	"errors"
	"strings"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
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
	if serverError(err) {
		return true
	}
	var ae smithy.APIError
	return !errors.As(err, &ae)
}

// serverError reports whether err is the service failing: a server fault, ServerException, or
// any HTTP 5xx answer (an endpoint that answers 500 without an error type).
func serverError(err error) bool {
	var ae smithy.APIError
	if errors.As(err, &ae) && (ae.ErrorFault() == smithy.FaultServer || ae.ErrorCode() == "ServerException" || ae.ErrorCode() == "ServiceUnavailableException") {
		return true
	}
	var re *awshttp.ResponseError
	return errors.As(err, &re) && re.HTTPStatusCode() >= 500
}

// outageKind names what a retryable error says about ECS, for the user.
func outageKind(err error) string {
	switch {
	case throttled(err):
		return "throttling"
	case serverError(err):
		return "server error"
	}
	return "unreachable"
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
