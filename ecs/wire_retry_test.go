package ecs_test

import (
	"bytes"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsecs "github.com/aws/aws-sdk-go-v2/service/ecs"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/ecs"
)

// startServer answers what Start asks before RunTask (no task for the run, a family without
// revisions, a registration) and RunTask with runTask.
func startServer(t *testing.T, runTask func(w http.ResponseWriter, n int32)) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var runTasks atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		switch strings.TrimPrefix(r.Header.Get("X-Amz-Target"), ecsTarget) {
		case "ListTasks":
			w.Write([]byte(`{"taskArns":[]}`))
		case "DescribeTaskDefinition":
			w.WriteHeader(http.StatusBadRequest)
			w.Write([]byte(`{"__type":"ClientException","message":"Unable to describe task definition."}`))
		case "RegisterTaskDefinition":
			w.Write(readWire(t, "RegisterTaskDefinition.response.json"))
		case "RunTask":
			runTask(w, runTasks.Add(1))
		default:
			t.Errorf("unexpected call %s", r.Header.Get("X-Amz-Target"))
			w.WriteHeader(http.StatusBadRequest)
		}
	}))
	t.Cleanup(srv.Close)
	return srv, &runTasks
}

// retryingECS is an ECS client as cmd/hashike builds one: the SDK's retryer of NewRetryer.
func retryingECS(srv *httptest.Server) ecs.ECSAPI {
	return awsecs.New(awsecs.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(srv.URL),
		Credentials:  aws.NewCredentialsCache(aws.CredentialsProviderFunc(wireCredentials)),
		HTTPClient:   srv.Client(),
		Retryer:      ecs.NewRetryer(),
	})
}

func serverError(w http.ResponseWriter) {
	w.WriteHeader(http.StatusInternalServerError)
	w.Write([]byte(`{"__type":"ServerException","message":"Service Unavailable. Please try again later."}`))
}

// A RunTask that fails with HTTP 500 once is retried by the SDK, within one call: the backend
// neither reports it nor adds a retry of its own.
func TestWireSDKRetriesServerError(t *testing.T) {
	srv, runTasks := startServer(t, func(w http.ResponseWriter, n int32) {
		if n == 1 {
			serverError(w)
			return
		}
		w.Write(readWire(t, "RunTask.ec2.response.json"))
	})
	var said bytes.Buffer
	b := ecs.New(ecs.Config{ECS: retryingECS(srv), PollMin: 10 * time.Millisecond, PollMax: 100 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(&said, nil))})
	ref, err := b.Start(tctx(t), hashike.StartRequest{RunID: newRunID(), Spec: job(64, "exit", "0")})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	if ref.ID != taskArn1 || runTasks.Load() != 2 {
		t.Fatalf("task %q after %d RunTask requests, want %s after 2", ref.ID, runTasks.Load(), taskArn1)
	}
	if strings.Contains(said.String(), "retrying") {
		t.Fatalf("the backend retried what the SDK did:\n%s", said.String())
	}
}

// RunTask answering HTTP 500 for good: the capacity timeout ends the wait, the SDK's backoff
// included (its first retry may come later than the timeout), and the run could not start
// because ECS failed, not for lack of capacity.
func TestWireServerErrorsEndAtCapacityTimeout(t *testing.T) {
	srv, runTasks := startServer(t, func(w http.ResponseWriter, _ int32) { serverError(w) })
	b := ecs.New(ecs.Config{ECS: retryingECS(srv), PollMin: 10 * time.Millisecond, PollMax: 100 * time.Millisecond})
	spec := job(64, "exit", "0")
	// 3 s, not less: under -race on a loaded machine the calls before RunTask's first answer
	// took most of a 1 s timeout, and the error then rightly said RunTask had not answered.
	spec.ECS = &hashike.ECSOptions{CapacityTimeout: hashike.Duration(3 * time.Second)}
	began := time.Now()
	_, err := b.Start(tctx(t), hashike.StartRequest{RunID: newRunID(), Spec: spec})
	took := time.Since(began)
	var se *hashike.StartError
	if !errors.As(err, &se) || !strings.Contains(se.Reason, "server error") || strings.Contains(se.Reason, "capacity timeout:") {
		t.Fatalf("Start: %v, want a StartError saying ECS had a server error", err)
	}
	if runTasks.Load() < 1 {
		t.Fatal("no RunTask request")
	}
	// A bound, not a speed: without it one call's SDK retries alone could take a minute.
	if took > 15*time.Second {
		t.Fatalf("Start gave up after %s with a capacity timeout of 3s", took)
	}
}
