package ecs

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	logstypes "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/hashike/hashike"
)

// AWSClients are the read-only clients CheckAWS looks things up with. A nil client skips the
// lookups it would make.
type AWSClients struct {
	IAM            IAMAPI
	SecretsManager SecretsManagerAPI
	SSM            SSMAPI
	LogGroups      LogGroupsAPI
	// Region is the region the clients call. When set, a secret, parameter or log group that
	// names another region (in its ARN, or awslogs-region) is not looked up, since a regional
	// client would report it missing; a warning says it was not checked.
	Region string
}

// checkAWSConcurrency bounds the lookups in flight: enough to hide latency, few enough not to
// be throttled by IAM's low request rates.
const checkAWSConcurrency = 4

// ssmBatch is GetParameters' limit on names a call.
const ssmBatch = 10

// CheckAWS verifies that what spec's task definition references exists, as hako's dry-run
// and ecspresso verify do: the task and execution roles (iam:GetRole), the containers'
// secrets (secretsmanager:DescribeSecret, or ssm:GetParameters for Parameter Store) and their
// awslogs log groups (logs:DescribeLogGroups), unless awslogs-create-group is "true". It also
// applies ECS's rule that secrets, and awslogs on Fargate, need an executionRoleArn.
//
// Every problem is reported at once, with the field's path. Something missing is an error; a
// lookup the caller may not make (AccessDenied) is a warning naming the missing permission,
// since nothing could be verified; any other failure (network, throttling beyond the SDK's
// retries, a cancelled ctx) is an error saying the field could not be checked. Identical
// lookups are made once; they run concurrently, a few at a time. Values are never read.
func CheckAWS(ctx context.Context, spec *hashike.JobSpec, c AWSClients) []hashike.FieldError {
	ch := &awsCheck{c: c, lookups: map[string]*awsLookup{}}
	td := &spec.TaskDefinition
	ch.requireExecutionRole(spec)
	ch.role("taskDefinition.taskRoleArn", td.TaskRoleArn)
	ch.role("taskDefinition.executionRoleArn", td.ExecutionRoleArn)
	for i, cd := range td.ContainerDefinitions {
		for j, s := range cd.Secrets {
			ch.secret(fmt.Sprintf("taskDefinition.containerDefinitions[%d].secrets[%d].valueFrom", i, j), s.ValueFrom)
		}
		if lc := cd.LogConfiguration; lc != nil && lc.LogDriver == "awslogs" {
			p := fmt.Sprintf("taskDefinition.containerDefinitions[%d].logConfiguration.options", i)
			ch.logGroup(p, lc.Options)
		}
	}
	ch.run(ctx)
	return ch.report()
}

// awsCheck gathers the uses of each lookup, runs the lookups, then reports per use.
type awsCheck struct {
	c       AWSClients
	out     []hashike.FieldError // problems found without AWS, in field order
	uses    []awsUse
	lookups map[string]*awsLookup // by key
	order   []*awsLookup
	params  []*awsLookup // SSM lookups, batched at run time
}

// awsUse is one field that depends on a lookup.
type awsUse struct {
	path string
	l    *awsLookup
	// stage and versionID, for a secret, are the version valueFrom selects.
	stage, versionID string
}

type outcome int

const (
	outcomeFound outcome = iota
	outcomeMissing
	outcomeDenied
	outcomeFailed
)

// awsLookup is one AWS question, asked once however many fields depend on it.
type awsLookup struct {
	key  string
	id   string // the parameter name, for SSM lookups (which run in batches, not by do)
	what string // "role report-task"
	perm string // the IAM action it needs: "iam:GetRole"
	do   func(context.Context) awsResult

	res awsResult
}

type awsResult struct {
	outcome outcome
	err     error
	// note, when set, is a problem with something found (a secret being deleted).
	note string
	// versions is a secret's VersionIdsToStages.
	versions map[string][]string
}

func (ch *awsCheck) add(sev hashike.Severity, path, format string, args ...any) {
	ch.out = append(ch.out, hashike.FieldError{Path: path, Severity: sev, Message: fmt.Sprintf(format, args...)})
}

