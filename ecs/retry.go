package ecs

import (
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
)

// RetryMaxAttempts is how many times the SDK clients of NewRetryer try a call.
const RetryMaxAttempts = 5

// NewRetryer is the retryer for the SDK clients given to the backend (cmd/hashike sets it on
// its aws.Config): the SDK's adaptive mode, which retries throttling, server errors and
// network errors with capped exponential backoff and jitter, and, once AWS throttles, also
// rate-limits the client's own attempts. A call's retries happen there only: the backend
// stacks no loop of its own on them. What it does retry are waits with a bound the user
// set: RunTask until capacityTimeout, and the pollers until their context ends.
// AWS_MAX_ATTEMPTS (aws.Config.RetryMaxAttempts) still overrides the attempts.
func NewRetryer() aws.Retryer {
	return retry.NewAdaptiveMode(func(o *retry.AdaptiveModeOptions) {
		o.StandardOptions = append(o.StandardOptions, func(so *retry.StandardOptions) {
			so.MaxAttempts = RetryMaxAttempts
			so.MaxBackoff = 15 * time.Second
		})
	})
}
