package ecs_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"testing/synctest"

	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/smithy-go"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/ecs"
	"github.com/hashike/hashike/internal/awsfake"
)

const (
	caSecret    = "arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf"
	caParam     = "/hashike/api-key"
	caGroup     = "/hashike/report"
	caTaskRole  = "arn:aws:iam::123456789012:role/report-task"
	caExecRole  = "arn:aws:iam::123456789012:role/service-role/ecsTaskExecutionRole"
	caContainer = "taskDefinition.containerDefinitions[0]"
)

// checkAWSCloud holds what checkAWSSpec references, plus a few things it does not.
func checkAWSCloud(t *testing.T) *awsfake.Cloud {
	t.Helper()
	c := awsfake.New(awsfake.Options{})
	t.Cleanup(c.Close)
	c.AddRole("report-task")
	c.AddRole("ecsTaskExecutionRole")
	c.PutSecret(caSecret+":password::", "hunter2")
	c.PutSecret(caSecret+":password:AWSPREVIOUS:", "hunter1")
	c.PutParameter(caParam, "k")
	c.PutParameter("plain", "p")
	c.AddLogGroup(caGroup)
	c.AddLogGroup("/hashike/report-archive")
	return c
}

func clientsOf(c *awsfake.Cloud) ecs.AWSClients {
	return ecs.AWSClients{IAM: c.IAM(), SecretsManager: c.SecretsManager(), SSM: c.SSM(), LogGroups: c.LogGroups(), Region: "us-east-1"}
}

func checkAWSSpec() *hashike.JobSpec {
	return &hashike.JobSpec{Backend: "ecs", TaskDefinition: hashike.TaskDefinition{
		Family:           "report",
		TaskRoleArn:      caTaskRole,
		ExecutionRoleArn: caExecRole,
		ContainerDefinitions: []hashike.ContainerDefinition{{
			Name:  "main",
			Image: "report:1",
			Secrets: []hashike.Secret{
				{Name: "DB_PASSWORD", ValueFrom: caSecret + ":password::"},
				{Name: "API_KEY", ValueFrom: caParam},
			},
			LogConfiguration: &hashike.LogConfiguration{LogDriver: "awslogs", Options: map[string]string{
				"awslogs-group": caGroup, "awslogs-region": "us-east-1", "awslogs-stream-prefix": "hashike",
			}},
		}},
	}}
}

// awsProblem is a FieldError the way the tables write it; Message is a substring.
type awsProblem struct {
	sev  hashike.Severity
	path string
	msg  string
}

func awsErr(path, msg string) awsProblem  { return awsProblem{hashike.SeverityError, path, msg} }
func awsWarn(path, msg string) awsProblem { return awsProblem{hashike.SeverityWarning, path, msg} }

func matchFieldErrors(t *testing.T, got []hashike.FieldError, want []awsProblem) {
	t.Helper()
	ok := len(got) == len(want)
	for i := 0; ok && i < len(got); i++ {
		ok = got[i].Severity == want[i].sev && got[i].Path == want[i].path && strings.Contains(got[i].Message, want[i].msg)
	}
	if !ok {
		var b strings.Builder
		for _, f := range got {
			fmt.Fprintf(&b, "\n  %s %s: %s", f.Severity, f.Path, f.Message)
		}
		t.Errorf("got %d problems:%s\nwant %+v", len(got), b.String(), want)
	}
}

