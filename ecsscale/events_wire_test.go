package ecsscale_test

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	awsecs "github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/hashike/hashike/autoscale"
	"github.com/hashike/hashike/ecsscale"
	"github.com/hashike/hashike/internal/awsfake"
)

const wireQueue = "https://sqs.us-east-1.amazonaws.com/123456789012/hashike-autoscaler"

// sqsWire answers the SQS JSON protocol: ReceiveMessage with the queued bodies (then
// nothing), DeleteMessage recording the receipt handle.
type sqsWire struct {
	t       *testing.T
	srv     *httptest.Server
	mu      sync.Mutex
	bodies  []string
	deleted []string
	sent    int
}

func newSQSWire(t *testing.T) *sqsWire {
	s := &sqsWire{t: t}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *sqsWire) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if got := r.Header.Get("Content-Type"); got != "application/x-amz-json-1.0" {
		s.t.Errorf("SQS Content-Type %q", got)
	}
	if auth := r.Header.Get("Authorization"); !strings.Contains(auth, "/us-east-1/sqs/aws4_request") {
		s.t.Errorf("SQS Authorization %q", auth)
	}
	var in map[string]any
	if err := json.Unmarshal(body, &in); err != nil {
		s.t.Errorf("SQS body %s: %v", body, err)
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	w.Header().Set("X-Amzn-RequestId", "4b5a6f7e-dddd-4e8f-9a0b-1c2d3e4f5a6b")
	s.mu.Lock()
	defer s.mu.Unlock()
	switch target := r.Header.Get("X-Amz-Target"); target {
	case "AmazonSQS.ReceiveMessage":
		want := map[string]any{"QueueUrl": wireQueue, "MaxNumberOfMessages": float64(10), "WaitTimeSeconds": float64(20)}
		if !reflect.DeepEqual(in, want) {
			s.t.Errorf("ReceiveMessage %v, want %v", in, want)
		}
		var msgs []map[string]string
		for _, b := range s.bodies {
			sum := md5.Sum([]byte(b))
			s.sent++
			msgs = append(msgs, map[string]string{"MessageId": fmt.Sprint("m-", s.sent), "ReceiptHandle": fmt.Sprint("rh-", s.sent),
				"MD5OfBody": hex.EncodeToString(sum[:]), "Body": b})
		}
		s.bodies = nil
		out, _ := json.Marshal(map[string]any{"Messages": msgs})
		w.Write(out)
	case "AmazonSQS.DeleteMessage":
		if in["QueueUrl"] != wireQueue {
			s.t.Errorf("DeleteMessage %v", in)
		}
		s.deleted = append(s.deleted, in["ReceiptHandle"].(string))
		io.WriteString(w, "{}")
	default:
		s.t.Errorf("unexpected SQS target %q", target)
		w.WriteHeader(http.StatusBadRequest)
	}
}

func (s *sqsWire) send(bodies ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.bodies = append(s.bodies, bodies...)
}

func (s *sqsWire) takeDeleted() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.deleted
	s.deleted = nil
	return d
}

func lifecycleBody(token, instance string) string {
	return `{"version":"0","id":"468fe059-f4b7-445f-bb22-2a59853e8f6b","detail-type":"EC2 Instance-terminate Lifecycle Action","source":"aws.autoscaling",` +
		`"account":"123456789012","time":"2023-11-14T22:35:40Z","region":"us-east-1","resources":["arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:042cba90-ad2f-431c-9b4d-6d9055bcc9fb:autoScalingGroupName/hashike-ecs"],` +
		`"detail":{"LifecycleActionToken":"` + token + `","AutoScalingGroupName":"hashike-ecs","LifecycleHookName":"hashike-drain","EC2InstanceId":"` + instance + `",` +
		`"LifecycleTransition":"autoscaling:EC2_INSTANCE_TERMINATING","Origin":"AutoScalingGroup","Destination":"EC2"}}`
}