// lookup returns the lookup of key, creating it with mk the first time.
func (ch *awsCheck) lookup(key string, mk func() *awsLookup) *awsLookup {
	if l := ch.lookups[key]; l != nil {
		return l
	}
	l := mk()
	l.key = key
	ch.lookups[key] = l
	ch.order = append(ch.order, l)
	return l
}

// requireExecutionRole applies ECS's RegisterTaskDefinition rules: the agent fetches secrets,
// and on Fargate sends awslogs output, with the execution role.
func (ch *awsCheck) requireExecutionRole(spec *hashike.JobSpec) {
	td := &spec.TaskDefinition
	if td.ExecutionRoleArn != "" {
		return
	}
	var secrets, awslogs bool
	for _, cd := range td.ContainerDefinitions {
		secrets = secrets || len(cd.Secrets) > 0
		awslogs = awslogs || cd.LogConfiguration != nil && cd.LogConfiguration.LogDriver == "awslogs"
	}
	switch {
	case secrets:
		ch.add(hashike.SeverityError, "taskDefinition.executionRoleArn", "is required: containers use secrets, which ECS fetches with the task execution role")
	case awslogs && onFargate(spec):
		ch.add(hashike.SeverityError, "taskDefinition.executionRoleArn", "is required: on Fargate the awslogs driver sends logs with the task execution role")
	}
}

// onFargate reports whether the task may run on Fargate: its definition requires it, or the run
// options launch it there.
func onFargate(spec *hashike.JobSpec) bool {
	if slices.Contains(spec.TaskDefinition.RequiresCompatibilities, "FARGATE") {
		return true
	}
	if o := spec.ECS; o != nil {
		if o.LaunchType == "FARGATE" {
			return true
		}
		for _, s := range o.CapacityProviderStrategy {
			if s.CapacityProvider == "FARGATE" || s.CapacityProvider == "FARGATE_SPOT" {
				return true
			}
		}
	}
	return false
}

func (ch *awsCheck) role(path, arn string) {
	if arn == "" || ch.c.IAM == nil {
		return
	}
	name, ok := roleName(arn)
	if !ok {
		ch.add(hashike.SeverityError, path, "%q is not an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME)", arn)
		return
	}
	l := ch.lookup("role\x00"+name, func() *awsLookup {
		return &awsLookup{what: "role " + name, perm: "iam:GetRole", do: func(ctx context.Context) awsResult {
			_, err := ch.c.IAM.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(name)})
			return outcomeOf(err, "NoSuchEntity")
		}}
	})
	ch.uses = append(ch.uses, awsUse{path: path, l: l})
}

// roleName is the name GetRole takes: the last element of the ARN's path, or arn itself when
// it is a bare name (ECS accepts those too).
func roleName(arn string) (string, bool) {
	if !strings.HasPrefix(arn, "arn:") {
		return arn, arn != "" && !strings.ContainsAny(arn, ":/")
	}
	p := strings.SplitN(arn, ":", 6)
	if len(p) != 6 || p[2] != "iam" || !strings.HasPrefix(p[5], "role/") {
		return "", false
	}
	name := p[5][strings.LastIndex(p[5], "/")+1:]
	return name, name != ""
}

// smReference is the Parameter Store path through which a Secrets Manager secret can be named.
const smReference = "/aws/reference/secretsmanager/"

