package awsfake

import (
	"context"
	"fmt"
	"hash/fnv"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/hashike/hashike/ecs"
)

// The lookups of ecs.CheckAWS: IAM roles, Secrets Manager secrets (the secret store of
// PutSecret), Parameter Store parameters (PutParameter, stored there too so tasks resolve
// them) and log groups (those AddLogGroup creates and those the awslogs driver has written
// to, as with awslogs-create-group).
//
// Roles and denied operations are kept in the secret store under keys that start with a NUL
// byte, which no valueFrom can, so these services need no state of their own in Cloud.
const (
	roleKey = "\x00iam-role:"
	denyKey = "\x00deny:"
)

// IAM returns the IAM client (GetRole).
func (c *Cloud) IAM() ecs.IAMAPI { return iamClient{c} }

// SecretsManager returns the Secrets Manager client (DescribeSecret).
func (c *Cloud) SecretsManager() ecs.SecretsManagerAPI { return smClient{c} }

// SSM returns the Systems Manager client (GetParameters).
func (c *Cloud) SSM() ecs.SSMAPI { return ssmClient{c} }

// LogGroups returns the CloudWatch Logs client of log group lookups (DescribeLogGroups).
func (c *Cloud) LogGroups() ecs.LogGroupsAPI { return logsClient{c} }

// AddRole creates the IAM role name, trusted by ecs-tasks.amazonaws.com.
func (c *Cloud) AddRole(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.secrets[roleKey+name] = c.clock.Now().UTC().Format(time.RFC3339)
}

// AddLogGroup creates the CloudWatch Logs group name.
func (c *Cloud) AddLogGroup(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.streams[name] == nil {
		c.streams[name] = map[string]*logStream{}
	}
}

// PutParameter creates or overwrites the Parameter Store parameter name ("/a/b" or "b"). Tasks
// resolve it by name or by ARN.
func (c *Cloud) PutParameter(name, value string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.secrets[name] = value
	c.secrets[c.parameterARN(name)] = value
}

// DenyAccess makes every later call of op ("GetRole", "DescribeSecret", "GetParameters",
// "DescribeLogGroups", ...) fail as it does for a caller without the permission: AccessDenied
// from IAM, AccessDeniedException from the JSON services.
func (c *Cloud) DenyAccess(op string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.secrets[denyKey+op] = ""
}

// check begins a call of op and refuses it when DenyAccess named op (c.mu held).
func (c *Cloud) check(ctx context.Context, op, action, resource string) error {
	if err := c.begin(ctx, op); err != nil {
		return err
	}
	if _, ok := c.secrets[denyKey+op]; ok {
		code := "AccessDeniedException"
		if strings.HasPrefix(action, "iam:") {
			code = "AccessDenied"
		}
		return apiError(code, "User: arn:aws:sts::%s:assumed-role/hashike-ci/session is not authorized to perform: %s on resource: %s because no identity-based policy allows the %s action", c.opts.AccountID, action, resource, action)
	}
	return nil
}

func (c *Cloud) parameterARN(name string) string {
	return c.arn("ssm", "parameter/"+strings.TrimPrefix(name, "/"))
}

type iamClient struct{ c *Cloud }