// TestWireEvents: the events loop over the real SDK clients: an idle terminating instance's
// action is completed and its message deleted; a busy one is drained and gets a heartbeat
// and its message stays; a spot warning drains, lists the instance's tasks, hands them to
// the Interrupter and stops with StopTask the one it does not know, then deletes the message.
// Requests are checked against testdata/wire.
func TestWireEvents(t *testing.T) {
	w := newWire(t)
	q := newSQSWire(t)
	region, creds, client := "us-east-1", aws.NewCredentialsCache(aws.CredentialsProviderFunc(wireCredentials)), w.srv.Client()
	ecsClient := awsecs.New(awsecs.Options{Region: region, BaseEndpoint: aws.String(w.srv.URL), Credentials: creds, HTTPClient: client, Retryer: aws.NopRetryer{}})
	asClient := autoscaling.New(autoscaling.Options{Region: region, BaseEndpoint: aws.String(w.srv.URL), Credentials: creds, HTTPClient: client, Retryer: aws.NopRetryer{}})
	sqsClient := sqs.New(sqs.Options{Region: region, BaseEndpoint: aws.String(q.srv.URL), Credentials: creds, HTTPClient: q.srv.Client(), Retryer: aws.NopRetryer{}})
	ir := &recorder{}
	known := map[string]bool{
		"arn:aws:ecs:us-east-1:123456789012:task/hashike/0f9de9d1e3f94f6a9c8e2a5b7e4d3c21": true,
		"arn:aws:ecs:us-east-1:123456789012:task/hashike/7a6b5c4d3e2f4a1b9c8d7e6f5a4b3c2d": true,
	}
	c, err := ecsscale.New(ecsClient, asClient, ecsscale.Config{
		Cluster: "hashike",
		Types:   []autoscale.InstanceType{{Name: "m5.large", CPU: 2048, MemoryMiB: 7680, OnDemandPrice: 0.096, SpotPrice: 0.04}},
		Pools:   []ecsscale.Pool{{Name: "jobs", Group: "hashike-ecs"}},
		Clock:   awsfake.NewManualClock(wireNow),
		Interrupter: interrupterFunc(func(n ecsscale.Interruption) []string {
			ir.Interrupt(bg, n)
			return slices.DeleteFunc(slices.Clone(n.Tasks), func(a string) bool { return known[a] })
		}),
	})
	if err != nil {
		t.Fatal(err)
	}
	ev, err := c.Events(sqsClient, ecsscale.EventsConfig{QueueURL: wireQueue})
	if err != nil {
		t.Fatal(err)
	}
	check := func(what string, want ...string) {
		t.Helper()
		calls := w.take()
		if got := ops(calls); !slices.Equal(got, want) {
			t.Fatalf("%s: calls %v, want %v", what, got, want)
		}
		for _, call := range calls {
			switch call.op {
			case "DescribeLifecycleHooks", "RecordLifecycleActionHeartbeat", "CompleteLifecycleAction", "UpdateContainerInstancesState", "StopTask", "DescribeAutoScalingGroups":
				checkBody(t, call)
			case "ListTasks":
				var in map[string]any
				json.Unmarshal(call.body, &in)
				want := map[string]any{"cluster": "hashike", "desiredStatus": "RUNNING",
					"containerInstance": "arn:aws:ecs:us-east-1:123456789012:container-instance/hashike/9f0a8b7c6d5e4f3a2b1c0d9e8f7a6b5c"}
				if !reflect.DeepEqual(in, want) {
					t.Errorf("ListTasks %v, want %v", in, want)
				}
			}
		}
	}

	// The idle instance (DRAINING, no task): completed at once.
	q.send(lifecycleBody("d2e4b1b5-2222-4f3b-8c8d-4e5f6a7b8c9d", "i-0aaaaaaaaaaaaaaaa"))
	if n, err := ev.Receive(bg); err != nil || n != 1 {
		t.Fatalf("Receive: %d, %v", n, err)
	}
	check("idle terminating instance", "DescribeLifecycleHooks", "ListContainerInstances", "DescribeContainerInstances", "DescribeContainerInstances", "CompleteLifecycleAction")
	if d := q.takeDeleted(); !slices.Equal(d, []string{"rh-1"}) {
		t.Fatalf("deleted %v", d)
	}

	// The busy one (ACTIVE, one task): drained, a heartbeat, held.
	q.send(lifecycleBody("c1f3a0a4-1111-4e2a-9b7c-3d4e5f6a7b8c", "i-0123456789abcdef0"))
	if _, err := ev.Receive(bg); err != nil {
		t.Fatal(err)
	}
	check("busy terminating instance", "DescribeContainerInstances", "UpdateContainerInstancesState", "RecordLifecycleActionHeartbeat")
	if d := q.takeDeleted(); len(d) != 0 || !slices.Equal(ev.Held(), []string{"i-0123456789abcdef0"}) {
		t.Fatalf("deleted %v, held %v", d, ev.Held())
	}

	// A spot warning for the busy one.
	q.send(`{"version":"0","id":"12345678-1234-1234-1234-123456789012","detail-type":"EC2 Spot Instance Interruption Warning","source":"aws.ec2","account":"123456789012",` +
		`"time":"2023-11-14T22:35:40Z","region":"us-east-1","resources":["arn:aws:ec2:us-east-1a:instance/i-0123456789abcdef0"],` +
		`"detail":{"instance-id":"i-0123456789abcdef0","instance-action":"terminate"}}`)
	if _, err := ev.Receive(bg); err != nil {
		t.Fatal(err)
	}
	check("spot warning", "DescribeAutoScalingGroups", "DescribeContainerInstances", "UpdateContainerInstancesState", "ListTasks", "StopTask")
	if calls := ir.Calls(); len(calls) != 1 || len(calls[0].Tasks) != 3 || calls[0].Pool != "jobs" {
		t.Fatalf("interrupter calls %+v", calls)
	}
	if d := q.takeDeleted(); !slices.Equal(d, []string{"rh-3"}) {
		t.Fatalf("deleted %v", d)
	}
}

type interrupterFunc func(ecsscale.Interruption) []string

func (f interrupterFunc) Interrupt(_ context.Context, n ecsscale.Interruption) ([]string, error) {
	return f(n), nil
}
