package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awsecs "github.com/aws/aws-sdk-go-v2/service/ecs"

	"github.com/hashike/hashike/ecs"
)

// TestAWSAttemptsCountsRetriesAndThrottles: a call that ECS throttles once and then answers
// is two attempts, the first throttled; an access error is an error with its code.
func TestAWSAttemptsCountsRetriesAndThrottles(t *testing.T) {
	var n atomic.Int32
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		switch n.Add(1) {
		case 1:
			w.WriteHeader(http.StatusBadRequest)
			w.Write([]byte(`{"__type":"ThrottlingException","message":"Rate exceeded"}`))
		case 2:
			w.Write([]byte(`{"clusters":[],"failures":[]}`))
		default:
			w.WriteHeader(http.StatusBadRequest)
			w.Write([]byte(`{"__type":"AccessDeniedException","message":"no"}`))
		}
	}))
	defer ts.Close()
	type attempt struct {
		service, op, code string
		throttled         bool
	}
	var mu sync.Mutex
	var got []attempt
	cfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("AK", "SK", ""),
		Retryer: ecs.NewRetryer, BaseEndpoint: aws.String(ts.URL),
		APIOptions: nil}
	cfg.APIOptions = append(cfg.APIOptions, awsAttempts(func(service, op, code string, throttled bool) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, attempt{service, op, code, throttled})
	}))
	c := awsecs.NewFromConfig(cfg)
	if _, err := c.DescribeClusters(context.Background(), &awsecs.DescribeClustersInput{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DescribeClusters(context.Background(), &awsecs.DescribeClustersInput{}); err == nil {
		t.Fatal("the access error did not come back")
	}
	want := []attempt{
		{"ECS", "DescribeClusters", "ThrottlingException", true},
		{"ECS", "DescribeClusters", "", false},
		{"ECS", "DescribeClusters", "AccessDeniedException", false},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("attempts %+v, want %+v", got, want)
	}
}
