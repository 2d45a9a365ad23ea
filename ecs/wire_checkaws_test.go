package ecs_test

// Wire-level tests of CheckAWS's lookups, in the style of wire_test.go: IAM speaks the AWS
// Query protocol (form-encoded requests, XML answers, errors as <ErrorResponse>); Secrets
// Manager, SSM and CloudWatch Logs speak AWS JSON 1.1 (X-Amz-Target, errors by __type).

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	logstypes "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/aws/smithy-go"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/ecs"
)

const (
	smTarget  = "secretsmanager."
	ssmTarget = "AmazonSSM."
)

func newIAM(url string, c *http.Client) *iam.Client {
	return iam.New(iam.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(url),
		Credentials:  aws.NewCredentialsCache(aws.CredentialsProviderFunc(wireCredentials)),
		HTTPClient:   c,
		Retryer:      aws.NopRetryer{},
	})
}

func newSecretsManager(url string, c *http.Client) *secretsmanager.Client {
	return secretsmanager.New(secretsmanager.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(url),
		Credentials:  aws.NewCredentialsCache(aws.CredentialsProviderFunc(wireCredentials)),
		HTTPClient:   c,
		Retryer:      aws.NopRetryer{},
	})
}

func newSSM(url string, c *http.Client) *ssm.Client {
	return ssm.New(ssm.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(url),
		Credentials:  aws.NewCredentialsCache(aws.CredentialsProviderFunc(wireCredentials)),
		HTTPClient:   c,
		Retryer:      aws.NopRetryer{},
	})
}

func newLogGroups(url string, c *http.Client) *cloudwatchlogs.Client {
	return cloudwatchlogs.New(cloudwatchlogs.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(url),
		Credentials:  aws.NewCredentialsCache(aws.CredentialsProviderFunc(wireCredentials)),
		HTTPClient:   c,
		Retryer:      aws.NopRetryer{},
	})
}

