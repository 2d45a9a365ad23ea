package ecs

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
)

// The interfaces below are what CheckAWS reads: one lookup each, never a write, and never a
// secret's or a parameter's decrypted value.

// IAMAPI looks up the task and execution roles.
type IAMAPI interface {
	GetRole(ctx context.Context, in *iam.GetRoleInput, optFns ...func(*iam.Options)) (*iam.GetRoleOutput, error)
}

// SecretsManagerAPI looks up the secrets containers reference (metadata only: DescribeSecret
// needs secretsmanager:DescribeSecret, not GetSecretValue).
type SecretsManagerAPI interface {
	DescribeSecret(ctx context.Context, in *secretsmanager.DescribeSecretInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.DescribeSecretOutput, error)
}

// SSMAPI looks up Parameter Store parameters, ten names a call (GetParameters' limit).
type SSMAPI interface {
	GetParameters(ctx context.Context, in *ssm.GetParametersInput, optFns ...func(*ssm.Options)) (*ssm.GetParametersOutput, error)
}

// LogGroupsAPI looks up awslogs log groups. It is apart from LogsAPI so that following logs
// does not need logs:DescribeLogGroups.
type LogGroupsAPI interface {
	DescribeLogGroups(ctx context.Context, in *cloudwatchlogs.DescribeLogGroupsInput, optFns ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.DescribeLogGroupsOutput, error)
}

var (
	_ IAMAPI            = (*iam.Client)(nil)
	_ SecretsManagerAPI = (*secretsmanager.Client)(nil)
	_ SSMAPI            = (*ssm.Client)(nil)
	_ LogGroupsAPI      = (*cloudwatchlogs.Client)(nil)
)
