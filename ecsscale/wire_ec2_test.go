package ecsscale_test

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	awsecs "github.com/aws/aws-sdk-go-v2/service/ecs"

	"github.com/hashike/hashike/autoscale"
	"github.com/hashike/hashike/ecsscale"
	"github.com/hashike/hashike/internal/awsfake"
)

// TestWireSpotFromDescribeInstances: with an EC2 client, Snapshot asks DescribeInstances
// (the real SDK client, EC2's query protocol) about the live instances by the instance-id
// filter, and reads spot from instanceLifecycle: the active instance is spot, the
// launching one (no instanceLifecycle) on-demand.
func TestWireSpotFromDescribeInstances(t *testing.T) {
	w := newWire(t)
	region, endpoint, creds := "us-east-1", aws.String(w.srv.URL), aws.NewCredentialsCache(aws.CredentialsProviderFunc(wireCredentials))
	c, err := ecsscale.New(
		awsecs.New(awsecs.Options{Region: region, BaseEndpoint: endpoint, Credentials: creds, HTTPClient: w.srv.Client(), Retryer: aws.NopRetryer{}}),
		autoscaling.New(autoscaling.Options{Region: region, BaseEndpoint: endpoint, Credentials: creds, HTTPClient: w.srv.Client(), Retryer: aws.NopRetryer{}}),
		ecsscale.Config{
			Cluster: "hashike",
			Types: []autoscale.InstanceType{
				{Name: "m5.large", CPU: 2048, MemoryMiB: 7680, OnDemandPrice: 0.096, SpotPrice: 0.04},
				{Name: "m5a.large", CPU: 2048, MemoryMiB: 7680, OnDemandPrice: 0.086, SpotPrice: 0.037},
			},
			Pools: []ecsscale.Pool{{Name: "jobs", Group: "hashike-ecs"}},
			Clock: awsfake.NewManualClock(wireNow),
			EC2:   ec2.New(ec2.Options{Region: region, BaseEndpoint: endpoint, Credentials: creds, HTTPClient: w.srv.Client(), Retryer: aws.NopRetryer{}}),
		})
	if err != nil {
		t.Fatal(err)
	}
	s, err := c.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	expectCalls(t, "Snapshot", w.take(), "DescribeAutoScalingGroups", "ListContainerInstances", "DescribeContainerInstances",
		"ListTasks", "DescribeTasks", "DescribeInstances", "DescribeScalingActivities", "TerminateInstanceInAutoScalingGroup", "SetInstanceProtection")
	if len(s.Instances) != 2 {
		t.Fatalf("instances %+v", s.Instances)
	}
	if active, launching := s.Instances[0], s.Instances[1]; !active.Spot || launching.Spot || launching.CPU != 2048 {
		t.Errorf("active %+v (want spot), launching %+v (want on-demand, with its type's CPU)", active, launching)
	}
}