// iamRequest asserts an IAM Query request: form body equal to wantFile (one key=value a line)
// and a signature for iam.
func iamRequest(wantFile string) func(*testing.T, *http.Request, []byte) {
	return func(t *testing.T, r *http.Request, body []byte) {
		if got := r.Header.Get("Content-Type"); got != "application/x-www-form-urlencoded" {
			t.Errorf("Content-Type = %q, want application/x-www-form-urlencoded", got)
		}
		signedFor(t, r, "iam")
		got, err := url.ParseQuery(string(body))
		if err != nil {
			t.Fatalf("parse form %q: %v", body, err)
		}
		want, err := url.ParseQuery(strings.Join(strings.Fields(string(readWire(t, wantFile))), "&"))
		if err != nil {
			t.Fatalf("parse %s: %v", wantFile, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("form body:\n got %v\nwant %v", got, want)
		}
	}
}

// TestWireCheckAWSCoversEveryMethod: each method of CheckAWS's interfaces has a canned
// response.
func TestWireCheckAWSCoversEveryMethod(t *testing.T) {
	for _, iface := range []reflect.Type{
		reflect.TypeFor[ecs.IAMAPI](),
		reflect.TypeFor[ecs.SecretsManagerAPI](),
		reflect.TypeFor[ecs.SSMAPI](),
		reflect.TypeFor[ecs.LogGroupsAPI](),
	} {
		for m := range iface.Methods() {
			if matches, _ := filepath.Glob(filepath.Join(wireDir, m.Name+".*response.*")); len(matches) == 0 {
				t.Errorf("%s.%s has no %s/%s.*response.* exchange", iface.Name(), m.Name, wireDir, m.Name)
			}
		}
	}
}

func TestWireGetRole(t *testing.T) {
	srv, calls := wireServer(t, iamRequest("GetRole.request.txt"), wireReply{file: "GetRole.response.xml"})
	out, err := newIAM(srv.URL, srv.Client()).GetRole(t.Context(), &iam.GetRoleInput{RoleName: aws.String("report-task")})
	if err != nil {
		t.Fatal(err)
	}
	r := out.Role
	ptrEq(t, "roleName", r.RoleName, "report-task")
	ptrEq(t, "arn", r.Arn, "arn:aws:iam::123456789012:role/report-task")
	ptrEq(t, "path", r.Path, "/")
	ptrEq(t, "maxSessionDuration", r.MaxSessionDuration, 3600)
	// Query-protocol timestamps are ISO 8601.
	timeEq(t, "createDate", r.CreateDate, 1673339400000)
	// The trust policy comes URL-encoded, as IAM stores it.
	doc, err := url.QueryUnescape(aws.ToString(r.AssumeRolePolicyDocument))
	if err != nil || !strings.Contains(doc, `"Service":"ecs-tasks.amazonaws.com"`) {
		t.Errorf("assumeRolePolicyDocument = %q (%v)", doc, err)
	}
	eq(t, "calls", calls.Load(), 1)
}

func TestWireDescribeSecret(t *testing.T) {
	srv, _ := wireServer(t, jsonRequest(smTarget+"DescribeSecret", "secretsmanager", "DescribeSecret.request.json"), wireReply{file: "DescribeSecret.response.json"})
	out, err := newSecretsManager(srv.URL, srv.Client()).DescribeSecret(t.Context(), &secretsmanager.DescribeSecretInput{
		SecretId: aws.String("arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf"),
	})
	if err != nil {
		t.Fatal(err)
	}
	ptrEq(t, "ARN", out.ARN, "arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf")
	ptrEq(t, "Name", out.Name, "db")
	timeEq(t, "LastChangedDate", out.LastChangedDate, 1699999000123) // fractional epoch seconds
	isNil(t, "DeletedDate", out.DeletedDate)
	sliceEq(t, "stages of ...0001", out.VersionIdsToStages["a1b2c3d4-5678-4abc-9def-000000000001"], []string{"AWSPREVIOUS"})
}

func TestWireGetParameters(t *testing.T) {
	srv, _ := wireServer(t, jsonRequest(ssmTarget+"GetParameters", "ssm", "GetParameters.request.json"), wireReply{file: "GetParameters.response.json"})
	out, err := newSSM(srv.URL, srv.Client()).GetParameters(t.Context(), &ssm.GetParametersInput{
		Names: []string{"/hashike/api-key", "arn:aws:ssm:us-east-1:123456789012:parameter/hashike/db-url", "/hashike/missing"},
	})
	if err != nil {
		t.Fatal(err)
	}
	// Unknown names are not an error: they come back in InvalidParameters, as sent.
	sliceEq(t, "InvalidParameters", out.InvalidParameters, []string{"/hashike/missing"})
	if len(out.Parameters) != 2 {
		t.Fatalf("Parameters = %d, want 2", len(out.Parameters))
	}
	p := out.Parameters[0]
	ptrEq(t, "Name", p.Name, "/hashike/api-key")
	eq(t, "Type", p.Type, ssmtypes.ParameterTypeSecureString)
	eq(t, "Version", p.Version, 3)
	timeEq(t, "LastModifiedDate", p.LastModifiedDate, 1699999000456)
}

func TestWireDescribeLogGroups(t *testing.T) {
	srv, _ := wireServer(t, jsonRequest(logsTarget+"DescribeLogGroups", "logs", "DescribeLogGroups.request.json"), wireReply{file: "DescribeLogGroups.response.json"})
	out, err := newLogGroups(srv.URL, srv.Client()).DescribeLogGroups(t.Context(), &cloudwatchlogs.DescribeLogGroupsInput{
		LogGroupNamePrefix: aws.String("/hashike/report"),
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.LogGroups) != 2 {
		t.Fatalf("logGroups = %d, want 2", len(out.LogGroups))
	}
	g := out.LogGroups[0]
	ptrEq(t, "logGroupName", g.LogGroupName, "/hashike/report")
	ptrEq(t, "retentionInDays", g.RetentionInDays, 30)
	ptrEq(t, "storedBytes", g.StoredBytes, 1048576)
	eq(t, "logGroupClass", out.LogGroups[1].LogGroupClass, logstypes.LogGroupClassInfrequentAccess)
	isNil(t, "nextToken", out.NextToken)
}

// TestWireCheckAWSErrors: the not-found and access-denied shapes, decoded by the SDK, are
// what CheckAWS branches on.
func TestWireCheckAWSErrors(t *testing.T) {
	t.Run("IAM NoSuchEntity", func(t *testing.T) {
		srv, _ := wireServer(t, nil, wireReply{status: 404, file: "error.iam.NoSuchEntity.xml"})
		_, err := newIAM(srv.URL, srv.Client()).GetRole(t.Context(), &iam.GetRoleInput{RoleName: aws.String("missing-role")})
		var nse *iamtypes.NoSuchEntityException
		if !errors.As(err, &nse) || nse.ErrorCode() != "NoSuchEntity" || nse.ErrorMessage() != "The role with name missing-role cannot be found." {
			t.Errorf("err = %v, want NoSuchEntity", err)
		}
	})
	t.Run("IAM AccessDenied", func(t *testing.T) {
		srv, _ := wireServer(t, nil, wireReply{status: 403, file: "error.iam.AccessDenied.xml"})
		_, err := newIAM(srv.URL, srv.Client()).GetRole(t.Context(), &iam.GetRoleInput{RoleName: aws.String("report-task")})
		eq(t, "code", errCode(err), "AccessDenied")
	})
	t.Run("Secrets Manager ResourceNotFoundException", func(t *testing.T) {
		srv, _ := wireServer(t, nil, wireReply{status: 400, file: "error.secretsmanager.ResourceNotFoundException.json"})
		_, err := newSecretsManager(srv.URL, srv.Client()).DescribeSecret(t.Context(), &secretsmanager.DescribeSecretInput{SecretId: aws.String("nope")})
		var rnf *smtypes.ResourceNotFoundException
		if !errors.As(err, &rnf) || rnf.ErrorMessage() != "Secrets Manager can't find the specified secret." {
			t.Errorf("err = %v, want ResourceNotFoundException with its Message", err)
		}
	})
	t.Run("SSM AccessDeniedException", func(t *testing.T) {
		srv, _ := wireServer(t, nil, wireReply{status: 400, file: "error.ssm.AccessDeniedException.json"})
		_, err := newSSM(srv.URL, srv.Client()).GetParameters(t.Context(), &ssm.GetParametersInput{Names: []string{"/hashike/api-key"}})
		eq(t, "code", errCode(err), "AccessDeniedException")
	})
	t.Run("SSM ValidationException", func(t *testing.T) {
		srv, _ := wireServer(t, nil, wireReply{status: 400, file: "error.ssm.ValidationException.json"})
		_, err := newSSM(srv.URL, srv.Client()).GetParameters(t.Context(), &ssm.GetParametersInput{Names: []string{"p0"}})
		eq(t, "code", errCode(err), "ValidationException")
	})
	t.Run("Logs: no group is an empty list, not an error", func(t *testing.T) {
		srv, _ := wireServer(t, nil, wireReply{file: "DescribeLogGroups.empty.response.json"})
		out, err := newLogGroups(srv.URL, srv.Client()).DescribeLogGroups(t.Context(), &cloudwatchlogs.DescribeLogGroupsInput{LogGroupNamePrefix: aws.String("/nope")})
		if err != nil || len(out.LogGroups) != 0 {
			t.Errorf("DescribeLogGroups = %v, %v; want no groups, no error", out, err)
		}
	})
	t.Run("Logs AccessDeniedException", func(t *testing.T) {
		srv, _ := wireServer(t, nil, wireReply{status: 400, file: "error.logs.AccessDeniedException.json"})
		_, err := newLogGroups(srv.URL, srv.Client()).DescribeLogGroups(t.Context(), &cloudwatchlogs.DescribeLogGroupsInput{LogGroupNamePrefix: aws.String("/x")})
		eq(t, "code", errCode(err), "AccessDeniedException")
	})
}

// awsRoute is one canned exchange of wireAWS, chosen by the request's operation and, when
// match is set, by a substring of its body.
type awsRoute struct {
	op, match string
	reply     wireReply
}

// wireAWS is one server standing in for IAM, Secrets Manager, SSM and CloudWatch Logs: it
// tells the operation by X-Amz-Target or the form's Action.
func wireAWS(t *testing.T, routes ...awsRoute) (ecs.AWSClients, func(op string) int) {
	t.Helper()
	var mu sync.Mutex
	calls := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		op := r.Header.Get("X-Amz-Target")
		if op == "" {
			form, _ := url.ParseQuery(string(body))
			op = form.Get("Action")
		}
		op = op[strings.LastIndex(op, ".")+1:]
		mu.Lock()
		calls[op]++
		mu.Unlock()
		for _, rt := range routes {
			if rt.op != op || !strings.Contains(string(body), rt.match) {
				continue
			}
			b := readWire(t, rt.reply.file)
			if strings.HasSuffix(rt.reply.file, ".xml") {
				w.Header().Set("Content-Type", "text/xml")
			} else {
				w.Header().Set("Content-Type", "application/x-amz-json-1.1")
			}
			w.WriteHeader(max(rt.reply.status, http.StatusOK))
			w.Write(b)
			return
		}
		t.Errorf("no route for %s %s", op, body)
		w.WriteHeader(http.StatusInternalServerError)
	}))
	t.Cleanup(srv.Close)
	c := srv.Client()
	return ecs.AWSClients{
			IAM: newIAM(srv.URL, c), SecretsManager: newSecretsManager(srv.URL, c),
			SSM: newSSM(srv.URL, c), LogGroups: newLogGroups(srv.URL, c), Region: "us-east-1",
		}, func(op string) int {
			mu.Lock()
			defer mu.Unlock()
			return calls[op]
		}
}