func (ch *awsCheck) secret(path, valueFrom string) {
	p := strings.Split(valueFrom, ":")
	switch {
	case valueFrom == "":
		return // spec validation reports it
	case len(p) >= 6 && p[0] == "arn" && p[2] == "secretsmanager":
		// arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME[-XXXXXX][:json-key:version-stage:version-id]
		if len(p) < 7 || len(p) > 10 || p[5] != "secret" || p[6] == "" {
			ch.add(hashike.SeverityError, path, "%q is not a Secrets Manager secret ARN (arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME[:json-key:version-stage:version-id])", valueFrom)
			return
		}
		u := awsUse{path: path}
		if len(p) > 8 {
			u.stage = p[8]
		}
		if len(p) > 9 {
			u.versionID = p[9]
		}
		if u.stage != "" && u.versionID != "" {
			ch.add(hashike.SeverityError, path, "give either a version stage or a version id, not both")
			return
		}
		ch.secretUse(u, strings.Join(p[:7], ":"), p[3])
	case len(p) >= 6 && p[0] == "arn" && p[2] == "ssm":
		// arn:aws:ssm:REGION:ACCOUNT:parameter/NAME; "/a/b" is parameter/a/b.
		res := strings.Join(p[5:], ":")
		name, ok := strings.CutPrefix(res, "parameter/")
		if !ok || name == "" {
			ch.add(hashike.SeverityError, path, "%q is not an SSM parameter ARN (arn:aws:ssm:REGION:ACCOUNT:parameter/NAME)", valueFrom)
			return
		}
		if ref, ok := strings.CutPrefix("/"+name, smReference); ok {
			ch.secretUse(awsUse{path: path}, ref, p[3])
			return
		}
		ch.param(path, valueFrom, p[3])
	case strings.HasPrefix(valueFrom, "arn:"):
		ch.add(hashike.SeverityError, path, "%q is neither a Secrets Manager secret nor an SSM parameter", valueFrom)
	default:
		if ref, ok := strings.CutPrefix(valueFrom, smReference); ok {
			ch.secretUse(awsUse{path: path}, ref, "")
			return
		}
		ch.param(path, valueFrom, "")
	}
}

func (ch *awsCheck) secretUse(u awsUse, id, region string) {
	if ch.c.SecretsManager == nil || ch.otherRegion(u.path, "secret "+id, region) {
		return
	}
	u.l = ch.lookup("secret\x00"+id, func() *awsLookup {
		return &awsLookup{what: "Secrets Manager secret " + id, perm: "secretsmanager:DescribeSecret", do: func(ctx context.Context) awsResult {
			out, err := ch.c.SecretsManager.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(id)})
			r := outcomeOf(err, "ResourceNotFoundException")
			if r.outcome == outcomeFound {
				r.versions = out.VersionIdsToStages
				if out.DeletedDate != nil {
					r.note = fmt.Sprintf("Secrets Manager secret %s is scheduled for deletion on %s: ECS cannot read it", id, out.DeletedDate.UTC().Format("2006-01-02"))
				}
			}
			return r
		}}
	})
	ch.uses = append(ch.uses, u)
}

func (ch *awsCheck) param(path, name, region string) {
	if ch.c.SSM == nil || ch.otherRegion(path, "parameter "+name, region) {
		return
	}
	l := ch.lookup("param\x00"+name, func() *awsLookup {
		l := &awsLookup{id: name, what: "SSM parameter " + name, perm: "ssm:GetParameters"}
		ch.params = append(ch.params, l)
		return l
	})
	ch.uses = append(ch.uses, awsUse{path: path, l: l})
}

func (ch *awsCheck) logGroup(path string, opts map[string]string) {
	group := opts["awslogs-group"]
	if group == "" || strings.EqualFold(opts["awslogs-create-group"], "true") || ch.c.LogGroups == nil {
		return
	}
	path += ".awslogs-group"
	if ch.otherRegion(path, "log group "+group, opts["awslogs-region"]) {
		return
	}
	l := ch.lookup("group\x00"+group, func() *awsLookup {
		return &awsLookup{what: "log group " + group, perm: "logs:DescribeLogGroups", do: func(ctx context.Context) awsResult {
			// The group, if it exists, is the first of those its name prefixes: no paging.
			out, err := ch.c.LogGroups.DescribeLogGroups(ctx, &cloudwatchlogs.DescribeLogGroupsInput{LogGroupNamePrefix: aws.String(group)})
			r := outcomeOf(err, "ResourceNotFoundException")
			if r.outcome == outcomeFound && !slices.ContainsFunc(out.LogGroups, func(g logstypes.LogGroup) bool { return aws.ToString(g.LogGroupName) == group }) {
				r.outcome = outcomeMissing
			}
			return r
		}}
	})
	ch.uses = append(ch.uses, awsUse{path: path, l: l})
}

