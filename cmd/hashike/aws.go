package main

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	awsecs "github.com/aws/aws-sdk-go-v2/service/ecs"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/ecs"
)

// ecsBackend builds the ECS backend from the SDK's standard configuration chain: environment,
// shared config and credentials files (profiles, SSO), and instance or task roles. The SDK
// also honours AWS_REGION, AWS_PROFILE and the endpoint variables AWS_ENDPOINT_URL and
// AWS_ENDPOINT_URL_ECS / _AUTO_SCALING / _CLOUDWATCH_LOGS, so the backend can be pointed at any
// ECS-compatible endpoint.
func (a *app) ecsBackend(ctx context.Context) (hashike.Backend, error) {
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, &hashike.Error{Code: hashike.EInvalid, Message: "AWS configuration", Err: err}
	}
	if cfg.Region == "" {
		return nil, hashike.Errorf(hashike.EInvalid, "AWS configuration: no region (set AWS_REGION or a profile's region)")
	}
	return ecs.New(ecs.Config{
		ECS:         awsecs.NewFromConfig(cfg),
		AutoScaling: autoscaling.NewFromConfig(cfg),
		Logs:        cloudwatchlogs.NewFromConfig(cfg),
		Clock:       a.clock,
	}), nil
}