// TestWireCheckAWS runs CheckAWS against the real clients: a found role, a missing one, a
// secret scheduled for deletion, a parameter SSM lists as invalid, a log group only prefixed
// by others, and an access-denied lookup.
func TestWireCheckAWS(t *testing.T) {
	clients, calls := wireAWS(t,
		awsRoute{op: "GetRole", match: "RoleName=report-task", reply: wireReply{file: "GetRole.response.xml"}},
		awsRoute{op: "GetRole", match: "RoleName=missing-role", reply: wireReply{status: 404, file: "error.iam.NoSuchEntity.xml"}},
		awsRoute{op: "DescribeSecret", match: "db-AbCdEf", reply: wireReply{file: "DescribeSecret.deleted.response.json"}},
		awsRoute{op: "DescribeSecret", match: "gone", reply: wireReply{status: 400, file: "error.secretsmanager.ResourceNotFoundException.json"}},
		awsRoute{op: "GetParameters", reply: wireReply{file: "GetParameters.response.json"}},
		awsRoute{op: "DescribeLogGroups", match: `"/hashike/report"`, reply: wireReply{file: "DescribeLogGroups.response.json"}},
		awsRoute{op: "DescribeLogGroups", match: `"/hashike"`, reply: wireReply{file: "DescribeLogGroups.response.json"}},
		awsRoute{op: "DescribeLogGroups", match: `"/denied"`, reply: wireReply{status: 400, file: "error.logs.AccessDeniedException.json"}},
	)
	awslogs := func(group string) *hashike.LogConfiguration {
		return &hashike.LogConfiguration{LogDriver: "awslogs", Options: map[string]string{"awslogs-group": group, "awslogs-stream-prefix": "x"}}
	}
	spec := &hashike.JobSpec{TaskDefinition: hashike.TaskDefinition{
		Family:           "report",
		TaskRoleArn:      "arn:aws:iam::123456789012:role/report-task",
		ExecutionRoleArn: "arn:aws:iam::123456789012:role/missing-role",
		ContainerDefinitions: []hashike.ContainerDefinition{
			{Name: "main", Image: "x", LogConfiguration: awslogs("/hashike/report"), Secrets: []hashike.Secret{
				{Name: "A", ValueFrom: "arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf"},
				{Name: "B", ValueFrom: "arn:aws:secretsmanager:us-east-1:123456789012:secret:gone-AAAAAA:k::"},
				{Name: "C", ValueFrom: "/hashike/api-key"},
				{Name: "D", ValueFrom: "/hashike/missing"},
			}},
			{Name: "side", Image: "x", LogConfiguration: awslogs("/hashike")},
			{Name: "third", Image: "x", LogConfiguration: awslogs("/denied")},
		},
	}}
	c0 := "taskDefinition.containerDefinitions[0]"
	matchFieldErrors(t, ecs.CheckAWS(t.Context(), spec, clients), []awsProblem{
		awsErr("taskDefinition.executionRoleArn", "role missing-role does not exist"),
		awsErr(c0+".secrets[0].valueFrom", "is scheduled for deletion on 2023-11-21"),
		awsErr(c0+".secrets[1].valueFrom", "secret arn:aws:secretsmanager:us-east-1:123456789012:secret:gone-AAAAAA does not exist"),
		awsErr(c0+".secrets[3].valueFrom", "SSM parameter /hashike/missing does not exist"),
		awsErr("taskDefinition.containerDefinitions[1].logConfiguration.options.awslogs-group", "log group /hashike does not exist"),
		awsWarn("taskDefinition.containerDefinitions[2].logConfiguration.options.awslogs-group", "logs:DescribeLogGroups is not allowed (AccessDeniedException)"),
	})
	eq(t, "GetParameters calls", calls("GetParameters"), 1)
	eq(t, "GetRole calls", calls("GetRole"), 2)
}

func errCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}
