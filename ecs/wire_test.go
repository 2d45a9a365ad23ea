package ecs_test

// Wire-level tests: the real SDK clients talk to an httptest server through BaseEndpoint, so
// what the backend sends and what it reads back are checked against the SDK's own serializers
// and deserializers (that is, the service model), not against awsfake. The server asserts the
// request body the SDK produced; canned responses under testdata/wire are written as the real
// services answer (epoch-second timestamps in JSON, integers where the model has integers).

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	logstypes "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"
	awsecs "github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/smithy-go"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/ecs"
)

const (
	ecsTarget  = "AmazonEC2ContainerServiceV20141113."
	logsTarget = "Logs_20140328."
	wireDir    = "testdata/wire"

	taskArn1 = "arn:aws:ecs:us-east-1:123456789012:task/hashike/0f9de9d1e3f94f6a9c8e2a5b7e4d3c21"
	taskArn2 = "arn:aws:ecs:us-east-1:123456789012:task/hashike/7a6b5c4d3e2f4a1b9c8d7e6f5a4b3c2d"
	taskArn3 = "arn:aws:ecs:us-east-1:123456789012:task/hashike/deadbeefdeadbeefdeadbeefdeadbeef"
	ciArn1   = "arn:aws:ecs:us-east-1:123456789012:container-instance/hashike/9f0a8b7c6d5e4f3a2b1c0d9e8f7a6b5c"
	ciArn2   = "arn:aws:ecs:us-east-1:123456789012:container-instance/hashike/1a2b3c4d5e6f4a7b8c9d0e1f2a3b4c5d"
	ciArn3   = "arn:aws:ecs:us-east-1:123456789012:container-instance/hashike/00000000000000000000000000000000"
	tdArn    = "arn:aws:ecs:us-east-1:123456789012:task-definition/hashike-report:7"
)

// wireCredentials are static: the SDK signs every request, and the server checks the
// signature's scope names the right service.
func wireCredentials(context.Context) (aws.Credentials, error) {
	return aws.Credentials{AccessKeyID: "AKIDWIRETEST", SecretAccessKey: "wire-test-secret", Source: "wire_test"}, nil
}

// The clients retry nothing, so a throttling answer is seen exactly once.

func newECS(srv *httptest.Server) ecs.ECSAPI {
	return awsecs.New(awsecs.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(srv.URL),
		Credentials:  aws.NewCredentialsCache(aws.CredentialsProviderFunc(wireCredentials)),
		HTTPClient:   srv.Client(),
		Retryer:      aws.NopRetryer{},
	})
}

func newLogs(srv *httptest.Server) ecs.LogsAPI {
	return cloudwatchlogs.New(cloudwatchlogs.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(srv.URL),
		Credentials:  aws.NewCredentialsCache(aws.CredentialsProviderFunc(wireCredentials)),
		HTTPClient:   srv.Client(),
		Retryer:      aws.NopRetryer{},
	})
}

func newAutoScaling(srv *httptest.Server) ecs.AutoScalingAPI {
	return autoscaling.New(autoscaling.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(srv.URL),
		Credentials:  aws.NewCredentialsCache(aws.CredentialsProviderFunc(wireCredentials)),
		HTTPClient:   srv.Client(),
		Retryer:      aws.NopRetryer{},
	})
}

// wireReply is the server's canned answer.
type wireReply struct {
	status int    // default 200
	header string // X-Amzn-ErrorType, when set
	file   string // under testdata/wire; .xml answers are text/xml
	body   string // instead of file
}

// wireServer answers every request with reply after check has looked at it, and counts the
// requests so a test can tell the SDK did not retry.
func wireServer(t *testing.T, check func(t *testing.T, r *http.Request, body []byte), reply wireReply) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	body := []byte(reply.body)
	if reply.file != "" {
		body = readWire(t, reply.file)
	}
	contentType := "application/x-amz-json-1.1"
	if strings.HasSuffix(reply.file, ".xml") {
		contentType = "text/xml"
	}
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		got, err := io.ReadAll(r.Body)
		if err != nil {
			t.Errorf("read request body: %v", err)
		}
		if r.Method != http.MethodPost || r.URL.Path != "/" {
			t.Errorf("request %s %s, want POST /", r.Method, r.URL.Path)
		}
		if check != nil {
			check(t, r, got)
		}
		w.Header().Set("Content-Type", contentType)
		w.Header().Set("X-Amzn-RequestId", "0b1c2d3e-0000-4f5a-8b9c-0d1e2f3a4b5c")
		if reply.header != "" {
			w.Header().Set("X-Amzn-ErrorType", reply.header)
		}
		status := reply.status
		if status == 0 {
			status = http.StatusOK
		}
		w.WriteHeader(status)
		w.Write(body)
	}))
	t.Cleanup(srv.Close)
	return srv, &calls
}

