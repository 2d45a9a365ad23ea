package ecs_test

import (
	"testing"
	"time"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/backendtest"
	"github.com/hashike/hashike/ecs"
	"github.com/hashike/hashike/internal/awsfake"
)

// testLogs is the log configuration the conformance suite's containers get: the suite's
// definitions have none, and the ECS backend follows only awslogs.
var testLogs = &hashike.LogConfiguration{LogDriver: "awslogs", Options: map[string]string{
	"awslogs-group": "/hashike/test", "awslogs-stream-prefix": "hashike", "awslogs-region": "us-east-1",
}}

// newCloud returns a fake with a cluster "default" of one large EC2 instance.
func newCloud(t testing.TB, opts awsfake.Options) *awsfake.Cloud {
	t.Helper()
	cloud := awsfake.New(opts)
	t.Cleanup(cloud.Close)
	cloud.AddCluster("default")
	return cloud
}

// fastConfig is a backend configuration on cloud with test-sized polling.
func fastConfig(cloud *awsfake.Cloud) ecs.Config {
	return ecs.Config{
		ECS: cloud.ECS(), AutoScaling: cloud.AutoScaling(), Logs: cloud.Logs(),
		PollMin: 10 * time.Millisecond, PollMax: 100 * time.Millisecond, LogPoll: 20 * time.Millisecond,
		DefaultLogConfiguration: testLogs,
	}
}

func TestConformance(t *testing.T) {
	cloud := newCloud(t, awsfake.Options{})
	cloud.AddInstance("default", 16384, 65536)
	backendtest.Run(t, backendtest.Harness{
		New:        func(t *testing.T) hashike.Backend { return ecs.New(fastConfig(cloud)) },
		Image:      "hashike-testjob:test",
		LineOutput: true,
		Secret:     func(t *testing.T, valueFrom, value string) { cloud.PutSecret(valueFrom, value) },
	})
}
