package ecsscale_test

// Wire-level tests: the real SDK clients (ecs and autoscaling) talk to an httptest server
// through BaseEndpoint, so what the adapter sends and what it reads back are checked against
// the SDK's own serializers and deserializers (the service model), not against awsfake.
// Canned answers under testdata/wire are written as the services answer.

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
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	awsecs "github.com/aws/aws-sdk-go-v2/service/ecs"

	"github.com/hashike/hashike/autoscale"
	"github.com/hashike/hashike/ecsscale"
	"github.com/hashike/hashike/internal/awsfake"
)

// wireNow is when the wire tests' snapshots are taken: 5 minutes after the canned
// answers' last scaling activity.
var wireNow = time.Date(2023, 11, 14, 22, 36, 0, 0, time.UTC)

const (
	ecsTarget = "AmazonEC2ContainerServiceV20141113."
	wireDir   = "testdata/wire"
)

func wireCredentials(context.Context) (aws.Credentials, error) {
	return aws.Credentials{AccessKeyID: "AKIDWIRETEST", SecretAccessKey: "wire-test-secret", Source: "wire_test"}, nil
}

// wireCall is one request the server saw: the operation and its body.
type wireCall struct {
	op   string
	body []byte
}

// wire is a server for the three services: an ECS request is named by its X-Amz-Target,
// an Auto Scaling or EC2 one by its Action; each is answered with testdata/wire/<op>.response.(json|xml)
// unless errs names an error answer for the operation.
type wire struct {
	t   *testing.T
	srv *httptest.Server

	mu    sync.Mutex
	calls []wireCall
	errs  map[string]wireError
}

type wireError struct {
	status int
	header string // X-Amzn-ErrorType (JSON protocol)
	body   string
	xml    bool
}

func newWire(t *testing.T) *wire {
	w := &wire{t: t, errs: map[string]wireError{}}
	w.srv = httptest.NewServer(http.HandlerFunc(w.serve))
	t.Cleanup(w.srv.Close)
	return w
}

func (w *wire) serve(rw http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		w.t.Errorf("read request body: %v", err)
	}
	auth := r.Header.Get("Authorization")
	var op, service, ext, ctype string
	if target := r.Header.Get("X-Amz-Target"); target != "" {
		op, service, ext, ctype = strings.TrimPrefix(target, ecsTarget), "ecs", ".json", "application/x-amz-json-1.1"
		if !strings.HasPrefix(target, ecsTarget) || r.Header.Get("Content-Type") != ctype {
			w.t.Errorf("ECS request with target %q, content type %q", target, r.Header.Get("Content-Type"))
		}
	} else {
		form, err := url.ParseQuery(string(body))
		if err != nil || r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
			w.t.Errorf("Auto Scaling request %q (%s): %v", body, r.Header.Get("Content-Type"), err)
		}
		op, service, ext, ctype = form.Get("Action"), "autoscaling", ".xml", "text/xml"
		if op == "DescribeInstances" {
			service = "ec2" // EC2 speaks the same query protocol
		}
	}
	if !strings.HasPrefix(auth, "AWS4-HMAC-SHA256 Credential=AKIDWIRETEST/") || !strings.Contains(auth, "/us-east-1/"+service+"/aws4_request") {
		w.t.Errorf("%s: Authorization %q, want a SigV4 signature for %s", op, auth, service)
	}
	w.mu.Lock()
	w.calls = append(w.calls, wireCall{op: op, body: body})
	e, failing := w.errs[op]
	w.mu.Unlock()
	rw.Header().Set("X-Amzn-RequestId", "0b1c2d3e-0000-4f5a-8b9c-0d1e2f3a4b5c")
	if failing {
		if e.xml {
			rw.Header().Set("Content-Type", "text/xml")
		} else {
			rw.Header().Set("Content-Type", ctype)
			rw.Header().Set("X-Amzn-ErrorType", e.header)
		}
		rw.WriteHeader(e.status)
		io.WriteString(rw, e.body)
		return
	}
	rw.Header().Set("Content-Type", ctype)
	rw.Write(readWire(w.t, op+".response"+ext))
}

// take returns the calls since the last take.
func (w *wire) take() []wireCall {
	w.mu.Lock()
	defer w.mu.Unlock()
	c := w.calls
	w.calls = nil
	return c
}

func ops(calls []wireCall) []string {
	out := make([]string, len(calls))
	for i, c := range calls {
		out[i] = c.op
	}
	return out
}

