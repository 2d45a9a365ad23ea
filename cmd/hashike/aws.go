package main

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	awsecs "github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/ecs"
)

// awsConfig loads the SDK's standard configuration chain: environment, shared config and
// credentials files (profiles, SSO), and instance or task roles. The SDK also honours
// AWS_REGION, AWS_PROFILE and the endpoint variables AWS_ENDPOINT_URL and
// AWS_ENDPOINT_URL_ECS / _AUTO_SCALING / _CLOUDWATCH_LOGS / _SQS / ..., so hashike can be
// pointed at any ECS-compatible endpoint.
// In a server, every attempt of every call is counted (awsAttempts, a.awsObserve).
func (a *app) awsConfig(ctx context.Context) (aws.Config, error) {
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return cfg, &hashike.Error{Code: hashike.EInvalid, Message: "AWS configuration", Err: err}
	}
	if cfg.Region == "" {
		return cfg, hashike.Errorf(hashike.EInvalid, "AWS configuration: no region (set AWS_REGION or a profile's region)")
	}
	if a.awsObserve != nil {
		cfg.APIOptions = append(cfg.APIOptions, awsAttempts(a.awsObserve))
	}
	return cfg, nil
}

// ecsBackend builds the ECS backend. Its default events queue (for runs reattached without
// their job's eventsQueueUrl) is --events-queue, else HASHIKE_EVENTS_QUEUE.
func (a *app) ecsBackend(ctx context.Context) (hashike.Backend, error) {
	c, err := a.ecsBackendConfig(ctx)
	if err != nil {
		return nil, err
	}
	return ecs.New(c), nil
}

// ecsBackendConfig is the ECS backend's configuration. The groups it must not scale out
// (ManagedGroups) are the config file's autoscaler's: the server's --config, else, for
// `hashike run` next to a standalone `hashike autoscaler`, the file HASHIKE_CONFIG names.
func (a *app) ecsBackendConfig(ctx context.Context) (ecs.Config, error) {
	managed := a.managedGroups
	if managed == nil && a.env("HASHIKE_CONFIG") != "" {
		conf, err := a.readConfig("")
		if err != nil {
			return ecs.Config{}, err
		}
		managed = conf.Autoscaler.ManagedGroups()
	}
	queue := a.eventsQueue
	if queue == "" {
		queue = a.env("HASHIKE_EVENTS_QUEUE")
	}
	var c ecs.Config
	if a.ecsConfig != nil {
		c = a.ecsConfig()
	} else {
		cfg, err := a.awsConfig(ctx)
		if err != nil {
			return ecs.Config{}, err
		}
		// The SDK retries each call (adaptive mode); the backend only waits within the job's bounds.
		cfg.Retryer = ecs.NewRetryer
		c = ecs.Config{
			ECS:         awsecs.NewFromConfig(cfg),
			AutoScaling: autoscaling.NewFromConfig(cfg),
			Logs:        cloudwatchlogs.NewFromConfig(cfg),
			SQS:         sqs.NewFromConfig(cfg),
		}
	}
	if ins, ok := c.Logs.(ecs.InsightsAPI); ok && c.Insights == nil {
		c.Insights = ins // per-task CPU and memory from Container Insights, where it is on
	}
	c.EventsQueueURL = queue
	c.ManagedGroups = managed
	c.Clock = a.clock
	c.Logger = a.backendLogger()
	return c, nil
}

// checkAWS verifies that the roles, secrets, SSM parameters and log groups spec refers to exist.
func (a *app) checkAWS(ctx context.Context, spec *hashike.JobSpec) ([]hashike.FieldError, error) {
	cfg, err := a.awsConfig(ctx)
	if err != nil {
		return nil, err
	}
	return ecs.CheckAWS(ctx, spec, ecs.AWSClients{
		IAM:            iam.NewFromConfig(cfg),
		SecretsManager: secretsmanager.NewFromConfig(cfg),
		SSM:            ssm.NewFromConfig(cfg),
		LogGroups:      cloudwatchlogs.NewFromConfig(cfg),
		Region:         cfg.Region,
	}), nil
}
