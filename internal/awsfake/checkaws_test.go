package awsfake

import (
	"errors"
	"fmt"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
)

func TestFakeGetRole(t *testing.T) {
	c := New(Options{})
	defer c.Close()
	c.AddRole("report-task")

	out, err := c.IAM().GetRole(bg, &iam.GetRoleInput{RoleName: s("report-task")})
	if err != nil {
		t.Fatal(err)
	}
	if got := deref(out.Role.Arn); got != "arn:aws:iam::123456789012:role/report-task" {
		t.Errorf("Arn = %s", got)
	}
	trust, err := url.QueryUnescape(deref(out.Role.AssumeRolePolicyDocument))
	if err != nil || !strings.Contains(trust, `"Service":"ecs-tasks.amazonaws.com"`) {
		t.Errorf("AssumeRolePolicyDocument = %s (%v)", trust, err)
	}

	_, err = c.IAM().GetRole(bg, &iam.GetRoleInput{RoleName: s("nope")})
	var nse *iamtypes.NoSuchEntityException
	if !errors.As(err, &nse) || code(err) != "NoSuchEntity" || nse.ErrorMessage() != "The role with name nope cannot be found." {
		t.Errorf("GetRole(nope) = %v, want NoSuchEntity", err)
	}

	c.DenyAccess("GetRole")
	_, err = c.IAM().GetRole(bg, &iam.GetRoleInput{RoleName: s("report-task")})
	if code(err) != "AccessDenied" || !strings.Contains(err.Error(), "iam:GetRole") {
		t.Errorf("denied GetRole = %v, want AccessDenied naming iam:GetRole", err)
	}
	if got := c.Calls("GetRole"); got != 3 {
		t.Errorf("Calls(GetRole) = %d, want 3", got)
	}
}

// TestFakeDescribeSecret: a secret put by valueFrom is found by its full or partial ARN and
// by name, with the stages valueFroms named.
func TestFakeDescribeSecret(t *testing.T) {
	c := New(Options{})
	defer c.Close()
	const arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf"
	c.PutSecret(arn+":password:AWSPREVIOUS:", "old")
	c.PutSecret("arn:aws:secretsmanager:us-east-1:123456789012:secret:plain", "v")
	for _, id := range []string{arn, "arn:aws:secretsmanager:us-east-1:123456789012:secret:db", "db", "db-AbCdEf"} {
		out, err := c.SecretsManager().DescribeSecret(bg, &secretsmanager.DescribeSecretInput{SecretId: s(id)})
		if err != nil {
			t.Errorf("DescribeSecret(%s): %v", id, err)
			continue
		}
		if deref(out.ARN) != arn || deref(out.Name) != "db" {
			t.Errorf("DescribeSecret(%s) = %s %s, want %s db", id, deref(out.ARN), deref(out.Name), arn)
		}
		var stages []string
		for _, s := range out.VersionIdsToStages {
			stages = append(stages, s...)
		}
		if !reflect.DeepEqual(stages, []string{"AWSCURRENT", "AWSPREVIOUS"}) {
			t.Errorf("stages = %v", stages)
		}
	}
	if _, err := c.SecretsManager().DescribeSecret(bg, &secretsmanager.DescribeSecretInput{SecretId: s("plain")}); err != nil {
		t.Errorf("DescribeSecret(plain): %v", err)
	}
	_, err := c.SecretsManager().DescribeSecret(bg, &secretsmanager.DescribeSecretInput{SecretId: s("nope")})
	var rnf *smtypes.ResourceNotFoundException
	if !errors.As(err, &rnf) || code(err) != "ResourceNotFoundException" {
		t.Errorf("DescribeSecret(nope) = %v, want ResourceNotFoundException", err)
	}
	c.DenyAccess("DescribeSecret")
	if _, err := c.SecretsManager().DescribeSecret(bg, &secretsmanager.DescribeSecretInput{SecretId: s("db")}); code(err) != "AccessDeniedException" {
		t.Errorf("denied DescribeSecret = %v, want AccessDeniedException", err)
	}
}

