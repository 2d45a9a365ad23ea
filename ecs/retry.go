package ecs

import (
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
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

// observing is a call option that has the call's retryer pass each failed attempt's error to
// note: a call that a deadline cuts short while the SDK waits to retry it returns only the
// cancellation, and the backend still wants to say what ECS answered.
func observing(note func(error)) func(*ecs.Options) {
	return func(o *ecs.Options) {
		switch r := o.Retryer.(type) {
		case nil:
		case aws.RetryerV2: // keeps GetAttemptToken, which adaptive mode's rate limiting needs
			o.Retryer = observedV2{r, note}
		default:
			o.Retryer = observed{r, note}
		}
	}
}

type observed struct {
	aws.Retryer
	note func(error)
}

func (r observed) IsErrorRetryable(err error) bool {
	r.note(err)
	return r.Retryer.IsErrorRetryable(err)
}

type observedV2 struct {
	aws.RetryerV2
	note func(error)
}

func (r observedV2) IsErrorRetryable(err error) bool {
	r.note(err)
	return r.RetryerV2.IsErrorRetryable(err)
}
