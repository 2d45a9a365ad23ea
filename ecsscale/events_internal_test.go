package ecsscale

import (
	"encoding/json"
	"testing"
)

// FuzzParseEvent: no body makes the parser panic, and a body over the limit is refused.
func FuzzParseEvent(f *testing.F) {
	f.Add(`{"source":"aws.ec2","detail-type":"EC2 Spot Instance Interruption Warning","time":"2026-12-06T02:00:00Z","detail":{"instance-id":"i-1","instance-action":"terminate"}}`)
	f.Add(`{"source":"aws.autoscaling","detail-type":"EC2 Instance-terminate Lifecycle Action","detail":{"LifecycleActionToken":"t","AutoScalingGroupName":"g","LifecycleHookName":"h","EC2InstanceId":"i-1","LifecycleTransition":"autoscaling:EC2_INSTANCE_TERMINATING"}}`)
	f.Add(`{"detail":[[[[[[[[[[]]]]]]]]]]}`)
	f.Add(`{"time":"yesterday"}`)
	f.Fuzz(func(t *testing.T, body string) {
		ev, err := parseEvent(body)
		if len(body) > maxEventBody && err == nil {
			t.Fatalf("a body of %d bytes was accepted", len(body))
		}
		if err != nil {
			return
		}
		var l lifecycleDetail
		var e ec2Detail
		_ = json.Unmarshal(ev.Detail, &l)
		_ = json.Unmarshal(ev.Detail, &e)
	})
}