func TestFakeGetParameters(t *testing.T) {
	c := New(Options{})
	defer c.Close()
	c.PutParameter("/hashike/api-key", "k")
	c.PutParameter("plain", "p")
	c.PutSecret("arn:aws:secretsmanager:us-east-1:123456789012:secret:db", "not a parameter")
	names := []string{
		"/hashike/api-key",
		"arn:aws:ssm:us-east-1:123456789012:parameter/hashike/api-key",
		"plain",
		"arn:aws:ssm:us-east-1:123456789012:parameter/plain",
		"/hashike/nope",
		"arn:aws:secretsmanager:us-east-1:123456789012:secret:db",
	}
	out, err := c.SSM().GetParameters(bg, &ssm.GetParametersInput{Names: names})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range out.Parameters {
		got = append(got, deref(p.Name)+"="+deref(p.Value))
	}
	if want := []string{"/hashike/api-key=k", "/hashike/api-key=k", "plain=p", "plain=p"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Parameters = %v, want %v", got, want)
	}
	if want := names[4:]; !reflect.DeepEqual(out.InvalidParameters, want) {
		t.Errorf("InvalidParameters = %v, want %v", out.InvalidParameters, want)
	}
	if got := deref(out.Parameters[0].ARN); got != names[1] {
		t.Errorf("ARN = %s, want %s", got, names[1])
	}

	eleven := make([]string, 11)
	for i := range eleven {
		eleven[i] = fmt.Sprintf("p%d", i)
	}
	if _, err := c.SSM().GetParameters(bg, &ssm.GetParametersInput{Names: eleven}); code(err) != "ValidationException" {
		t.Errorf("GetParameters(11 names) = %v, want ValidationException", err)
	}
	c.DenyAccess("GetParameters")
	if _, err := c.SSM().GetParameters(bg, &ssm.GetParametersInput{Names: names[:1]}); code(err) != "AccessDeniedException" {
		t.Errorf("denied GetParameters = %v, want AccessDeniedException", err)
	}
}

// TestFakeDescribeLogGroups: groups added, and groups the awslogs driver wrote to, are listed
// by prefix, in name order, a page at a time.
func TestFakeDescribeLogGroups(t *testing.T) {
	c := New(Options{})
	defer c.Close()
	c.AddLogGroup("/hashike/report")
	c.AddLogGroup("/hashike/report-archive")
	c.AddLogGroup("/other")
	c.mu.Lock()
	c.stream("/hashike/driver", "run/main/1", c.clock.Now()) // as awslogs-create-group
	c.mu.Unlock()

	list := func(prefix string, limit *int32, token *string) ([]string, *string) {
		t.Helper()
		out, err := c.LogGroups().DescribeLogGroups(bg, &cloudwatchlogs.DescribeLogGroupsInput{LogGroupNamePrefix: s(prefix), Limit: limit, NextToken: token})
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, g := range out.LogGroups {
			names = append(names, deref(g.LogGroupName))
		}
		return names, out.NextToken
	}
	if got, tok := list("/hashike/report", nil, nil); !reflect.DeepEqual(got, []string{"/hashike/report", "/hashike/report-archive"}) || tok != nil {
		t.Errorf("prefix /hashike/report = %v (next %v)", got, tok)
	}
	got, tok := list("/hashike", i32(2), nil)
	if !reflect.DeepEqual(got, []string{"/hashike/driver", "/hashike/report"}) || tok == nil {
		t.Fatalf("page 1 = %v (next %v)", got, tok)
	}
	if got, tok := list("/hashike", i32(2), tok); !reflect.DeepEqual(got, []string{"/hashike/report-archive"}) || tok != nil {
		t.Errorf("page 2 = %v (next %v)", got, tok)
	}
	if got, _ := list("/nope", nil, nil); len(got) != 0 {
		t.Errorf("prefix /nope = %v, want none", got)
	}
	c.DenyAccess("DescribeLogGroups")
	if _, err := c.LogGroups().DescribeLogGroups(bg, &cloudwatchlogs.DescribeLogGroupsInput{}); code(err) != "AccessDeniedException" {
		t.Errorf("denied DescribeLogGroups = %v, want AccessDeniedException", err)
	}
}