func TestCheckAWS(t *testing.T) {
	secret0 := caContainer + ".secrets[0].valueFrom"
	secret1 := caContainer + ".secrets[1].valueFrom"
	group := caContainer + ".logConfiguration.options.awslogs-group"
	for _, tc := range []struct {
		name  string
		spec  func(*hashike.JobSpec)
		cloud func(*awsfake.Cloud)
		want  []awsProblem
	}{
		{name: "everything exists"},
		{
			name: "roles by bare name, secret by partial ARN and name in Parameter Store, parameter by ARN",
			spec: func(s *hashike.JobSpec) {
				s.TaskDefinition.TaskRoleArn = "report-task"
				s.TaskDefinition.ContainerDefinitions[0].Secrets = []hashike.Secret{
					{Name: "A", ValueFrom: "arn:aws:secretsmanager:us-east-1:123456789012:secret:db"},
					{Name: "B", ValueFrom: "/aws/reference/secretsmanager/db"},
					{Name: "C", ValueFrom: "arn:aws:ssm:us-east-1:123456789012:parameter/hashike/api-key"},
					{Name: "D", ValueFrom: "arn:aws:ssm:us-east-1:123456789012:parameter/plain"},
				}
			},
		},
		{
			name: "task role missing",
			spec: func(s *hashike.JobSpec) { s.TaskDefinition.TaskRoleArn = "arn:aws:iam::123456789012:role/nope" },
			want: []awsProblem{awsErr("taskDefinition.taskRoleArn", "role nope does not exist")},
		},
		{
			name: "execution role missing",
			spec: func(s *hashike.JobSpec) {
				s.TaskDefinition.ExecutionRoleArn = "arn:aws:iam::123456789012:role/gone"
				s.TaskDefinition.TaskRoleArn = ""
			},
			want: []awsProblem{awsErr("taskDefinition.executionRoleArn", "role gone does not exist")},
		},
		{
			name: "secret missing",
			spec: func(s *hashike.JobSpec) {
				s.TaskDefinition.ContainerDefinitions[0].Secrets[0].ValueFrom = "arn:aws:secretsmanager:us-east-1:123456789012:secret:other-XyZ123:password::"
			},
			want: []awsProblem{awsErr(secret0, "Secrets Manager secret arn:aws:secretsmanager:us-east-1:123456789012:secret:other-XyZ123 does not exist")},
		},
		{
			name: "secret version stage",
			spec: func(s *hashike.JobSpec) {
				s.TaskDefinition.ContainerDefinitions[0].Secrets[0].ValueFrom = caSecret + ":password:AWSPENDING:"
			},
			want: []awsProblem{awsErr(secret0, "has no version labelled AWSPENDING")},
		},
		{
			name: "parameter missing",
			spec: func(s *hashike.JobSpec) {
				s.TaskDefinition.ContainerDefinitions[0].Secrets[1].ValueFrom = "/hashike/nope"
			},
			want: []awsProblem{awsErr(secret1, "SSM parameter /hashike/nope does not exist")},
		},
		{
			name: "log group missing; a group it prefixes does not count",
			spec: func(s *hashike.JobSpec) {
				s.TaskDefinition.ContainerDefinitions[0].LogConfiguration.Options["awslogs-group"] = "/hashike/rep"
			},
			want: []awsProblem{awsErr(group, "log group /hashike/rep does not exist")},
		},
		{
			name: "log group created by the driver",
			spec: func(s *hashike.JobSpec) {
				o := s.TaskDefinition.ContainerDefinitions[0].LogConfiguration.Options
				o["awslogs-group"], o["awslogs-create-group"] = "/hashike/new", "true"
			},
		},
		{
			name:  "IAM access denied: a warning naming the permission",
			cloud: func(c *awsfake.Cloud) { c.DenyAccess("GetRole") },
			want: []awsProblem{
				awsWarn("taskDefinition.taskRoleArn", "cannot verify that role report-task exists: iam:GetRole is not allowed (AccessDenied)"),
				awsWarn("taskDefinition.executionRoleArn", "iam:GetRole is not allowed"),
			},
		},
		{
			name: "Secrets Manager, SSM and Logs access denied",
			cloud: func(c *awsfake.Cloud) {
				c.DenyAccess("DescribeSecret")
				c.DenyAccess("GetParameters")
				c.DenyAccess("DescribeLogGroups")
			},
			want: []awsProblem{
				awsWarn(secret0, "secretsmanager:DescribeSecret is not allowed (AccessDeniedException)"),
				awsWarn(secret1, "ssm:GetParameters is not allowed (AccessDeniedException)"),
				awsWarn(group, "logs:DescribeLogGroups is not allowed"),
			},
		},
		{
			name: "a lookup that fails otherwise is an error",
			cloud: func(c *awsfake.Cloud) {
				c.FailNext("DescribeSecret", &smithy.GenericAPIError{Code: "InternalServiceError", Message: "boom", Fault: smithy.FaultServer})
			},
			want: []awsProblem{awsErr(secret0, "cannot verify that Secrets Manager secret "+caSecret+" exists: api error InternalServiceError: boom")},
		},
		{
			name: "Fargate with secrets needs an execution role",
			spec: func(s *hashike.JobSpec) {
				s.TaskDefinition.ExecutionRoleArn = ""
				s.ECS = &hashike.ECSOptions{LaunchType: "FARGATE"}
			},
			want: []awsProblem{awsErr("taskDefinition.executionRoleArn", "containers use secrets")},
		},
		{
			name: "EC2 with secrets needs one too",
			spec: func(s *hashike.JobSpec) { s.TaskDefinition.ExecutionRoleArn = "" },
			want: []awsProblem{awsErr("taskDefinition.executionRoleArn", "containers use secrets")},
		},
		{
			name: "Fargate awslogs needs an execution role",
			spec: func(s *hashike.JobSpec) {
				s.TaskDefinition.ExecutionRoleArn = ""
				s.TaskDefinition.ContainerDefinitions[0].Secrets = nil
				s.TaskDefinition.RequiresCompatibilities = []string{"FARGATE"}
			},
			want: []awsProblem{awsErr("taskDefinition.executionRoleArn", "on Fargate the awslogs driver")},
		},
		{
			name: "Fargate Spot capacity provider counts as Fargate",
			spec: func(s *hashike.JobSpec) {
				s.TaskDefinition.ExecutionRoleArn = ""
				s.TaskDefinition.ContainerDefinitions[0].Secrets = nil
				s.ECS = &hashike.ECSOptions{CapacityProviderStrategy: []hashike.CapacityProviderStrategyItem{{CapacityProvider: "FARGATE_SPOT", Weight: 1}}}
			},
			want: []awsProblem{awsErr("taskDefinition.executionRoleArn", "on Fargate the awslogs driver")},
		},
		{
			name: "EC2 awslogs without secrets needs no execution role",
			spec: func(s *hashike.JobSpec) {
				s.TaskDefinition.ExecutionRoleArn = ""
				s.TaskDefinition.ContainerDefinitions[0].Secrets = nil
			},
		},
		{
			name: "malformed references",
			spec: func(s *hashike.JobSpec) {
				s.TaskDefinition.TaskRoleArn = "arn:aws:iam::123456789012:user/alice"
				s.TaskDefinition.ContainerDefinitions[0].Secrets = []hashike.Secret{
					{Name: "A", ValueFrom: "arn:aws:s3:::bucket/key"},
					{Name: "B", ValueFrom: "arn:aws:secretsmanager:us-east-1:123456789012:db"},
					{Name: "C", ValueFrom: caSecret + ":password:AWSCURRENT:a1b2c3d4-0000-4000-8000-000000000001"},
				}
			},
			want: []awsProblem{
				awsErr("taskDefinition.taskRoleArn", "is not an IAM role ARN"),
				awsErr(secret0, "neither a Secrets Manager secret nor an SSM parameter"),
				awsErr(secret1, "is not a Secrets Manager secret ARN"),
				awsErr(caContainer+".secrets[2].valueFrom", "either a version stage or a version id"),
			},
		},
		{
			name: "another region is not checked",
			spec: func(s *hashike.JobSpec) {
				c := &s.TaskDefinition.ContainerDefinitions[0]
				c.Secrets[0].ValueFrom = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:db-AbCdEf"
				c.LogConfiguration.Options["awslogs-region"] = "eu-west-1"
			},
			want: []awsProblem{
				awsWarn(secret0, "not checked: secret arn:aws:secretsmanager:eu-west-1:123456789012:secret:db-AbCdEf is in eu-west-1, the check ran in us-east-1"),
				awsWarn(group, "not checked: log group /hashike/report is in eu-west-1"),
			},
		},
		{
			name: "every problem at once, in field order",
			spec: func(s *hashike.JobSpec) {
				td := &s.TaskDefinition
				td.TaskRoleArn = "arn:aws:iam::123456789012:role/nope"
				td.ContainerDefinitions[0].Secrets[0].ValueFrom = "arn:aws:secretsmanager:us-east-1:123456789012:secret:gone-AAAAAA"
				td.ContainerDefinitions[0].Secrets[1].ValueFrom = "/hashike/gone"
				td.ContainerDefinitions[0].LogConfiguration.Options["awslogs-group"] = "/hashike/gone"
				td.ContainerDefinitions = append(td.ContainerDefinitions, hashike.ContainerDefinition{
					Name: "sidecar", Image: "x", Secrets: []hashike.Secret{{Name: "S", ValueFrom: "/hashike/gone"}},
				})
			},
			want: []awsProblem{
				awsErr("taskDefinition.taskRoleArn", "role nope does not exist"),
				awsErr(secret0, "secret arn:aws:secretsmanager:us-east-1:123456789012:secret:gone-AAAAAA does not exist"),
				awsErr(secret1, "SSM parameter /hashike/gone does not exist"),
				awsErr(group, "log group /hashike/gone does not exist"),
				awsErr("taskDefinition.containerDefinitions[1].secrets[0].valueFrom", "SSM parameter /hashike/gone does not exist"),
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := checkAWSCloud(t)
			if tc.cloud != nil {
				tc.cloud(c)
			}
			spec := checkAWSSpec()
			if tc.spec != nil {
				tc.spec(spec)
			}
			matchFieldErrors(t, ecs.CheckAWS(t.Context(), spec, clientsOf(c)), tc.want)
		})
	}
}