// otherRegion warns and reports true when region names another region than the clients'.
func (ch *awsCheck) otherRegion(path, what, region string) bool {
	if region == "" || ch.c.Region == "" || region == ch.c.Region {
		return false
	}
	ch.add(hashike.SeverityWarning, path, "not checked: %s is in %s, the check ran in %s", what, region, ch.c.Region)
	return true
}

// outcomeOf sorts a lookup's error: notFound is the code for "does not exist".
func outcomeOf(err error, notFound string) awsResult {
	switch code := apiCode(err); {
	case err == nil:
		return awsResult{outcome: outcomeFound}
	case code != "" && code == notFound:
		return awsResult{outcome: outcomeMissing, err: err}
	case accessDenied(code):
		return awsResult{outcome: outcomeDenied, err: err}
	}
	return awsResult{outcome: outcomeFailed, err: err}
}

func accessDenied(code string) bool {
	switch code {
	case "AccessDenied", "AccessDeniedException":
		return true
	}
	return false
}

// run makes the lookups, checkAWSConcurrency at a time; SSM names go ten a call.
func (ch *awsCheck) run(ctx context.Context) {
	var jobs []func()
	for _, l := range ch.order {
		if l.do != nil {
			jobs = append(jobs, func() { l.res = l.do(ctx) })
		}
	}
	for batch := range slices.Chunk(ch.params, ssmBatch) {
		jobs = append(jobs, func() { ch.getParameters(ctx, batch) })
	}
	sem := make(chan struct{}, checkAWSConcurrency)
	var wg sync.WaitGroup
	for _, job := range jobs {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			job()
		})
	}
	wg.Wait()
}

// getParameters looks up batch (at most ten names): GetParameters answers for unknown names
// in InvalidParameters, not with an error.
func (ch *awsCheck) getParameters(ctx context.Context, batch []*awsLookup) {
	names := make([]string, len(batch))
	for i, l := range batch {
		names[i] = l.id
	}
	out, err := ch.c.SSM.GetParameters(ctx, &ssm.GetParametersInput{Names: names})
	r := outcomeOf(err, "")
	for i, l := range batch {
		l.res = r
		if err == nil && slices.Contains(out.InvalidParameters, names[i]) {
			l.res = awsResult{outcome: outcomeMissing}
		}
	}
}

// report turns the lookups' results into problems, after those found without AWS.
func (ch *awsCheck) report() []hashike.FieldError {
	out := ch.out
	add := func(sev hashike.Severity, path, format string, args ...any) {
		out = append(out, hashike.FieldError{Path: path, Severity: sev, Message: fmt.Sprintf(format, args...)})
	}
	for _, u := range ch.uses {
		r := u.l.res
		switch r.outcome {
		case outcomeMissing:
			add(hashike.SeverityError, u.path, "%s does not exist", u.l.what)
		case outcomeDenied:
			add(hashike.SeverityWarning, u.path, "cannot verify that %s exists: %s is not allowed (%s)", u.l.what, u.l.perm, apiCode(r.err))
		case outcomeFailed:
			add(hashike.SeverityError, u.path, "cannot verify that %s exists: %v", u.l.what, r.err)
		case outcomeFound:
			if r.note != "" {
				add(hashike.SeverityError, u.path, "%s", r.note)
			}
			if problem := versionProblem(r.versions, u.stage, u.versionID); problem != "" {
				add(hashike.SeverityError, u.path, "%s %s", u.l.what, problem)
			}
		}
	}
	return out
}

// versionProblem says what is wrong with the secret version valueFrom selects, if anything.
func versionProblem(versions map[string][]string, stage, id string) string {
	switch {
	case id != "":
		if _, ok := versions[id]; !ok {
			return fmt.Sprintf("has no version %s", id)
		}
	case stage != "":
		for _, stages := range versions {
			if slices.Contains(stages, stage) {
				return ""
			}
		}
		return fmt.Sprintf("has no version labelled %s", stage)
	}
	return ""
}