func readWire(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(wireDir, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// checkBody compares a request body with testdata/wire/<op>.request.json (as JSON, numbers
// as written) or .request.txt (an AWS Query form, one key=value a line).
func checkBody(t *testing.T, c wireCall) {
	t.Helper()
	if b, err := os.ReadFile(filepath.Join(wireDir, c.op+".request.json")); err == nil {
		var got, want any
		for _, p := range []struct {
			raw []byte
			v   *any
		}{{c.body, &got}, {b, &want}} {
			d := json.NewDecoder(bytes.NewReader(p.raw))
			d.UseNumber()
			if err := d.Decode(p.v); err != nil {
				t.Fatalf("%s: decode %s: %v", c.op, p.raw, err)
			}
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s request body:\n got %s\nwant %s", c.op, c.body, b)
		}
		return
	}
	got, err := url.ParseQuery(string(c.body))
	if err != nil {
		t.Fatal(err)
	}
	want, err := url.ParseQuery(strings.Join(strings.Fields(string(readWire(t, c.op+".request.txt"))), "&"))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s form body:\n got %v\nwant %v", c.op, got, want)
	}
}

// adapter is the adapter over the real SDK clients pointed at w, retrying nothing.
func (w *wire) adapter(t *testing.T, tweak ...func(*ecsscale.Config)) *ecsscale.Cluster {
	t.Helper()
	ecsClient := awsecs.New(awsecs.Options{Region: "us-east-1", BaseEndpoint: aws.String(w.srv.URL),
		Credentials: aws.NewCredentialsCache(aws.CredentialsProviderFunc(wireCredentials)), HTTPClient: w.srv.Client(), Retryer: aws.NopRetryer{}})
	asClient := autoscaling.New(autoscaling.Options{Region: "us-east-1", BaseEndpoint: aws.String(w.srv.URL),
		Credentials: aws.NewCredentialsCache(aws.CredentialsProviderFunc(wireCredentials)), HTTPClient: w.srv.Client(), Retryer: aws.NopRetryer{}})
	cfg := ecsscale.Config{
		Cluster: "hashike",
		Types: []autoscale.InstanceType{
			{Name: "m5.large", CPU: 2048, MemoryMiB: 7680, OnDemandPrice: 0.096, SpotPrice: 0.04},
			{Name: "m5a.large", CPU: 2048, MemoryMiB: 7680, OnDemandPrice: 0.086, SpotPrice: 0.037},
		},
		Pools: []ecsscale.Pool{{Name: "jobs", Group: "hashike-ecs"}},
		Clock: awsfake.NewManualClock(wireNow),
	}
	for _, f := range tweak {
		f(&cfg)
	}
	c, err := ecsscale.New(ecsClient, asClient, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func expectCalls(t *testing.T, what string, calls []wireCall, want ...string) {
	t.Helper()
	if got := ops(calls); !slices.Equal(got, want) {
		t.Fatalf("%s: calls %v, want %v", what, got, want)
	}
	for _, c := range calls {
		checkBody(t, c)
	}
}

// TestWireSnapshotAndApply: the requests the adapter makes through the real SDK clients,
// and what it reads from the services' answers: the mixed instances policy's types and
// on-demand split, instances pending, in service and terminating, container instance
// resources and attributes, PROVISIONING tasks with and without an instance, the drained
// idle instance terminated with decrement, failed launches from the scaling activities, the
// busy one protected from scale-in, a launch,
// a drain and a refused terminate.
func TestWireSnapshotAndApply(t *testing.T) {
	w := newWire(t)
	c := w.adapter(t)
	ctx := context.Background()

	s, err := c.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	expectCalls(t, "Snapshot", w.take(), "DescribeAutoScalingGroups", "ListContainerInstances", "DescribeContainerInstances",
		"ListTasks", "DescribeTasks", "DescribeScalingActivities", "TerminateInstanceInAutoScalingGroup", "SetInstanceProtection")
	wantPool := autoscale.Pool{Name: "jobs", InstanceTypes: []string{"m5.large", "m5a.large"}, Min: 0, Max: 10,
		OnDemandBase: 1, OnDemandPercentAboveBase: 20, AvailabilityZones: []string{"us-east-1a", "us-east-1b"}}
	if len(s.Pools) != 1 || !reflect.DeepEqual(s.Pools[0], wantPool) {
		t.Errorf("pools %+v, want %+v", s.Pools, wantPool)
	}
	if len(s.Instances) != 2 {
		t.Fatalf("instances %+v, want the active and the launching one (the drained idle one terminated, the terminating one left out)", s.Instances)
	}
	active, launching := s.Instances[0], s.Instances[1]
	if active.ID != "i-0123456789abcdef0" || active.State != autoscale.InstanceActive || active.Type != "m5.large" ||
		active.CPU != 2048 || active.MemoryMiB != 7680 || active.CPUUsed != 1024 || active.MemoryUsed != 2048 || active.Tasks != 1 ||
		!active.ActiveAt.Equal(time.Unix(1700000000, 0)) || active.Pool != "jobs" {
		t.Errorf("active instance %+v", active)
	}
	if launching.ID != "i-0fedcba9876543210" || launching.State != autoscale.InstanceLaunching || launching.Type != "m5a.large" || !launching.ActiveAt.IsZero() || launching.LaunchedAt.IsZero() {
		t.Errorf("launching instance %+v", launching)
	}
	wantErrs := []autoscale.LaunchError{
		// The group has a mixed instances policy of two types: Auto Scaling tried both before
		// the launch failed, so the failure is the pool's, whatever type the message names.
		{At: time.Date(2023, 11, 14, 22, 29, 0, 0, time.UTC), Pool: "jobs", Code: autoscale.LaunchErrorInsufficientCapacity},
		{At: time.Date(2023, 11, 14, 22, 31, 7, 5e8, time.UTC), Pool: "jobs", Spot: true, Code: autoscale.LaunchErrorInsufficientCapacity},
	}
	if !reflect.DeepEqual(s.LaunchErrors, wantErrs) {
		t.Errorf("launch errors %+v, want %+v (the failed launches of the last 10 minutes, oldest first)", s.LaunchErrors, wantErrs)
	}
	if s.Running != 1 {
		t.Errorf("running %d, want 1", s.Running)
	}
	if len(s.Pending) != 1 {
		t.Fatalf("pending %+v, want the one PROVISIONING task without an instance", s.Pending)
	}
	if p := s.Pending[0]; p.ID != "arn:aws:ecs:us-east-1:123456789012:task/hashike/7a6b5c4d3e2f4a1b9c8d7e6f5a4b3c2d" || !p.Provisioning ||
		p.CPU != 1024 || p.MemoryMiB != 2048 || p.Image != "123456789012.dkr.ecr.us-east-1.amazonaws.com/report:1.4" ||
		!p.SubmittedAt.Equal(time.UnixMilli(1700000123456)) {
		t.Errorf("pending %+v", p)
	}

	if err := c.Apply(ctx, autoscale.Action{Launch: &autoscale.Launch{Pool: "jobs", Type: "m5a.large", Count: 2}}); err != nil {
		t.Fatal(err)
	}
	expectCalls(t, "Launch 2", w.take(), "DescribeAutoScalingGroups", "SetDesiredCapacity")

	if err := c.Apply(ctx, autoscale.Action{Drain: &autoscale.Drain{Instance: "i-0123456789abcdef0"}}); err != nil {
		t.Fatal(err)
	}
	expectCalls(t, "Drain", w.take(), "DescribeAutoScalingGroups", "ListContainerInstances", "DescribeContainerInstances", "UpdateContainerInstancesState")

	err = c.Apply(ctx, autoscale.Action{Terminate: &autoscale.Terminate{Instance: "i-0123456789abcdef0"}})
	if !errors.Is(err, ecsscale.ErrBusy) {
		t.Fatalf("Terminate a busy instance: %v, want ErrBusy", err)
	}
	expectCalls(t, "Terminate busy", w.take(), "DescribeAutoScalingGroups", "ListContainerInstances", "DescribeContainerInstances")

	if err := c.Apply(ctx, autoscale.Action{Terminate: &autoscale.Terminate{Instance: "i-0bbbbbbbbbbbbbbbb"}}); !errors.Is(err, autoscale.ErrUnknown) {
		t.Fatalf("Terminate a terminating instance: %v, want ErrUnknown", err)
	}
	expectCalls(t, "Terminate terminating", w.take(), "DescribeAutoScalingGroups")
}

// TestWireThrottling: Auto Scaling's Throttling and ECS's ThrottlingException, as the SDK
// decodes them, are autoscale.ErrThrottled.
func TestWireThrottling(t *testing.T) {
	w := newWire(t)
	c := w.adapter(t)
	w.errs["SetDesiredCapacity"] = wireError{status: 400, body: string(readWire(t, "error.Throttling.xml")), xml: true}
	err := c.Apply(context.Background(), autoscale.Action{Launch: &autoscale.Launch{Pool: "jobs", Count: 1}})
	if !errors.Is(err, autoscale.ErrThrottled) {
		t.Fatalf("throttled SetDesiredCapacity: %v", err)
	}
	w.errs["ListContainerInstances"] = wireError{status: 400, header: "ThrottlingException", body: `{"__type":"ThrottlingException","message":"Rate exceeded"}`}
	if _, err := c.Snapshot(context.Background()); !errors.Is(err, autoscale.ErrThrottled) || !strings.Contains(err.Error(), "list container instances hashike") {
		t.Fatalf("throttled ListContainerInstances: %v", err)
	}
}
