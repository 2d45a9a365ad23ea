package ecs_test

// Wire-level tests of the events consumer: a Backend with a real SQS client on an httptest
// server, so the consumer's ReceiveMessage and DeleteMessageBatch requests are checked as the
// SDK serializes them (AWS JSON 1.0) and the canned event as the SDK hands it over.

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsecs "github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/smithy-go"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/ecs"
)

const sqsTarget = "AmazonSQS."

func newSQS(srv *httptest.Server) ecs.SQSAPI {
	return sqs.New(sqs.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(srv.URL),
		Credentials:  aws.NewCredentialsCache(aws.CredentialsProviderFunc(wireCredentials)),
		HTTPClient:   srv.Client(),
		Retryer:      aws.NopRetryer{},
	})
}

func TestWireSQSCoversEveryMethod(t *testing.T) {
	for m := range reflect.TypeFor[ecs.SQSAPI]().Methods() {
		matches, _ := filepath.Glob(filepath.Join(wireDir, m.Name+".*response.*"))
		if len(matches) == 0 {
			t.Errorf("SQSAPI.%s has no %s/%s.*response.* exchange", m.Name, wireDir, m.Name)
		}
	}
}

// runningECS answers DescribeTasks with taskArn1 RUNNING at version 1: only the event can
// tell the backend the task stopped.
type runningECS struct {
	ecs.ECSAPI
	calls atomic.Int32
}

func (r *runningECS) DescribeTasks(_ context.Context, in *awsecs.DescribeTasksInput, _ ...func(*awsecs.Options)) (*awsecs.DescribeTasksOutput, error) {
	r.calls.Add(1)
	return &awsecs.DescribeTasksOutput{Tasks: []ecstypes.Task{{
		TaskArn: aws.String(taskArn1), ClusterArn: aws.String("arn:aws:ecs:us-east-1:123456789012:cluster/hashike"),
		LastStatus: aws.String("RUNNING"), DesiredStatus: aws.String("RUNNING"), Version: 1,
		Containers: []ecstypes.Container{{Name: aws.String("main"), LastStatus: aws.String("RUNNING")}},
	}}}, nil
}

// TestWireEventsConsumer: the consumer long-polls with the documented input, ends the wait on
// the canned event (exit code 3 from detail.containers), and deletes both the event and the
// malformed message beside it in one batch.
func TestWireEventsConsumer(t *testing.T) {
	var receives atomic.Int32
	deleted := make(chan struct{})
	var once atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if got := r.Header.Get("Content-Type"); got != "application/x-amz-json-1.0" {
			t.Errorf("Content-Type = %q, want application/x-amz-json-1.0", got)
		}
		signedFor(t, r, "sqs")
		target := r.Header.Get("X-Amz-Target")
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		w.Header().Set("X-Amzn-RequestId", "0b1c2d3e-0000-4f5a-8b9c-0d1e2f3a4b5c")
		var reply []byte
		switch target {
		case sqsTarget + "ReceiveMessage":
			if !jsonEqual(t, body, readWire(t, "ReceiveMessage.request.json")) {
				t.Errorf("ReceiveMessage request body: %s", body)
			}
			reply = []byte("{}")
			if receives.Add(1) == 1 {
				reply = readWire(t, "ReceiveMessage.response.json")
			} else {
				select { // a long poll that brings nothing
				case <-r.Context().Done():
				case <-time.After(50 * time.Millisecond):
				}
			}
		case sqsTarget + "DeleteMessageBatch":
			if !jsonEqual(t, body, readWire(t, "DeleteMessageBatch.request.json")) {
				t.Errorf("DeleteMessageBatch request body: %s", body)
			}
			reply = readWire(t, "DeleteMessageBatch.response.json")
			if once.CompareAndSwap(false, true) {
				close(deleted)
			}
		default:
			t.Errorf("unexpected X-Amz-Target %q", target)
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		w.Write(reply)
	}))
	t.Cleanup(srv.Close)

	stub := &runningECS{}
	b := ecs.New(ecs.Config{
		ECS: stub, SQS: newSQS(srv),
		EventsQueueURL: "https://sqs.us-east-1.amazonaws.com/123456789012/hashike-events", // as after a restart: Wait gets only the ref
		PollMin:        time.Hour, PollMax: time.Hour,
	})
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	st, err := b.Wait(ctx, hashike.TaskRef{ID: taskArn1, Cluster: "hashike"})
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "lastStatus", st.LastStatus, hashike.TaskStopped)
	eq(t, "stopCode", st.StopCode, hashike.StopCodeEssentialExited)
	eq(t, "stoppedReason", st.StoppedReason, "Essential container in task exited")
	timeEq(t, "createdAt", st.CreatedAt, 1700000000123)
	timeEq(t, "startedAt", st.StartedAt, 1700000005000)
	timeEq(t, "stoppedAt", st.StoppedAt, 1700000094789)
	ptrEq(t, "main.exitCode", st.Container("main").ExitCode, 3)
	ptrEq(t, "log-router.exitCode", st.Container("log-router").ExitCode, 0)
	if n := stub.calls.Load(); n > 1 {
		t.Errorf("DescribeTasks called %d times, want at most 1", n)
	}
	select {
	case <-deleted:
	case <-ctx.Done():
		t.Fatal("the handled messages were never deleted")
	}
}

// TestWireSQSErrors: a JSON 1.0 error answer reaches the consumer as an API error with the
// service's code (the consumer then backs off and leaves its tasks to polling).
func TestWireSQSErrors(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		w.Header().Set("X-Amzn-Query-Error", "AWS.SimpleQueueService.NonExistentQueue;Sender")
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, `{"__type":"com.amazonaws.sqs#QueueDoesNotExist","message":"The specified queue does not exist."}`)
	}))
	t.Cleanup(srv.Close)
	_, err := newSQS(srv).ReceiveMessage(t.Context(), &sqs.ReceiveMessageInput{QueueUrl: aws.String("https://sqs.us-east-1.amazonaws.com/123456789012/nope")})
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("error %v is not an API error", err)
	}
	eq(t, "code", ae.ErrorCode(), "AWS.SimpleQueueService.NonExistentQueue")
}