// ecsTasksTrust is the trust policy of a task role, URL-encoded as GetRole returns it.
var ecsTasksTrust = url.QueryEscape(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ecs-tasks.amazonaws.com"},"Action":"sts:AssumeRole"}]}`)

func (i iamClient) GetRole(ctx context.Context, in *iam.GetRoleInput, _ ...func(*iam.Options)) (*iam.GetRoleOutput, error) {
	c := i.c
	c.mu.Lock()
	defer c.mu.Unlock()
	name := deref(in.RoleName)
	if err := c.check(ctx, "GetRole", "iam:GetRole", fmt.Sprintf("arn:aws:iam::%s:role/%s", c.opts.AccountID, name)); err != nil {
		return nil, err
	}
	if name == "" {
		return nil, apiError("ValidationError", "1 validation error detected: Value null at 'roleName' failed to satisfy constraint: Member must not be null")
	}
	created, ok := c.secrets[roleKey+name]
	if !ok {
		return nil, &iamtypes.NoSuchEntityException{Message: ptr(fmt.Sprintf("The role with name %s cannot be found.", name))}
	}
	at, _ := time.Parse(time.RFC3339, created)
	return &iam.GetRoleOutput{Role: &iamtypes.Role{
		RoleName:                 ptr(name),
		Arn:                      ptr(fmt.Sprintf("arn:aws:iam::%s:role/%s", c.opts.AccountID, name)),
		Path:                     ptr("/"),
		RoleId:                   ptr(fmt.Sprintf("AROA%016X", fnv1a(name))),
		CreateDate:               &at,
		AssumeRolePolicyDocument: ptr(ecsTasksTrust),
		MaxSessionDuration:       ptr(int32(3600)),
	}}, nil
}

type smClient struct{ c *Cloud }

// secretSuffix is the "-" and six characters Secrets Manager appends to a secret's name in
// its ARN.
var secretSuffix = regexp.MustCompile(`-[A-Za-z0-9]{6}$`)

func (s smClient) DescribeSecret(ctx context.Context, in *secretsmanager.DescribeSecretInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.DescribeSecretOutput, error) {
	c := s.c
	c.mu.Lock()
	defer c.mu.Unlock()
	id := deref(in.SecretId)
	if err := c.check(ctx, "DescribeSecret", "secretsmanager:DescribeSecret", id); err != nil {
		return nil, err
	}
	if id == "" {
		return nil, apiError("ValidationException", "1 validation error detected: Value null at 'secretId' failed to satisfy constraint: Member must not be null")
	}
	// The store is keyed by valueFrom: the secret's ARN (full, or partial without the
	// suffix), perhaps followed by :json-key:version-stage:version-id.
	var arn string
	stages := map[string]bool{"AWSCURRENT": true}
	versions := map[string]bool{}
	for from := range c.secrets {
		p := strings.Split(from, ":")
		if len(p) < 7 || p[2] != "secretsmanager" || p[5] != "secret" {
			continue
		}
		full := strings.Join(p[:7], ":")
		partial := secretSuffix.ReplaceAllString(full, "")
		name := secretSuffix.ReplaceAllString(p[6], "")
		if id != full && id != partial && id != p[6] && id != name {
			continue
		}
		if arn == "" || len(full) > len(arn) {
			arn = full // the full ARN, when some valueFrom has it
		}
		if len(p) > 8 && p[8] != "" {
			stages[p[8]] = true
		}
		if len(p) > 9 && p[9] != "" {
			versions[p[9]] = true
		}
	}
	if arn == "" {
		return nil, &smtypes.ResourceNotFoundException{Message: ptr("Secrets Manager can't find the specified secret.")}
	}
	if len(versions) == 0 {
		versions["a1b2c3d4-0000-4000-8000-000000000001"] = true
	}
	out := &secretsmanager.DescribeSecretOutput{
		ARN:                ptr(arn),
		Name:               ptr(secretSuffix.ReplaceAllString(strings.Split(arn, ":")[6], "")),
		VersionIdsToStages: map[string][]string{},
	}
	ids := sortedKeys(versions)
	for i, v := range ids {
		out.VersionIdsToStages[v] = nil
		if i == 0 {
			out.VersionIdsToStages[v] = sortedKeys(stages)
		}
	}
	return out, nil
}

type ssmClient struct{ c *Cloud }

func (s ssmClient) GetParameters(ctx context.Context, in *ssm.GetParametersInput, _ ...func(*ssm.Options)) (*ssm.GetParametersOutput, error) {
	c := s.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.check(ctx, "GetParameters", "ssm:GetParameters", strings.Join(in.Names, ",")); err != nil {
		return nil, err
	}
	if len(in.Names) < 1 || len(in.Names) > 10 {
		return nil, apiError("ValidationException", "1 validation error detected: Value '%v' at 'names' failed to satisfy constraint: Member must have length less than or equal to 10, Member must have length greater than or equal to 1", in.Names)
	}
	out := &ssm.GetParametersOutput{InvalidParameters: []string{}, Parameters: []ssmtypes.Parameter{}}
	for _, n := range in.Names {
		name := n
		if strings.HasPrefix(n, "arn:") {
			p := strings.SplitN(n, ":", 6)
			if len(p) != 6 || p[2] != "ssm" || !strings.HasPrefix(p[5], "parameter/") {
				out.InvalidParameters = append(out.InvalidParameters, n)
				continue
			}
			name = strings.TrimPrefix(p[5], "parameter")
			if strings.Count(name, "/") == 1 {
				name = name[1:] // parameter/b is "b", parameter/a/b is "/a/b"
			}
		}
		v, ok := c.secrets[name]
		if !ok || strings.HasPrefix(name, "arn:") || strings.HasPrefix(name, "\x00") {
			out.InvalidParameters = append(out.InvalidParameters, n)
			continue
		}
		out.Parameters = append(out.Parameters, ssmtypes.Parameter{
			Name: ptr(name), ARN: ptr(c.parameterARN(name)), Type: ssmtypes.ParameterTypeSecureString,
			Value: ptr(v), Version: 1, DataType: ptr("text"),
		})
	}
	return out, nil
}

// DescribeLogGroups lists the groups logGroupNamePrefix prefixes, by name, at most limit (50)
// a page.
func (l logsClient) DescribeLogGroups(ctx context.Context, in *cloudwatchlogs.DescribeLogGroupsInput, _ ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.DescribeLogGroupsOutput, error) {
	c := l.c
	c.mu.Lock()
	defer c.mu.Unlock()
	prefix := deref(in.LogGroupNamePrefix)
	if err := c.check(ctx, "DescribeLogGroups", "logs:DescribeLogGroups", c.arn("logs", "log-group:"+prefix+"*")); err != nil {
		return nil, err
	}
	limit := 50
	if in.Limit != nil {
		if *in.Limit < 1 || *in.Limit > 50 {
			return nil, apiError("InvalidParameterException", "1 validation error detected: Value '%d' at 'limit' failed to satisfy constraint: Member must have value between 1 and 50", *in.Limit)
		}
		limit = int(*in.Limit)
	}
	var names []string
	for g := range c.streams {
		if strings.HasPrefix(g, prefix) {
			names = append(names, g)
		}
	}
	sort.Strings(names)
	from := 0
	if tok := deref(in.NextToken); tok != "" {
		n, err := strconv.Atoi(tok)
		if err != nil || n < 0 || n > len(names) {
			return nil, apiError("InvalidParameterException", "The specified nextToken is invalid.")
		}
		from = n
	}
	out := &cloudwatchlogs.DescribeLogGroupsOutput{LogGroups: []cwtypes.LogGroup{}}
	for _, g := range names[from:min(from+limit, len(names))] {
		out.LogGroups = append(out.LogGroups, cwtypes.LogGroup{
			LogGroupName:  ptr(g),
			Arn:           ptr(c.arn("logs", "log-group:"+g+":*")),
			LogGroupArn:   ptr(c.arn("logs", "log-group:"+g)),
			LogGroupClass: cwtypes.LogGroupClassStandard,
		})
	}
	if from+limit < len(names) {
		out.NextToken = ptr(strconv.Itoa(from + limit))
	}
	return out, nil
}

func fnv1a(s string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(s))
	return h.Sum64()
}