// TestCheckAWSNilClients: a client left out skips its lookups, not the rules that need none.
func TestCheckAWSNilClients(t *testing.T) {
	spec := checkAWSSpec()
	spec.TaskDefinition.ExecutionRoleArn = ""
	matchFieldErrors(t, ecs.CheckAWS(t.Context(), spec, ecs.AWSClients{}), []awsProblem{
		awsErr("taskDefinition.executionRoleArn", "containers use secrets"),
	})
}

// TestCheckAWSDedup: a reference named by many fields is looked up once; SSM names go ten a
// call.
func TestCheckAWSDedup(t *testing.T) {
	c := checkAWSCloud(t)
	spec := checkAWSSpec()
	td := &spec.TaskDefinition
	td.TaskRoleArn = td.ExecutionRoleArn // one role for both
	first := td.ContainerDefinitions[0]
	for i := range 24 {
		name := fmt.Sprintf("/hashike/p%02d", i)
		c.PutParameter(name, "v")
		first.Secrets = append(first.Secrets, hashike.Secret{Name: fmt.Sprintf("P%d", i), ValueFrom: name})
	}
	for i := range 3 {
		cd := first
		cd.Name = fmt.Sprintf("c%d", i)
		td.ContainerDefinitions = append(td.ContainerDefinitions, cd)
	}
	td.ContainerDefinitions = td.ContainerDefinitions[1:]
	matchFieldErrors(t, ecs.CheckAWS(t.Context(), spec, clientsOf(c)), nil)
	for op, want := range map[string]int{
		"GetRole":           1,
		"DescribeSecret":    1,
		"GetParameters":     3, // 25 distinct names
		"DescribeLogGroups": 1,
	} {
		if got := c.Calls(op); got != want {
			t.Errorf("%s calls = %d, want %d", op, got, want)
		}
	}
}

