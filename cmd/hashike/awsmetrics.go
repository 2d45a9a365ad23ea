package main

import (
	"context"
	"errors"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
)

// awsAttempts is an SDK middleware that tells observe of every attempt of every call (it sits
// in the finalize step after the retryer, so each retry is an attempt): the service, the
// operation, the error's AWS code ("" when it succeeded, "network" when no AWS answer came)
// and whether AWS throttled it.
func awsAttempts(observe func(service, operation, code string, throttled bool)) func(*middleware.Stack) error {
	throttles := retry.IsErrorThrottles(retry.DefaultThrottles)
	return func(st *middleware.Stack) error {
		return st.Finalize.Add(middleware.FinalizeMiddlewareFunc("hashikeMetrics",
			func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
				out, md, err := next.HandleFinalize(ctx, in)
				code := ""
				if err != nil {
					var ae smithy.APIError
					switch {
					case errors.As(err, &ae):
						code = ae.ErrorCode()
					case errors.Is(err, context.Canceled):
						code = "canceled"
					default:
						code = "network"
					}
				}
				observe(awsmiddleware.GetServiceID(ctx), awsmiddleware.GetOperationName(ctx), code,
					err != nil && throttles.IsErrorThrottle(err) == aws.TrueTernary)
				return out, md, err
			}), middleware.After)
	}
}