func readWire(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(wireDir, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// signedFor checks the request is SigV4-signed for service in us-east-1.
func signedFor(t *testing.T, r *http.Request, service string) {
	t.Helper()
	auth := r.Header.Get("Authorization")
	if !strings.HasPrefix(auth, "AWS4-HMAC-SHA256 Credential=AKIDWIRETEST/") ||
		!strings.Contains(auth, "/us-east-1/"+service+"/aws4_request") {
		t.Errorf("Authorization = %q, want a SigV4 signature for %s in us-east-1", auth, service)
	}
}

// jsonRequest asserts an AWS JSON 1.1 request: target header, content type, signature, and,
// when wantFile is set, a body equal (as JSON, numbers compared as written) to the file.
func jsonRequest(target, service, wantFile string) func(*testing.T, *http.Request, []byte) {
	return func(t *testing.T, r *http.Request, body []byte) {
		if got := r.Header.Get("X-Amz-Target"); got != target {
			t.Errorf("X-Amz-Target = %q, want %q", got, target)
		}
		if got := r.Header.Get("Content-Type"); got != "application/x-amz-json-1.1" {
			t.Errorf("Content-Type = %q, want application/x-amz-json-1.1", got)
		}
		signedFor(t, r, service)
		if wantFile == "" {
			return
		}
		want := readWire(t, wantFile)
		if !jsonEqual(t, body, want) {
			var compact bytes.Buffer
			json.Compact(&compact, want)
			t.Errorf("%s request body:\n got %s\nwant %s", target, body, compact.Bytes())
		}
	}
}

func jsonEqual(t *testing.T, a, b []byte) bool {
	t.Helper()
	var va, vb any
	for _, p := range []struct {
		raw []byte
		v   *any
	}{{a, &va}, {b, &vb}} {
		d := json.NewDecoder(bytes.NewReader(p.raw))
		d.UseNumber() // 256 and "256" differ, and so do 256 and 256.0
		if err := d.Decode(p.v); err != nil {
			t.Errorf("decode %s: %v", p.raw, err)
			return false
		}
	}
	return reflect.DeepEqual(va, vb)
}

// queryRequest asserts an AWS Query request: form-encoded body equal to wantFile, which
// holds one key=value a line.
func queryRequest(wantFile string) func(*testing.T, *http.Request, []byte) {
	return func(t *testing.T, r *http.Request, body []byte) {
		if got := r.Header.Get("Content-Type"); got != "application/x-www-form-urlencoded" {
			t.Errorf("Content-Type = %q, want application/x-www-form-urlencoded", got)
		}
		signedFor(t, r, "autoscaling")
		got, err := url.ParseQuery(string(body))
		if err != nil {
			t.Fatalf("parse form %q: %v", body, err)
		}
		lines := strings.Fields(string(readWire(t, wantFile)))
		want, err := url.ParseQuery(strings.Join(lines, "&"))
		if err != nil {
			t.Fatalf("parse %s: %v", wantFile, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("form body:\n got %v\nwant %v", got, want)
		}
	}
}

func eq[T comparable](t *testing.T, what string, got, want T) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

func ptrEq[T comparable](t *testing.T, what string, got *T, want T) {
	t.Helper()
	if got == nil {
		t.Errorf("%s = nil, want %v", what, want)
		return
	}
	eq(t, what, *got, want)
}

func isNil[T any](t *testing.T, what string, got *T) {
	t.Helper()
	if got != nil {
		t.Errorf("%s = %v, want nil (absent)", what, *got)
	}
}

// timeEq checks a decoded timestamp against Unix milliseconds.
func timeEq(t *testing.T, what string, got *time.Time, wantMillis int64) {
	t.Helper()
	want := time.UnixMilli(wantMillis)
	if got == nil {
		t.Errorf("%s = nil, want %v", what, want.UTC())
		return
	}
	if !got.Equal(want) {
		t.Errorf("%s = %v (%d ms), want %v (%d ms)", what, got.UTC(), got.UnixMilli(), want.UTC(), wantMillis)
	}
}

func sliceEq[T comparable](t *testing.T, what string, got, want []T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) && !(len(got) == 0 && len(want) == 0) {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

// TestWireCoversEveryMethod keeps this file honest: each method of the narrow interfaces
// has a canned response (and so a TestWire test reading it).
func TestWireCoversEveryMethod(t *testing.T) {
	for _, iface := range []reflect.Type{
		reflect.TypeFor[ecs.ECSAPI](),
		reflect.TypeFor[ecs.AutoScalingAPI](),
		reflect.TypeFor[ecs.LogsAPI](),
	} {
		for m := range iface.Methods() {
			matches, err := filepath.Glob(filepath.Join(wireDir, m.Name+".*response.*"))
			if err != nil {
				t.Fatal(err)
			}
			if len(matches) == 0 {
				t.Errorf("%s.%s has no %s/%s.*response.* exchange", iface.Name(), m.Name, wireDir, m.Name)
			}
		}
	}
}

func registerInput() *awsecs.RegisterTaskDefinitionInput {
	return &awsecs.RegisterTaskDefinitionInput{
		Family:           aws.String("hashike-report"),
		TaskRoleArn:      aws.String("arn:aws:iam::123456789012:role/report-task"),
		ExecutionRoleArn: aws.String("arn:aws:iam::123456789012:role/ecsTaskExecutionRole"),
		NetworkMode:      ecstypes.NetworkModeBridge,
		ContainerDefinitions: []ecstypes.ContainerDefinition{
			{
				Name:              aws.String("main"),
				Image:             aws.String("123456789012.dkr.ecr.us-east-1.amazonaws.com/report:1.4.2"),
				Cpu:               256,
				Memory:            aws.Int32(512),
				MemoryReservation: aws.Int32(128),
				Essential:         aws.Bool(true),
				EntryPoint:        []string{"/bin/sh", "-c"},
				Command:           []string{`exec report --date "$RUN_DATE"`},
				Environment:       []ecstypes.KeyValuePair{{Name: aws.String("RUN_DATE"), Value: aws.String("2023-11-14")}},
				Secrets: []ecstypes.Secret{{
					Name:      aws.String("DB_PASSWORD"),
					ValueFrom: aws.String("arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf"),
				}},
				MountPoints: []ecstypes.MountPoint{{
					SourceVolume: aws.String("scratch"), ContainerPath: aws.String("/scratch"), ReadOnly: aws.Bool(false),
				}},
				DependsOn: []ecstypes.ContainerDependency{{
					ContainerName: aws.String("log-router"), Condition: ecstypes.ContainerConditionStart,
				}},
				StartTimeout:     aws.Int32(120),
				StopTimeout:      aws.Int32(30),
				WorkingDirectory: aws.String("/app"),
				User:             aws.String("1000:1000"),
				HealthCheck: &ecstypes.HealthCheck{
					Command:  []string{"CMD-SHELL", "test -f /tmp/ready"},
					Interval: aws.Int32(30), Timeout: aws.Int32(5), Retries: aws.Int32(3), StartPeriod: aws.Int32(10),
				},
				DockerLabels:           map[string]string{"hashike.job": "report"},
				ReadonlyRootFilesystem: aws.Bool(true),
				Ulimits:                []ecstypes.Ulimit{{Name: ecstypes.UlimitNameNofile, SoftLimit: 65536, HardLimit: 65536}},
				LogConfiguration: &ecstypes.LogConfiguration{
					LogDriver: ecstypes.LogDriverAwslogs,
					Options: map[string]string{
						"awslogs-group":         "/hashike/report",
						"awslogs-region":        "us-east-1",
						"awslogs-stream-prefix": "hashike",
					},
				},
			},
			{
				Name:              aws.String("log-router"),
				Image:             aws.String("public.ecr.aws/aws-observability/aws-for-fluent-bit:stable"),
				MemoryReservation: aws.Int32(64),
				Essential:         aws.Bool(false),
			},
		},
		Volumes: []ecstypes.Volume{
			{Name: aws.String("scratch"), Host: &ecstypes.HostVolumeProperties{SourcePath: aws.String("/var/lib/hashike/scratch")}},
			{Name: aws.String("cache"), DockerVolumeConfiguration: &ecstypes.DockerVolumeConfiguration{
				Scope:         ecstypes.ScopeShared,
				Autoprovision: aws.Bool(true),
				Driver:        aws.String("local"),
				DriverOpts:    map[string]string{"type": "tmpfs"},
				Labels:        map[string]string{"hashike": "cache"},
			}},
		},
		RequiresCompatibilities: []ecstypes.Compatibility{ecstypes.CompatibilityEc2},
		Cpu:                     aws.String("512"),
		Memory:                  aws.String("1024"),
		Tags:                    []ecstypes.Tag{{Key: aws.String("hashike:job"), Value: aws.String("report")}},
	}
}

// checkTaskDefinition checks the fields the backend compares when it decides whether the
// family's latest revision is the job's definition.
func checkTaskDefinition(t *testing.T, td *ecstypes.TaskDefinition, tags []ecstypes.Tag, registeredAt int64) {
	t.Helper()
	if td == nil {
		t.Fatal("taskDefinition = nil")
	}
	ptrEq(t, "taskDefinitionArn", td.TaskDefinitionArn, tdArn)
	ptrEq(t, "family", td.Family, "hashike-report")
	eq(t, "revision", td.Revision, 7)
	eq(t, "status", td.Status, ecstypes.TaskDefinitionStatusActive)
	eq(t, "networkMode", td.NetworkMode, ecstypes.NetworkModeBridge)
	ptrEq(t, "taskRoleArn", td.TaskRoleArn, "arn:aws:iam::123456789012:role/report-task")
	ptrEq(t, "executionRoleArn", td.ExecutionRoleArn, "arn:aws:iam::123456789012:role/ecsTaskExecutionRole")
	// Task-level cpu and memory are strings in the model; container-level ones integers.
	ptrEq(t, "cpu", td.Cpu, "512")
	ptrEq(t, "memory", td.Memory, "1024")
	sliceEq(t, "requiresCompatibilities", td.RequiresCompatibilities, []ecstypes.Compatibility{ecstypes.CompatibilityEc2})
	sliceEq(t, "compatibilities", td.Compatibilities, []ecstypes.Compatibility{ecstypes.CompatibilityExternal, ecstypes.CompatibilityEc2})
	timeEq(t, "registeredAt", td.RegisteredAt, registeredAt)
	eq(t, "len(requiresAttributes)", len(td.RequiresAttributes), 7)

	if len(td.ContainerDefinitions) != 2 {
		t.Fatalf("containerDefinitions = %d, want 2", len(td.ContainerDefinitions))
	}
	main, router := td.ContainerDefinitions[0], td.ContainerDefinitions[1]
	ptrEq(t, "main.name", main.Name, "main")
	eq(t, "main.cpu", main.Cpu, 256)
	ptrEq(t, "main.memory", main.Memory, 512)
	ptrEq(t, "main.memoryReservation", main.MemoryReservation, 128)
	ptrEq(t, "main.essential", main.Essential, true)
	sliceEq(t, "main.entryPoint", main.EntryPoint, []string{"/bin/sh", "-c"})
	sliceEq(t, "main.command", main.Command, []string{`exec report --date "$RUN_DATE"`})
	if len(main.Environment) != 1 || aws.ToString(main.Environment[0].Name) != "RUN_DATE" || aws.ToString(main.Environment[0].Value) != "2023-11-14" {
		t.Errorf("main.environment = %+v", main.Environment)
	}
	if len(main.Secrets) != 1 || aws.ToString(main.Secrets[0].ValueFrom) != "arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf" {
		t.Errorf("main.secrets = %+v", main.Secrets)
	}
	if len(main.MountPoints) != 1 || aws.ToString(main.MountPoints[0].SourceVolume) != "scratch" || main.MountPoints[0].ReadOnly == nil {
		t.Errorf("main.mountPoints = %+v", main.MountPoints)
	}
	if len(main.DependsOn) != 1 || main.DependsOn[0].Condition != ecstypes.ContainerConditionStart {
		t.Errorf("main.dependsOn = %+v", main.DependsOn)
	}
	ptrEq(t, "main.startTimeout", main.StartTimeout, 120)
	ptrEq(t, "main.stopTimeout", main.StopTimeout, 30)
	ptrEq(t, "main.user", main.User, "1000:1000")
	ptrEq(t, "main.workingDirectory", main.WorkingDirectory, "/app")
	ptrEq(t, "main.readonlyRootFilesystem", main.ReadonlyRootFilesystem, true)
	eq(t, "main.dockerLabels[hashike.job]", main.DockerLabels["hashike.job"], "report")
	if len(main.Ulimits) != 1 || main.Ulimits[0].Name != ecstypes.UlimitNameNofile || main.Ulimits[0].SoftLimit != 65536 || main.Ulimits[0].HardLimit != 65536 {
		t.Errorf("main.ulimits = %+v", main.Ulimits)
	}
	if hc := main.HealthCheck; hc == nil || aws.ToInt32(hc.Interval) != 30 || aws.ToInt32(hc.StartPeriod) != 10 || len(hc.Command) != 2 {
		t.Errorf("main.healthCheck = %+v", hc)
	}
	if lc := main.LogConfiguration; lc == nil || lc.LogDriver != ecstypes.LogDriverAwslogs || lc.Options["awslogs-stream-prefix"] != "hashike" || lc.Options["awslogs-group"] != "/hashike/report" {
		t.Errorf("main.logConfiguration = %+v", lc)
	}
	// ECS echoes defaults the request did not carry: empty lists, cpu 0.
	if main.PortMappings == nil || len(main.PortMappings) != 0 {
		t.Errorf("main.portMappings = %#v, want an empty, non-nil slice (as ECS echoes it)", main.PortMappings)
	}
	ptrEq(t, "router.name", router.Name, "log-router")
	eq(t, "router.cpu", router.Cpu, 0)
	isNil(t, "router.memory", router.Memory)
	ptrEq(t, "router.memoryReservation", router.MemoryReservation, 64)
	ptrEq(t, "router.essential", router.Essential, false)

	if len(td.Volumes) != 2 {
		t.Fatalf("volumes = %d, want 2", len(td.Volumes))
	}
	if h := td.Volumes[0].Host; h == nil || aws.ToString(h.SourcePath) != "/var/lib/hashike/scratch" {
		t.Errorf("volumes[0].host = %+v", h)
	}
	if d := td.Volumes[1].DockerVolumeConfiguration; d == nil || d.Scope != ecstypes.ScopeShared || !aws.ToBool(d.Autoprovision) ||
		aws.ToString(d.Driver) != "local" || d.DriverOpts["type"] != "tmpfs" || d.Labels["hashike"] != "cache" {
		t.Errorf("volumes[1].dockerVolumeConfiguration = %+v", d)
	}
	if len(tags) != 1 || aws.ToString(tags[0].Key) != "hashike:job" || aws.ToString(tags[0].Value) != "report" {
		t.Errorf("tags = %+v", tags)
	}
}

func TestWireRegisterTaskDefinition(t *testing.T) {
	srv, _ := wireServer(t,
		jsonRequest(ecsTarget+"RegisterTaskDefinition", "ecs", "RegisterTaskDefinition.request.json"),
		wireReply{file: "RegisterTaskDefinition.response.json"})
	out, err := newECS(srv).RegisterTaskDefinition(t.Context(), registerInput())
	if err != nil {
		t.Fatal(err)
	}
	checkTaskDefinition(t, out.TaskDefinition, out.Tags, 1700000000123)
}

func TestWireDescribeTaskDefinition(t *testing.T) {
	srv, _ := wireServer(t,
		jsonRequest(ecsTarget+"DescribeTaskDefinition", "ecs", "DescribeTaskDefinition.request.json"),
		wireReply{file: "DescribeTaskDefinition.response.json"})
	out, err := newECS(srv).DescribeTaskDefinition(t.Context(), &awsecs.DescribeTaskDefinitionInput{
		TaskDefinition: aws.String("hashike-report"),
		Include:        []ecstypes.TaskDefinitionField{ecstypes.TaskDefinitionFieldTags},
	})
	if err != nil {
		t.Fatal(err)
	}
	checkTaskDefinition(t, out.TaskDefinition, out.Tags, 1699999000000)
}

// TestWireRegisterInput sends the backend's own conversion of a job's task definition: the
// body ECS receives must be the one above (container cpu and memory as integers, task-level
// sizes as strings, volumes and health checks in ECS's shape).
func TestWireRegisterInput(t *testing.T) {
	td := &hashike.TaskDefinition{
		Family:           "hashike-report",
		TaskRoleArn:      "arn:aws:iam::123456789012:role/report-task",
		ExecutionRoleArn: "arn:aws:iam::123456789012:role/ecsTaskExecutionRole",
		NetworkMode:      "bridge",
		ContainerDefinitions: []hashike.ContainerDefinition{
			{
				Name:              "main",
				Image:             "123456789012.dkr.ecr.us-east-1.amazonaws.com/report:1.4.2",
				Cpu:               256,
				Memory:            aws.Int(512),
				MemoryReservation: aws.Int(128),
				Essential:         aws.Bool(true),
				EntryPoint:        []string{"/bin/sh", "-c"},
				Command:           []string{`exec report --date "$RUN_DATE"`},
				Environment:       []hashike.KeyValuePair{{Name: "RUN_DATE", Value: "2023-11-14"}},
				Secrets:           []hashike.Secret{{Name: "DB_PASSWORD", ValueFrom: "arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf"}},
				MountPoints:       []hashike.MountPoint{{SourceVolume: "scratch", ContainerPath: "/scratch"}},
				DependsOn:         []hashike.ContainerDependency{{ContainerName: "log-router", Condition: hashike.ConditionStart}},
				StartTimeout:      aws.Int(120),
				StopTimeout:       aws.Int(30),
				WorkingDirectory:  "/app",
				User:              "1000:1000",
				HealthCheck: &hashike.HealthCheck{
					Command:  []string{"CMD-SHELL", "test -f /tmp/ready"},
					Interval: aws.Int(30), Timeout: aws.Int(5), Retries: aws.Int(3), StartPeriod: aws.Int(10),
				},
				DockerLabels:           map[string]string{"hashike.job": "report"},
				ReadonlyRootFilesystem: aws.Bool(true),
				Ulimits:                []hashike.Ulimit{{Name: "nofile", SoftLimit: 65536, HardLimit: 65536}},
				LogConfiguration: &hashike.LogConfiguration{LogDriver: "awslogs", Options: map[string]string{
					"awslogs-group": "/hashike/report", "awslogs-region": "us-east-1", "awslogs-stream-prefix": "hashike",
				}},
			},
			{
				Name:              "log-router",
				Image:             "public.ecr.aws/aws-observability/aws-for-fluent-bit:stable",
				MemoryReservation: aws.Int(64),
				Essential:         aws.Bool(false),
			},
		},
		Volumes: []hashike.Volume{
			{Name: "scratch", Host: &hashike.HostVolumeProperties{SourcePath: "/var/lib/hashike/scratch"}},
			{Name: "cache", DockerVolumeConfiguration: &hashike.DockerVolumeConfiguration{
				Scope: "shared", Autoprovision: aws.Bool(true), Driver: "local",
				DriverOpts: map[string]string{"type": "tmpfs"}, Labels: map[string]string{"hashike": "cache"},
			}},
		},
		RequiresCompatibilities: []string{"EC2"},
		Cpu:                     "0.5 vCPU",
		Memory:                  "1 GB",
		Tags:                    []hashike.Tag{{Key: "hashike:job", Value: "report"}},
	}
	in, err := ecs.RegisterInput(td, nil)
	if err != nil {
		t.Fatal(err)
	}
	// hashike's MountPoint.ReadOnly is a plain bool: false is omitted where the hand-built
	// input above says false explicitly. ECS treats both alike.
	want := registerInput()
	want.ContainerDefinitions[0].MountPoints[0].ReadOnly = nil
	var wantBody []byte
	capture, _ := wireServer(t, func(t *testing.T, r *http.Request, body []byte) { wantBody = body },
		wireReply{file: "RegisterTaskDefinition.response.json"})
	if _, err := newECS(capture).RegisterTaskDefinition(t.Context(), want); err != nil {
		t.Fatal(err)
	}
	srv, _ := wireServer(t, func(t *testing.T, r *http.Request, body []byte) {
		jsonRequest(ecsTarget+"RegisterTaskDefinition", "ecs", "")(t, r, body)
		if !jsonEqual(t, body, wantBody) {
			t.Errorf("RegisterInput request body:\n got %s\nwant %s", body, wantBody)
		}
	}, wireReply{file: "RegisterTaskDefinition.response.json"})
	if _, err := newECS(srv).RegisterTaskDefinition(t.Context(), in); err != nil {
		t.Fatal(err)
	}
}

func TestWireRunTask(t *testing.T) {
	t.Run("EC2", func(t *testing.T) {
		srv, _ := wireServer(t,
			jsonRequest(ecsTarget+"RunTask", "ecs", "RunTask.ec2.request.json"),
			wireReply{file: "RunTask.ec2.response.json"})
		out, err := newECS(srv).RunTask(t.Context(), &awsecs.RunTaskInput{
			Cluster:        aws.String("hashike"),
			TaskDefinition: aws.String(tdArn),
			LaunchType:     ecstypes.LaunchTypeEc2,
			Count:          aws.Int32(2),
			PlacementConstraints: []ecstypes.PlacementConstraint{{
				Type: ecstypes.PlacementConstraintTypeMemberOf, Expression: aws.String("attribute:ecs.instance-type =~ m5.*"),
			}},
			PlacementStrategy: []ecstypes.PlacementStrategy{
				{Type: ecstypes.PlacementStrategyTypeBinpack, Field: aws.String("memory")},
				{Type: ecstypes.PlacementStrategyTypeSpread, Field: aws.String("attribute:ecs.availability-zone")},
			},
			EnableExecuteCommand: true,
			StartedBy:            aws.String("hashike/01HF3Z8Q6V"),
			Tags:                 []ecstypes.Tag{{Key: aws.String("hashike:run"), Value: aws.String("01HF3Z8Q6V")}},
			ClientToken:          aws.String("01HF3Z8Q6V-1"),
			PropagateTags:        ecstypes.PropagateTagsTaskDefinition,
			Overrides: &ecstypes.TaskOverride{ContainerOverrides: []ecstypes.ContainerOverride{{
				Name:        aws.String("main"),
				Command:     []string{"report", "--date", "2023-11-14"},
				Environment: []ecstypes.KeyValuePair{{Name: aws.String("HASHIKE_RUN_ID"), Value: aws.String("01HF3Z8Q6V")}},
				Cpu:         aws.Int32(512),
				Memory:      aws.Int32(768),
			}}},
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Tasks) != 1 {
			t.Fatalf("tasks = %d, want 1", len(out.Tasks))
		}
		task := out.Tasks[0]
		ptrEq(t, "taskArn", task.TaskArn, taskArn1)
		ptrEq(t, "lastStatus", task.LastStatus, "PENDING")
		ptrEq(t, "desiredStatus", task.DesiredStatus, "RUNNING")
		eq(t, "launchType", task.LaunchType, ecstypes.LaunchTypeEc2)
		ptrEq(t, "startedBy", task.StartedBy, "hashike/01HF3Z8Q6V")
		ptrEq(t, "containerInstanceArn", task.ContainerInstanceArn, ciArn1)
		timeEq(t, "createdAt", task.CreatedAt, 1700000000123)
		isNil(t, "startedAt", task.StartedAt)
		eq(t, "version", task.Version, 1)
		eq(t, "enableExecuteCommand", task.EnableExecuteCommand, true)
		eq(t, "len(tags)", len(task.Tags), 2)
		if len(task.Containers) != 2 {
			t.Fatalf("containers = %d, want 2", len(task.Containers))
		}
		ptrEq(t, "containers[0].name", task.Containers[0].Name, "main")
		ptrEq(t, "containers[0].lastStatus", task.Containers[0].LastStatus, "PENDING")
		isNil(t, "containers[0].exitCode", task.Containers[0].ExitCode)
		// A task's containers carry cpu and memory as strings, unlike container definitions.
		ptrEq(t, "containers[0].cpu", task.Containers[0].Cpu, "512")
		ptrEq(t, "containers[1].cpu", task.Containers[1].Cpu, "0")
		isNil(t, "containers[1].memory", task.Containers[1].Memory)
		if o := task.Overrides; o == nil || len(o.ContainerOverrides) != 2 || aws.ToInt32(o.ContainerOverrides[0].Memory) != 768 {
			t.Errorf("overrides = %+v", o)
		}
		if len(out.Failures) != 1 {
			t.Fatalf("failures = %d, want 1", len(out.Failures))
		}
		ptrEq(t, "failures[0].arn", out.Failures[0].Arn, ciArn2)
		ptrEq(t, "failures[0].reason", out.Failures[0].Reason, "RESOURCE:MEMORY")
		isNil(t, "failures[0].detail", out.Failures[0].Detail)
	})

	t.Run("CapacityProvider", func(t *testing.T) {
		srv, _ := wireServer(t,
			jsonRequest(ecsTarget+"RunTask", "ecs", "RunTask.capacity.request.json"),
			wireReply{file: "RunTask.capacity.response.json"})
		out, err := newECS(srv).RunTask(t.Context(), &awsecs.RunTaskInput{
			Cluster:        aws.String("arn:aws:ecs:us-east-1:123456789012:cluster/hashike"),
			TaskDefinition: aws.String("hashike-report:7"),
			CapacityProviderStrategy: []ecstypes.CapacityProviderStrategyItem{
				{CapacityProvider: aws.String("FARGATE_SPOT"), Weight: 3},
				{CapacityProvider: aws.String("FARGATE"), Weight: 1, Base: 1},
			},
			NetworkConfiguration: &ecstypes.NetworkConfiguration{AwsvpcConfiguration: &ecstypes.AwsVpcConfiguration{
				Subnets:        []string{"subnet-0a1b2c3d", "subnet-4e5f6a7b"},
				SecurityGroups: []string{"sg-0123456789abcdef0"},
				AssignPublicIp: ecstypes.AssignPublicIpDisabled,
			}},
			PlatformVersion: aws.String("1.4.0"),
			StartedBy:       aws.String("hashike/01HF3Z8Q6W"),
			ClientToken:     aws.String("01HF3Z8Q6W-1"),
			PropagateTags:   ecstypes.PropagateTagsNone,
			Count:           aws.Int32(1),
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Tasks) != 1 {
			t.Fatalf("tasks = %d, want 1", len(out.Tasks))
		}
		task := out.Tasks[0]
		ptrEq(t, "taskArn", task.TaskArn, taskArn2)
		ptrEq(t, "lastStatus", task.LastStatus, "PROVISIONING")
		ptrEq(t, "capacityProviderName", task.CapacityProviderName, "FARGATE_SPOT")
		eq(t, "launchType", task.LaunchType, ecstypes.LaunchTypeFargate)
		ptrEq(t, "platformVersion", task.PlatformVersion, "1.4.0")
		timeEq(t, "createdAt", task.CreatedAt, 1700000000123)
		if len(task.Attachments) != 1 || aws.ToString(task.Attachments[0].Status) != "PRECREATED" || aws.ToString(task.Attachments[0].Type) != "ElasticNetworkInterface" {
			t.Errorf("attachments = %+v", task.Attachments)
		}
		if len(task.Containers) != 1 || aws.ToString(task.Containers[0].LastStatus) != "PENDING" || task.Containers[0].ExitCode != nil {
			t.Errorf("containers = %+v", task.Containers)
		}
		eq(t, "len(failures)", len(out.Failures), 0)
	})

	// The SDK fills an absent clientToken with a fresh UUID on every call, so only a token the
	// backend derives from the run makes a repeated RunTask idempotent.
	t.Run("ClientTokenAutoFilled", func(t *testing.T) {
		uuid := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
		var tokens []string
		srv, _ := wireServer(t, func(t *testing.T, r *http.Request, body []byte) {
			jsonRequest(ecsTarget+"RunTask", "ecs", "")(t, r, body)
			var in struct {
				ClientToken *string `json:"clientToken"`
			}
			if err := json.Unmarshal(body, &in); err != nil {
				t.Error(err)
			}
			tokens = append(tokens, aws.ToString(in.ClientToken))
		}, wireReply{body: `{"tasks":[],"failures":[]}`})
		api := newECS(srv)
		for range 2 {
			if _, err := api.RunTask(t.Context(), &awsecs.RunTaskInput{TaskDefinition: aws.String("hashike-report")}); err != nil {
				t.Fatal(err)
			}
		}
		if len(tokens) != 2 || !uuid.MatchString(tokens[0]) || tokens[0] == tokens[1] {
			t.Errorf("clientTokens = %q, want two different UUIDs", tokens)
		}
	})
}

func TestWireDescribeTasks(t *testing.T) {
	srv, _ := wireServer(t,
		jsonRequest(ecsTarget+"DescribeTasks", "ecs", "DescribeTasks.request.json"),
		wireReply{file: "DescribeTasks.response.json"})
	out, err := newECS(srv).DescribeTasks(t.Context(), &awsecs.DescribeTasksInput{
		Cluster: aws.String("hashike"),
		Tasks:   []string{taskArn1, taskArn2, taskArn3},
		Include: []ecstypes.TaskField{ecstypes.TaskFieldTags},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Tasks) != 2 {
		t.Fatalf("tasks = %d, want 2", len(out.Tasks))
	}

	exited := out.Tasks[0]
	ptrEq(t, "exited.taskArn", exited.TaskArn, taskArn1)
	ptrEq(t, "exited.lastStatus", exited.LastStatus, "STOPPED")
	eq(t, "exited.stopCode", exited.StopCode, ecstypes.TaskStopCodeEssentialContainerExited)
	ptrEq(t, "exited.stoppedReason", exited.StoppedReason, "Essential container in task exited")
	timeEq(t, "exited.createdAt", exited.CreatedAt, 1700000000123)
	timeEq(t, "exited.pullStartedAt", exited.PullStartedAt, 1700000001000)
	timeEq(t, "exited.pullStoppedAt", exited.PullStoppedAt, 1700000004512)
	timeEq(t, "exited.startedAt", exited.StartedAt, 1700000005000)
	timeEq(t, "exited.executionStoppedAt", exited.ExecutionStoppedAt, 1700000093000)
	timeEq(t, "exited.stoppingAt", exited.StoppingAt, 1700000093001)
	timeEq(t, "exited.stoppedAt", exited.StoppedAt, 1700000094789)
	timeEq(t, "exited.connectivityAt", exited.ConnectivityAt, 1700000000456)
	eq(t, "exited.version", exited.Version, 5)
	if len(exited.Tags) != 1 || aws.ToString(exited.Tags[0].Value) != "01HF3Z8Q6V" {
		t.Errorf("exited.tags = %+v", exited.Tags)
	}
	if len(exited.Containers) != 2 {
		t.Fatalf("exited.containers = %d, want 2", len(exited.Containers))
	}
	ptrEq(t, "exited.main.name", exited.Containers[0].Name, "main")
	ptrEq(t, "exited.main.exitCode", exited.Containers[0].ExitCode, 3)
	ptrEq(t, "exited.main.lastStatus", exited.Containers[0].LastStatus, "STOPPED")
	isNil(t, "exited.main.reason", exited.Containers[0].Reason)
	ptrEq(t, "exited.router.name", exited.Containers[1].Name, "log-router")
	ptrEq(t, "exited.router.exitCode", exited.Containers[1].ExitCode, 0) // 0 is a value, not absence

	failed := out.Tasks[1]
	ptrEq(t, "failed.taskArn", failed.TaskArn, taskArn2)
	eq(t, "failed.stopCode", failed.StopCode, ecstypes.TaskStopCodeTaskFailedToStart)
	if r := aws.ToString(failed.StoppedReason); !strings.HasPrefix(r, "CannotPullContainerError: ") {
		t.Errorf("failed.stoppedReason = %q", r)
	}
	isNil(t, "failed.startedAt", failed.StartedAt)
	isNil(t, "failed.pullStoppedAt", failed.PullStoppedAt)
	timeEq(t, "failed.stoppedAt", failed.StoppedAt, 1700000058000)
	if len(failed.Containers) != 1 {
		t.Fatalf("failed.containers = %d, want 1", len(failed.Containers))
	}
	isNil(t, "failed.main.exitCode", failed.Containers[0].ExitCode)
	if r := aws.ToString(failed.Containers[0].Reason); !strings.HasPrefix(r, "CannotPullContainerError: ") {
		t.Errorf("failed.main.reason = %q", r)
	}

	if len(out.Failures) != 1 {
		t.Fatalf("failures = %d, want 1", len(out.Failures))
	}
	ptrEq(t, "failures[0].arn", out.Failures[0].Arn, taskArn3)
	ptrEq(t, "failures[0].reason", out.Failures[0].Reason, "MISSING")
}

func TestWireStopTask(t *testing.T) {
	srv, _ := wireServer(t,
		jsonRequest(ecsTarget+"StopTask", "ecs", "StopTask.request.json"),
		wireReply{file: "StopTask.response.json"})
	out, err := newECS(srv).StopTask(t.Context(), &awsecs.StopTaskInput{
		Cluster: aws.String("hashike"),
		Task:    aws.String(taskArn1),
		Reason:  aws.String("hashike: run 01HF3Z8Q6V cancelled"),
	})
	if err != nil {
		t.Fatal(err)
	}
	if out.Task == nil {
		t.Fatal("task = nil")
	}
	ptrEq(t, "taskArn", out.Task.TaskArn, taskArn1)
	ptrEq(t, "lastStatus", out.Task.LastStatus, "RUNNING")
	ptrEq(t, "desiredStatus", out.Task.DesiredStatus, "STOPPED")
	eq(t, "stopCode", out.Task.StopCode, ecstypes.TaskStopCodeUserInitiated)
	ptrEq(t, "stoppedReason", out.Task.StoppedReason, "hashike: run 01HF3Z8Q6V cancelled")
	timeEq(t, "stoppingAt", out.Task.StoppingAt, 1700000060000)
	isNil(t, "stoppedAt", out.Task.StoppedAt)
}

func TestWireListTasks(t *testing.T) {
	srv, _ := wireServer(t,
		jsonRequest(ecsTarget+"ListTasks", "ecs", "ListTasks.request.json"),
		wireReply{file: "ListTasks.response.json"})
	out, err := newECS(srv).ListTasks(t.Context(), &awsecs.ListTasksInput{
		Cluster:       aws.String("hashike"),
		StartedBy:     aws.String("hashike/01HF3Z8Q6V"),
		DesiredStatus: ecstypes.DesiredStatusRunning,
		MaxResults:    aws.Int32(100),
	})
	if err != nil {
		t.Fatal(err)
	}
	sliceEq(t, "taskArns", out.TaskArns, []string{taskArn1, taskArn2})
	ptrEq(t, "nextToken", out.NextToken, "eyJlbmNyeXB0ZWREYXRhIjpbXX0=")
}

func TestWireListContainerInstances(t *testing.T) {
	srv, _ := wireServer(t,
		jsonRequest(ecsTarget+"ListContainerInstances", "ecs", "ListContainerInstances.request.json"),
		wireReply{file: "ListContainerInstances.response.json"})
	out, err := newECS(srv).ListContainerInstances(t.Context(), &awsecs.ListContainerInstancesInput{
		Cluster:    aws.String("hashike"),
		Status:     ecstypes.ContainerInstanceStatusActive,
		MaxResults: aws.Int32(100),
		NextToken:  aws.String("eyJlbmNyeXB0ZWREYXRhIjpbMV19"),
	})
	if err != nil {
		t.Fatal(err)
	}
	sliceEq(t, "containerInstanceArns", out.ContainerInstanceArns, []string{ciArn1, ciArn2})
	isNil(t, "nextToken", out.NextToken) // the last page has no nextToken at all
}

func TestWireDescribeContainerInstances(t *testing.T) {
	srv, _ := wireServer(t,
		jsonRequest(ecsTarget+"DescribeContainerInstances", "ecs", "DescribeContainerInstances.request.json"),
		wireReply{file: "DescribeContainerInstances.response.json"})
	out, err := newECS(srv).DescribeContainerInstances(t.Context(), &awsecs.DescribeContainerInstancesInput{
		Cluster:            aws.String("hashike"),
		ContainerInstances: []string{ciArn1, ciArn2, ciArn3},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.ContainerInstances) != 2 {
		t.Fatalf("containerInstances = %d, want 2", len(out.ContainerInstances))
	}
	active, draining := out.ContainerInstances[0], out.ContainerInstances[1]
	ptrEq(t, "active.containerInstanceArn", active.ContainerInstanceArn, ciArn1)
	ptrEq(t, "active.ec2InstanceId", active.Ec2InstanceId, "i-0123456789abcdef0")
	ptrEq(t, "active.status", active.Status, "ACTIVE")
	eq(t, "active.agentConnected", active.AgentConnected, true)
	eq(t, "active.runningTasksCount", active.RunningTasksCount, 1)
	eq(t, "active.pendingTasksCount", active.PendingTasksCount, 0)
	ptrEq(t, "active.capacityProviderName", active.CapacityProviderName, "hashike-asg")
	timeEq(t, "active.registeredAt", active.RegisteredAt, 1699990000456)

	type resource struct {
		name, typ string
		integer   int32
		set       int
	}
	resources := func(rs []ecstypes.Resource) []resource {
		var out []resource
		for _, r := range rs {
			out = append(out, resource{aws.ToString(r.Name), aws.ToString(r.Type), r.IntegerValue, len(r.StringSetValue)})
		}
		return out
	}
	sliceEq(t, "active.remainingResources", resources(active.RemainingResources), []resource{
		{"CPU", "INTEGER", 1536, 0}, {"MEMORY", "INTEGER", 6920, 0}, {"PORTS", "STRINGSET", 0, 5}, {"PORTS_UDP", "STRINGSET", 0, 0},
	})
	sliceEq(t, "active.registeredResources", resources(active.RegisteredResources), []resource{
		{"CPU", "INTEGER", 2048, 0}, {"MEMORY", "INTEGER", 7688, 0}, {"PORTS", "STRINGSET", 0, 5}, {"PORTS_UDP", "STRINGSET", 0, 0},
	})
	if len(active.Attributes) != 3 || aws.ToString(active.Attributes[0].Value) != "m5.large" || active.Attributes[2].Value != nil {
		t.Errorf("active.attributes = %+v", active.Attributes)
	}

	ptrEq(t, "draining.status", draining.Status, "DRAINING")
	eq(t, "draining.agentConnected", draining.AgentConnected, false)
	isNil(t, "draining.capacityProviderName", draining.CapacityProviderName)
	sliceEq(t, "draining.remainingResources", resources(draining.RemainingResources), []resource{
		{"CPU", "INTEGER", 2048, 0}, {"MEMORY", "INTEGER", 7688, 0},
	})

	if len(out.Failures) != 1 {
		t.Fatalf("failures = %d, want 1", len(out.Failures))
	}
	ptrEq(t, "failures[0].arn", out.Failures[0].Arn, ciArn3)
	ptrEq(t, "failures[0].reason", out.Failures[0].Reason, "MISSING")
}

func TestWireGetLogEvents(t *testing.T) {
	const stream = "hashike/main/0f9de9d1e3f94f6a9c8e2a5b7e4d3c21"
	t.Run("Page", func(t *testing.T) {
		srv, _ := wireServer(t,
			jsonRequest(logsTarget+"GetLogEvents", "logs", "GetLogEvents.request.json"),
			wireReply{file: "GetLogEvents.response.json"})
		out, err := newLogs(srv).GetLogEvents(t.Context(), &cloudwatchlogs.GetLogEventsInput{
			LogGroupName:  aws.String("/hashike/report"),
			LogStreamName: aws.String(stream),
			StartFromHead: aws.Bool(true),
			NextToken:     aws.String("f/38289473527316508223367009325209022466651187618493808640/s"),
			Limit:         aws.Int32(1000),
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Events) != 2 {
			t.Fatalf("events = %d, want 2", len(out.Events))
		}
		// Log event times are integer epoch milliseconds, not timestamps.
		ptrEq(t, "events[0].timestamp", out.Events[0].Timestamp, 1700000005123)
		ptrEq(t, "events[0].ingestionTime", out.Events[0].IngestionTime, 1700000005611)
		ptrEq(t, "events[0].message", out.Events[0].Message, "starting report for 2023-11-14")
		ptrEq(t, "events[1].message", out.Events[1].Message, "done: 42 rows")
		ptrEq(t, "nextForwardToken", out.NextForwardToken, "f/38289475463424939423671291367301837412645498214291750913/s")
		ptrEq(t, "nextBackwardToken", out.NextBackwardToken, "b/38289473527316508223367009325209022466651187618493808641/s")
	})

	// At the end of a stream GetLogEvents answers no events and gives back the token it was
	// sent: that is how a follower knows it is drained.
	t.Run("Drained", func(t *testing.T) {
		const token = "f/38289475463424939423671291367301837412645498214291750913/s"
		srv, _ := wireServer(t,
			jsonRequest(logsTarget+"GetLogEvents", "logs", "GetLogEvents.drained.request.json"),
			wireReply{file: "GetLogEvents.drained.response.json"})
		out, err := newLogs(srv).GetLogEvents(t.Context(), &cloudwatchlogs.GetLogEventsInput{
			LogGroupName:  aws.String("/hashike/report"),
			LogStreamName: aws.String(stream),
			StartFromHead: aws.Bool(true),
			NextToken:     aws.String(token),
		})
		if err != nil {
			t.Fatal(err)
		}
		eq(t, "len(events)", len(out.Events), 0)
		ptrEq(t, "nextForwardToken", out.NextForwardToken, token)
	})
}

func TestWireDescribeAutoScalingGroups(t *testing.T) {
	srv, _ := wireServer(t,
		func(t *testing.T, r *http.Request, body []byte) {
			queryRequest("DescribeAutoScalingGroups.request.txt")(t, r, body)
		},
		wireReply{file: "DescribeAutoScalingGroups.response.xml"})
	out, err := newAutoScaling(srv).DescribeAutoScalingGroups(t.Context(), &autoscaling.DescribeAutoScalingGroupsInput{
		AutoScalingGroupNames: []string{"hashike-ecs"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.AutoScalingGroups) != 1 {
		t.Fatalf("autoScalingGroups = %d, want 1", len(out.AutoScalingGroups))
	}
	g := out.AutoScalingGroups[0]
	ptrEq(t, "name", g.AutoScalingGroupName, "hashike-ecs")
	ptrEq(t, "minSize", g.MinSize, 0)
	ptrEq(t, "maxSize", g.MaxSize, 10)
	ptrEq(t, "desiredCapacity", g.DesiredCapacity, 2)
	ptrEq(t, "defaultCooldown", g.DefaultCooldown, 300)
	ptrEq(t, "newInstancesProtectedFromScaleIn", g.NewInstancesProtectedFromScaleIn, true)
	// Query-protocol timestamps are ISO 8601 strings, unlike JSON's epoch seconds.
	timeEq(t, "createdTime", g.CreatedTime, time.Date(2023, 11, 14, 22, 13, 20, 123e6, time.UTC).UnixMilli())
	sliceEq(t, "availabilityZones", g.AvailabilityZones, []string{"us-east-1a", "us-east-1b"})
	sliceEq(t, "terminationPolicies", g.TerminationPolicies, []string{"Default"})
	if len(g.Tags) != 1 || aws.ToString(g.Tags[0].Key) != "Name" || !aws.ToBool(g.Tags[0].PropagateAtLaunch) {
		t.Errorf("tags = %+v", g.Tags)
	}
	if len(g.Instances) != 2 {
		t.Fatalf("instances = %d, want 2", len(g.Instances))
	}
	in0, in1 := g.Instances[0], g.Instances[1]
	ptrEq(t, "instances[0].instanceId", in0.InstanceId, "i-0123456789abcdef0")
	eq(t, "instances[0].lifecycleState", in0.LifecycleState, astypes.LifecycleStateInService)
	ptrEq(t, "instances[0].healthStatus", in0.HealthStatus, "Healthy")
	ptrEq(t, "instances[0].protectedFromScaleIn", in0.ProtectedFromScaleIn, true)
	ptrEq(t, "instances[0].instanceType", in0.InstanceType, "m5.large")
	if lt := in0.LaunchTemplate; lt == nil || aws.ToString(lt.Version) != "3" {
		t.Errorf("instances[0].launchTemplate = %+v", lt)
	}
	ptrEq(t, "instances[1].instanceId", in1.InstanceId, "i-0fedcba9876543210")
	eq(t, "instances[1].lifecycleState", in1.LifecycleState, astypes.LifecycleStatePending)
	ptrEq(t, "instances[1].protectedFromScaleIn", in1.ProtectedFromScaleIn, false)
	isNil(t, "nextToken", out.NextToken)
}

func TestWireSetDesiredCapacity(t *testing.T) {
	srv, calls := wireServer(t,
		func(t *testing.T, r *http.Request, body []byte) {
			queryRequest("SetDesiredCapacity.request.txt")(t, r, body)
		},
		wireReply{file: "SetDesiredCapacity.response.xml"})
	out, err := newAutoScaling(srv).SetDesiredCapacity(t.Context(), &autoscaling.SetDesiredCapacityInput{
		AutoScalingGroupName: aws.String("hashike-ecs"),
		DesiredCapacity:      aws.Int32(3),
		HonorCooldown:        aws.Bool(false),
	})
	if err != nil {
		t.Fatal(err)
	}
	if out == nil {
		t.Fatal("output = nil")
	}
	eq(t, "calls", calls.Load(), 1)
}

func TestWireTagResource(t *testing.T) {
	srv, calls := wireServer(t,
		jsonRequest(ecsTarget+"TagResource", "ecs", "TagResource.request.json"),
		wireReply{file: "TagResource.response.json"})
	out, err := newECS(srv).TagResource(t.Context(), &awsecs.TagResourceInput{
		ResourceArn: aws.String(taskArn1),
		Tags:        []ecstypes.Tag{{Key: aws.String(ecs.TagRemoved), Value: aws.String("true")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if out == nil {
		t.Fatal("output = nil")
	}
	eq(t, "calls", calls.Load(), 1)
}

// TestWireErrors checks the SDK surfaces each service's error shape as a smithy.APIError
// whose ErrorCode() the backend can branch on, and that it tries once (retries are off).
func TestWireErrors(t *testing.T) {
	tests := []struct {
		name    string
		reply   wireReply
		call    func(ctx context.Context, srv *httptest.Server) error
		code    string
		message string
		fault   smithy.ErrorFault
		// typed, when set, is the modeled error type the SDK must return.
		typed func(error) bool
	}{
		{
			name:  "ECS throttling, code in __type",
			reply: wireReply{status: 400, file: "error.ThrottlingException.json"},
			call: func(ctx context.Context, srv *httptest.Server) error {
				_, err := newECS(srv).RunTask(ctx, &awsecs.RunTaskInput{TaskDefinition: aws.String("hashike-report")})
				return err
			},
			// ECS does not model ThrottlingException: it arrives as a GenericAPIError.
			code: "ThrottlingException", message: "Rate exceeded", fault: smithy.FaultUnknown,
			typed: func(err error) bool { var e *smithy.GenericAPIError; return errors.As(err, &e) },
		},
		{
			name: "ECS throttling, code in X-Amzn-ErrorType, namespaced __type",
			reply: wireReply{status: 400, file: "error.ThrottlingException.coral.json",
				header: "ThrottlingException:http://internal.amazon.com/coral/com.amazon.coral.availability/"},
			call: func(ctx context.Context, srv *httptest.Server) error {
				_, err := newECS(srv).DescribeTasks(ctx, &awsecs.DescribeTasksInput{Cluster: aws.String("hashike"), Tasks: []string{taskArn1}})
				return err
			},
			code: "ThrottlingException", message: "Rate exceeded", fault: smithy.FaultUnknown,
		},
		{
			name:  "ECS throttling, namespaced __type only",
			reply: wireReply{status: 400, file: "error.ThrottlingException.coral.json"},
			call: func(ctx context.Context, srv *httptest.Server) error {
				_, err := newECS(srv).ListTasks(ctx, &awsecs.ListTasksInput{Cluster: aws.String("hashike")})
				return err
			},
			code: "ThrottlingException", message: "Rate exceeded", fault: smithy.FaultUnknown,
		},
		{
			name:  "ECS concurrent revision",
			reply: wireReply{status: 400, file: "error.ClientException.json"},
			call: func(ctx context.Context, srv *httptest.Server) error {
				_, err := newECS(srv).RegisterTaskDefinition(ctx, registerInput())
				return err
			},
			code: "ClientException", message: "Too many concurrent attempts to create a new revision of the specified family.",
			fault: smithy.FaultClient,
			typed: func(err error) bool { var e *ecstypes.ClientException; return errors.As(err, &e) },
		},
		{
			name:  "ECS cluster not found",
			reply: wireReply{status: 400, file: "error.ClusterNotFoundException.json"},
			call: func(ctx context.Context, srv *httptest.Server) error {
				_, err := newECS(srv).ListContainerInstances(ctx, &awsecs.ListContainerInstancesInput{Cluster: aws.String("nope")})
				return err
			},
			code: "ClusterNotFoundException", message: "Cluster not found.", fault: smithy.FaultClient,
			typed: func(err error) bool { var e *ecstypes.ClusterNotFoundException; return errors.As(err, &e) },
		},
		{
			name:  "ECS run on a cluster without instances",
			reply: wireReply{status: 400, file: "error.NoContainerInstances.json"},
			call: func(ctx context.Context, srv *httptest.Server) error {
				_, err := newECS(srv).RunTask(ctx, &awsecs.RunTaskInput{Cluster: aws.String("hashike"), TaskDefinition: aws.String("hashike-report")})
				return err
			},
			code: "InvalidParameterException", message: "No Container Instances were found in your cluster.", fault: smithy.FaultClient,
			typed: func(err error) bool { var e *ecstypes.InvalidParameterException; return errors.As(err, &e) },
		},
		{
			name:  "ECS tag of an unknown task",
			reply: wireReply{status: 400, file: "error.ecs.ResourceNotFoundException.json"},
			call: func(ctx context.Context, srv *httptest.Server) error {
				_, err := newECS(srv).TagResource(ctx, &awsecs.TagResourceInput{ResourceArn: aws.String(taskArn3), Tags: []ecstypes.Tag{{Key: aws.String(ecs.TagRemoved), Value: aws.String("true")}}})
				return err
			},
			code: "ResourceNotFoundException", message: "The specified task could not be found.", fault: smithy.FaultClient,
			typed: func(err error) bool { var e *ecstypes.ResourceNotFoundException; return errors.As(err, &e) },
		},
		{
			name:  "ECS stop of an unknown task",
			reply: wireReply{status: 400, file: "error.InvalidParameterException.json"},
			call: func(ctx context.Context, srv *httptest.Server) error {
				_, err := newECS(srv).StopTask(ctx, &awsecs.StopTaskInput{Cluster: aws.String("hashike"), Task: aws.String(taskArn3)})
				return err
			},
			code: "InvalidParameterException", message: "The referenced task was not found.", fault: smithy.FaultClient,
			typed: func(err error) bool { var e *ecstypes.InvalidParameterException; return errors.As(err, &e) },
		},
		{
			name:  "ECS server error",
			reply: wireReply{status: 500, file: "error.ServerException.json"},
			call: func(ctx context.Context, srv *httptest.Server) error {
				_, err := newECS(srv).DescribeContainerInstances(ctx, &awsecs.DescribeContainerInstancesInput{ContainerInstances: []string{ciArn1}})
				return err
			},
			code: "ServerException", message: "Service Unavailable. Please try again later.", fault: smithy.FaultServer,
			typed: func(err error) bool { var e *ecstypes.ServerException; return errors.As(err, &e) },
		},
		{
			name:  "ECS task definition not found",
			reply: wireReply{status: 400, body: `{"__type":"ClientException","message":"Unable to describe task definition."}`},
			call: func(ctx context.Context, srv *httptest.Server) error {
				_, err := newECS(srv).DescribeTaskDefinition(ctx, &awsecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String("nope")})
				return err
			},
			code: "ClientException", message: "Unable to describe task definition.", fault: smithy.FaultClient,
			typed: func(err error) bool { var e *ecstypes.ClientException; return errors.As(err, &e) },
		},
		{
			name:  "Logs stream not found",
			reply: wireReply{status: 400, file: "error.ResourceNotFoundException.json"},
			call: func(ctx context.Context, srv *httptest.Server) error {
				_, err := newLogs(srv).GetLogEvents(ctx, &cloudwatchlogs.GetLogEventsInput{LogGroupName: aws.String("/hashike/report"), LogStreamName: aws.String("nope")})
				return err
			},
			code: "ResourceNotFoundException", message: "The specified log stream does not exist.", fault: smithy.FaultClient,
			typed: func(err error) bool { var e *logstypes.ResourceNotFoundException; return errors.As(err, &e) },
		},
		{
			name:  "Logs throttling",
			reply: wireReply{status: 400, file: "error.logs.ThrottlingException.json"},
			call: func(ctx context.Context, srv *httptest.Server) error {
				_, err := newLogs(srv).GetLogEvents(ctx, &cloudwatchlogs.GetLogEventsInput{LogGroupName: aws.String("/hashike/report"), LogStreamName: aws.String("s")})
				return err
			},
			// Unlike ECS, CloudWatch Logs models ThrottlingException.
			code: "ThrottlingException", message: "Rate exceeded", fault: smithy.FaultClient,
			typed: func(err error) bool { var e *logstypes.ThrottlingException; return errors.As(err, &e) },
		},
		{
			name:  "Auto Scaling validation error",
			reply: wireReply{status: 400, file: "error.ValidationError.xml"},
			call: func(ctx context.Context, srv *httptest.Server) error {
				_, err := newAutoScaling(srv).SetDesiredCapacity(ctx, &autoscaling.SetDesiredCapacityInput{AutoScalingGroupName: aws.String("hashike-ecs"), DesiredCapacity: aws.Int32(11)})
				return err
			},
			// <Type>Sender</Type> is not read: the fault stays unknown.
			code: "ValidationError", message: "New SetDesiredCapacity value 11 is above max value 10 for the AutoScalingGroup.",
			fault: smithy.FaultUnknown,
			typed: func(err error) bool { var e *smithy.GenericAPIError; return errors.As(err, &e) },
		},
		{
			name:  "Auto Scaling activity in progress",
			reply: wireReply{status: 400, file: "error.ScalingActivityInProgress.xml"},
			call: func(ctx context.Context, srv *httptest.Server) error {
				_, err := newAutoScaling(srv).SetDesiredCapacity(ctx, &autoscaling.SetDesiredCapacityInput{AutoScalingGroupName: aws.String("hashike-ecs"), DesiredCapacity: aws.Int32(3)})
				return err
			},
			code: "ScalingActivityInProgress", message: "You cannot set the desired capacity while a scaling activity is in progress.",
			fault: smithy.FaultClient,
			typed: func(err error) bool { var e *astypes.ScalingActivityInProgressFault; return errors.As(err, &e) },
		},
		{
			name:  "Auto Scaling throttling",
			reply: wireReply{status: 400, file: "error.Throttling.xml"},
			call: func(ctx context.Context, srv *httptest.Server) error {
				_, err := newAutoScaling(srv).DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: []string{"hashike-ecs"}})
				return err
			},
			// The Query services say "Throttling", not "ThrottlingException".
			code: "Throttling", message: "Rate exceeded", fault: smithy.FaultUnknown,
			typed: func(err error) bool { var e *smithy.GenericAPIError; return errors.As(err, &e) },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, calls := wireServer(t, nil, tt.reply)
			err := tt.call(t.Context(), srv)
			if err == nil {
				t.Fatal("no error")
			}
			var apiErr smithy.APIError
			if !errors.As(err, &apiErr) {
				t.Fatalf("error %T (%v) is not a smithy.APIError", err, err)
			}
			eq(t, "ErrorCode()", apiErr.ErrorCode(), tt.code)
			eq(t, "ErrorMessage()", apiErr.ErrorMessage(), tt.message)
			eq(t, "ErrorFault()", apiErr.ErrorFault(), tt.fault)
			if tt.typed != nil && !tt.typed(err) {
				t.Errorf("error %T (%v) is not the expected type", apiErr, err)
			}
			var respErr *awshttp.ResponseError
			if !errors.As(err, &respErr) {
				t.Errorf("error %v carries no *awshttp.ResponseError", err)
			} else {
				eq(t, "HTTPStatusCode()", respErr.HTTPStatusCode(), tt.reply.status)
			}
			eq(t, "calls", calls.Load(), 1)
		})
	}
}

// TestWireEmulatorShapes pins down what the SDK does with shapes that emulators get wrong
// (notes/dependencies.md): numbers where the model has strings and the reverse fail to
// decode, so fakes and emulators must write the real types. A JSON null is read as absent.
func TestWireEmulatorShapes(t *testing.T) {
	describeTasks := func(ctx context.Context, srv *httptest.Server) (any, error) {
		return newECS(srv).DescribeTasks(ctx, &awsecs.DescribeTasksInput{Cluster: aws.String("hashike"), Tasks: []string{taskArn1}})
	}
	tests := []struct {
		name string
		body string
		call func(ctx context.Context, srv *httptest.Server) (any, error)
		// ok, when set, means the body decodes and checks the output.
		ok func(t *testing.T, out any)
	}{
		{
			name: "container definition cpu as a string",
			body: `{"taskDefinition":{"family":"f","revision":1,"containerDefinitions":[{"name":"main","cpu":"256","memory":512}]}}`,
			call: func(ctx context.Context, srv *httptest.Server) (any, error) {
				return newECS(srv).DescribeTaskDefinition(ctx, &awsecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String("f")})
			},
		},
		{
			name: "container definition memory as a float",
			body: `{"taskDefinition":{"family":"f","revision":1,"containerDefinitions":[{"name":"main","cpu":256,"memory":512.0}]}}`,
			call: func(ctx context.Context, srv *httptest.Server) (any, error) {
				return newECS(srv).DescribeTaskDefinition(ctx, &awsecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String("f")})
			},
		},
		{
			name: "task container cpu as a number",
			body: `{"tasks":[{"taskArn":"` + taskArn1 + `","containers":[{"name":"main","cpu":0}]}],"failures":[]}`,
			call: describeTasks,
		},
		{
			name: "task createdAt as an ISO 8601 string",
			body: `{"tasks":[{"taskArn":"` + taskArn1 + `","createdAt":"2023-11-14T22:13:20.123Z"}],"failures":[]}`,
			call: describeTasks,
		},
		{
			name: "log event timestamp in float notation",
			body: `{"events":[{"timestamp":1.700000005123E12,"message":"m","ingestionTime":1700000005611}],"nextForwardToken":"f/1/s"}`,
			call: func(ctx context.Context, srv *httptest.Server) (any, error) {
				return newLogs(srv).GetLogEvents(ctx, &cloudwatchlogs.GetLogEventsInput{LogGroupName: aws.String("g"), LogStreamName: aws.String("s")})
			},
		},
		{
			name: "exitCode null reads as absent",
			body: `{"tasks":[{"taskArn":"` + taskArn1 + `","containers":[{"name":"main","exitCode":null,"reason":null}]}],"failures":[]}`,
			call: describeTasks,
			ok: func(t *testing.T, out any) {
				c := out.(*awsecs.DescribeTasksOutput).Tasks[0].Containers[0]
				isNil(t, "exitCode", c.ExitCode)
				isNil(t, "reason", c.Reason)
			},
		},
		{
			name: "timestamp as an integer of seconds",
			body: `{"tasks":[{"taskArn":"` + taskArn1 + `","createdAt":1700000000}],"failures":[]}`,
			call: describeTasks,
			ok: func(t *testing.T, out any) {
				timeEq(t, "createdAt", out.(*awsecs.DescribeTasksOutput).Tasks[0].CreatedAt, 1700000000000)
			},
		},
		{
			name: "unknown fields are skipped",
			body: `{"tasks":[{"taskArn":"` + taskArn1 + `","someFutureField":{"a":[1,2]},"lastStatus":"RUNNING"}],"failures":[]}`,
			call: describeTasks,
			ok: func(t *testing.T, out any) {
				ptrEq(t, "lastStatus", out.(*awsecs.DescribeTasksOutput).Tasks[0].LastStatus, "RUNNING")
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, _ := wireServer(t, nil, wireReply{body: tt.body})
			out, err := tt.call(t.Context(), srv)
			if tt.ok != nil {
				if err != nil {
					t.Fatalf("decode: %v", err)
				}
				tt.ok(t, out)
				return
			}
			var de *smithy.DeserializationError
			if !errors.As(err, &de) {
				t.Fatalf("err = %v (%T), want a *smithy.DeserializationError", err, err)
			}
		})
	}
}
