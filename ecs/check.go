package ecs

import (
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/hashike/hashike"
)

// Check implements hashike.Backend: the `ecs:` run options and what ECS requires of the task
// definition for them (Fargate's network mode, sizes and subnets). Every ECS task definition
// field passes through to RegisterTaskDefinition, the Extra ones included, so none is refused
// here; containers whose output cannot be followed (no awslogs driver with a group and a
// stream prefix, and no DefaultLogConfiguration) get a warning.
func (b *Backend) Check(spec *hashike.JobSpec) []hashike.FieldError {
	var out []hashike.FieldError
	add := func(sev hashike.Severity, path, format string, args ...any) {
		out = append(out, hashike.FieldError{Path: path, Severity: sev, Message: fmt.Sprintf(format, args...)})
	}
	refuse := func(path, format string, args ...any) { add(hashike.SeverityError, path, format, args...) }
	warn := func(path, format string, args ...any) { add(hashike.SeverityWarning, path, format, args...) }
	oneOf := func(path, v string, allowed ...string) {
		if v != "" && !slices.Contains(allowed, v) {
			refuse(path, "%q must be one of %s", v, strings.Join(allowed, ", "))
		}
	}

	o := options(spec)
	td := &spec.TaskDefinition
	oneOf("ecs.launchType", o.LaunchType, "EC2", "FARGATE", "EXTERNAL")
	if o.LaunchType != "" && len(o.CapacityProviderStrategy) > 0 {
		refuse("ecs.capacityProviderStrategy", "give either launchType or capacityProviderStrategy, not both")
	}
	fargate := o.LaunchType == "FARGATE"
	for i, s := range o.CapacityProviderStrategy {
		p := fmt.Sprintf("ecs.capacityProviderStrategy[%d]", i)
		if s.CapacityProvider == "" {
			refuse(p+".capacityProvider", "is required")
		}
		if s.CapacityProvider == "FARGATE" || s.CapacityProvider == "FARGATE_SPOT" {
			fargate = true
		}
		if s.Weight < 0 || s.Weight > 1000 {
			refuse(p+".weight", "%d must be between 0 and 1000", s.Weight)
		}
		if s.Base < 0 || s.Base > 100000 {
			refuse(p+".base", "%d must be between 0 and 100000", s.Base)
		}
	}
	oneOf("ecs.propagateTags", o.PropagateTags, "TASK_DEFINITION", "NONE")
	var subnets []string
	if n := o.NetworkConfiguration; n != nil && n.AwsvpcConfiguration != nil {
		a := n.AwsvpcConfiguration
		subnets = a.Subnets
		oneOf("ecs.networkConfiguration.awsvpcConfiguration.assignPublicIp", a.AssignPublicIp, "ENABLED", "DISABLED")
		if len(a.Subnets) > 16 {
			refuse("ecs.networkConfiguration.awsvpcConfiguration.subnets", "has %d subnets; ECS allows at most 16", len(a.Subnets))
		}
		if len(a.SecurityGroups) > 5 {
			refuse("ecs.networkConfiguration.awsvpcConfiguration.securityGroups", "has %d security groups; ECS allows at most 5", len(a.SecurityGroups))
		}
		if td.NetworkMode != "awsvpc" {
			refuse("ecs.networkConfiguration", "applies only to the awsvpc network mode (taskDefinition.networkMode is %q)", td.NetworkMode)
		}
	}
	if td.NetworkMode == "awsvpc" && len(subnets) == 0 {
		refuse("ecs.networkConfiguration.awsvpcConfiguration.subnets", "are required with networkMode awsvpc")
	}
	for i, c := range o.PlacementConstraints {
		p := fmt.Sprintf("ecs.placementConstraints[%d]", i)
		oneOf(p+".type", c.Type, "distinctInstance", "memberOf")
		if c.Type == "memberOf" && c.Expression == "" {
			refuse(p+".expression", "is required for memberOf")
		}
		if fargate {
			refuse(p, "placement constraints do not apply to Fargate")
		}
	}
	for i, s := range o.PlacementStrategy {
		p := fmt.Sprintf("ecs.placementStrategy[%d]", i)
		oneOf(p+".type", s.Type, "random", "spread", "binpack")
		switch {
		case s.Type == "binpack" && s.Field != "cpu" && s.Field != "memory":
			refuse(p+".field", "binpack needs field cpu or memory")
		case s.Type == "spread" && s.Field == "":
			refuse(p+".field", "spread needs a field (instanceId, host or attribute:...)")
		}
		if fargate {
			refuse(p, "placement strategies do not apply to Fargate")
		}
	}
	if len(o.Tags) > 48 { // ECS allows 50; hashike adds two
		refuse("ecs.tags", "has %d tags; ECS allows 50 per task and hashike adds 2", len(o.Tags))
	}
	for i, t := range o.Tags {
		if strings.HasPrefix(t.Key, "hashike:") || strings.HasPrefix(strings.ToLower(t.Key), "aws:") {
			refuse(fmt.Sprintf("ecs.tags[%d].key", i), "%q uses a reserved prefix", t.Key)
		}
	}
	if o.AutoScalingGroupName != "" && fargate {
		refuse("ecs.autoScalingGroupName", "scales EC2 instances; the task runs on Fargate")
	}
	if q := o.EventsQueueURL; q != "" {
		if u, err := url.Parse(q); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			refuse("ecs.eventsQueueUrl", "%q is not an SQS queue URL (https://sqs.REGION.amazonaws.com/ACCOUNT/NAME)", q)
		}
	}
	if fargate || slices.Contains(td.RequiresCompatibilities, "FARGATE") {
		if td.NetworkMode != "awsvpc" {
			refuse("taskDefinition.networkMode", "Fargate needs networkMode awsvpc (have %q)", td.NetworkMode)
		}
		cpu, cerr := td.Cpu.CPUUnits()
		mem, merr := td.Memory.MemoryMiB()
		switch {
		case cerr != nil || merr != nil:
			// spec.Validate reports unparsable sizes.
		case cpu == 0 || mem == 0:
			refuse("taskDefinition.cpu", "Fargate needs task-level cpu and memory")
		case !FargateSize(cpu, mem):
			refuse("taskDefinition.memory", "%d MiB with %d CPU units is not a Fargate size (%s)", mem, cpu, fargateSizes)
		}
	}
	for i, c := range td.ContainerDefinitions {
		p := fmt.Sprintf("taskDefinition.containerDefinitions[%d].logConfiguration", i)
		lc := c.LogConfiguration
		if lc == nil && b.defaultLog != nil {
			lc = b.defaultLog
		}
		switch {
		case lc == nil || lc.LogDriver != "awslogs":
			warn(p, "logs are followed only with the awslogs driver: the output of %s will not be shown or stored", c.Name)
		case lc.Options["awslogs-group"] == "":
			refuse(p+".options", "awslogs needs awslogs-group")
		case lc.Options["awslogs-stream-prefix"] == "":
			warn(p+".options", "without awslogs-stream-prefix the stream of %s cannot be found: its logs will not be followed", c.Name)
		}
	}
	return out
}

const fargateSizes = "256 CPU: 512-2048 MiB; 512: 1-4 GB; 1024: 2-8 GB; 2048: 4-16 GB; 4096: 8-30 GB in 1 GB steps; 8192: 16-60 GB in 4 GB steps; 16384: 32-120 GB in 8 GB steps"

// FargateSize reports whether cpu units and memory MiB are a valid Fargate task size.
func FargateSize(cpu, mem int) bool {
	between := func(lo, hi, step int) bool { return mem >= lo && mem <= hi && (mem-lo)%step == 0 }
	switch cpu {
	case 256:
		return mem == 512 || mem == 1024 || mem == 2048
	case 512:
		return between(1024, 4096, 1024)
	case 1024:
		return between(2048, 8192, 1024)
	case 2048:
		return between(4096, 16384, 1024)
	case 4096:
		return between(8192, 30720, 1024)
	case 8192:
		return between(16384, 61440, 4096)
	case 16384:
		return between(32768, 122880, 8192)
	}
	return false
}