// blockingSecrets answers DescribeSecret only once released, counting the calls in flight.
type blockingSecrets struct {
	release chan struct{}

	mu                    sync.Mutex
	inFlight, maxInFlight int
}

func (b *blockingSecrets) DescribeSecret(ctx context.Context, in *secretsmanager.DescribeSecretInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.DescribeSecretOutput, error) {
	b.mu.Lock()
	b.inFlight++
	b.maxInFlight = max(b.maxInFlight, b.inFlight)
	b.mu.Unlock()
	defer func() {
		b.mu.Lock()
		b.inFlight--
		b.mu.Unlock()
	}()
	select {
	case <-b.release:
		return &secretsmanager.DescribeSecretOutput{ARN: in.SecretId}, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// TestCheckAWSConcurrency: lookups run concurrently, a few at a time.
func TestCheckAWSConcurrency(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := &blockingSecrets{release: make(chan struct{})}
		spec := checkAWSSpec()
		var secrets []hashike.Secret
		for i := range 12 {
			secrets = append(secrets, hashike.Secret{Name: fmt.Sprintf("S%d", i), ValueFrom: fmt.Sprintf("arn:aws:secretsmanager:us-east-1:123456789012:secret:s%d-AbCdEf", i)})
		}
		spec.TaskDefinition.ContainerDefinitions[0].Secrets = secrets
		done := make(chan []hashike.FieldError)
		go func() { done <- ecs.CheckAWS(t.Context(), spec, ecs.AWSClients{SecretsManager: b}) }()
		synctest.Wait() // every lookup goroutine that could start is blocked
		b.mu.Lock()
		inFlight := b.inFlight
		b.mu.Unlock()
		if inFlight < 2 || inFlight > 8 {
			t.Errorf("%d lookups in flight, want a small bound above 1", inFlight)
		}
		close(b.release)
		matchFieldErrors(t, <-done, nil)
		if b.maxInFlight != inFlight {
			t.Errorf("max in flight = %d, first wave %d", b.maxInFlight, inFlight)
		}
	})
}

// TestCheckAWSCancelled: a cancelled context makes every lookup an error, not a pass.
func TestCheckAWSCancelled(t *testing.T) {
	c := checkAWSCloud(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	got := ecs.CheckAWS(ctx, checkAWSSpec(), clientsOf(c))
	if len(got) != 5 {
		t.Fatalf("got %d problems, want 5: %v", len(got), got)
	}
	for _, f := range got {
		if f.Severity != hashike.SeverityError || !strings.Contains(f.Message, context.Canceled.Error()) {
			t.Errorf("%s: %s %q, want an error naming %v", f.Path, f.Severity, f.Message, context.Canceled)
		}
	}
}
