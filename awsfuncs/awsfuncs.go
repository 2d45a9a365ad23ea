// Package awsfuncs implements the AWS lookups of the job files' template functions
// (jobfile.Lookups) over the AWS SDK: ssm reads SSM Parameter Store, secretsmanager_arn
// asks Secrets Manager, and tfstate reads a Terraform state from S3. jobfile stays free of
// the SDK; cmd/hashike wires these in.
package awsfuncs

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/hashike/hashike/jobfile"
)

// SSMAPI is the Systems Manager call the lookups make.
type SSMAPI interface {
	// GetParameters returns the named parameters; names it does not know are in
	// InvalidParameters, not an error.
	GetParameters(ctx context.Context, in *ssm.GetParametersInput, opts ...func(*ssm.Options)) (*ssm.GetParametersOutput, error)
}

// SecretsManagerAPI is the Secrets Manager call the lookups make.
type SecretsManagerAPI interface {
	// DescribeSecret returns a secret's metadata (not its value), by name or ARN;
	// ResourceNotFoundException when there is none.
	DescribeSecret(ctx context.Context, in *secretsmanager.DescribeSecretInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.DescribeSecretOutput, error)
}

// S3API is the S3 call the lookups make.
type S3API interface {
	// GetObject returns an object's body; NoSuchKey when there is none.
	GetObject(ctx context.Context, in *s3.GetObjectInput, opts ...func(*s3.Options)) (*s3.GetObjectOutput, error)
}

// Clients are the SDK clients the lookups use; a nil one leaves its lookup out (its template
// function is then an error at each call).
type Clients struct {
	SSM            SSMAPI
	SecretsManager SecretsManagerAPI
	S3             S3API
}

// maxState bounds a Terraform state read from S3.
const maxState = 64 << 20

// Lookups returns the lookups of jobfile's template functions, each call bound to ctx.
func Lookups(ctx context.Context, c Clients) jobfile.Lookups {
	var l jobfile.Lookups
	if c.SSM != nil {
		l.SSM = func(name string) (string, error) {
			out, err := c.SSM.GetParameters(ctx, &ssm.GetParametersInput{Names: []string{name}, WithDecryption: aws.Bool(true)})
			if err != nil {
				return "", fmt.Errorf("get parameter %s: %w", name, err)
			}
			for _, p := range out.Parameters {
				return aws.ToString(p.Value), nil
			}
			return "", fmt.Errorf("SSM parameter %s does not exist (or is not readable)", name)
		}
	}
	if c.SecretsManager != nil {
		l.SecretARN = func(name string) (string, error) {
			out, err := c.SecretsManager.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(name)})
			if err != nil {
				return "", fmt.Errorf("describe secret %s: %w", name, err)
			}
			return aws.ToString(out.ARN), nil
		}
	}
	if c.S3 != nil {
		l.ReadS3 = func(bucket, key string) ([]byte, error) {
			out, err := c.S3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
			if err != nil {
				return nil, fmt.Errorf("get s3://%s/%s: %w", bucket, key, err)
			}
			defer out.Body.Close()
			data, err := io.ReadAll(io.LimitReader(out.Body, maxState+1))
			if err != nil {
				return nil, fmt.Errorf("read s3://%s/%s: %w", bucket, key, err)
			}
			if len(data) > maxState {
				return nil, errors.New("the state is larger than 64 MiB")
			}
			return data, nil
		}
	}
	return l
}
