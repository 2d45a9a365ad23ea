package ecs_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/ecs"
)

func boolp(v bool) *bool { return &v }

func TestCheck(t *testing.T) {
	awslogs := &hashike.LogConfiguration{LogDriver: "awslogs", Options: map[string]string{"awslogs-group": "g", "awslogs-stream-prefix": "p"}}
	base := func() hashike.JobSpec {
		s := job(512, "exit", "0")
		s.TaskDefinition.ContainerDefinitions[0].LogConfiguration = awslogs
		return s
	}
	fargate := func(cpu, mem hashike.TaskSize) hashike.JobSpec {
		s := base()
		s.TaskDefinition.NetworkMode, s.TaskDefinition.Cpu, s.TaskDefinition.Memory = "awsvpc", cpu, mem
		s.ECS = &hashike.ECSOptions{LaunchType: "FARGATE", NetworkConfiguration: &hashike.NetworkConfiguration{
			AwsvpcConfiguration: &hashike.AwsVpcConfiguration{Subnets: []string{"subnet-1"}, AssignPublicIp: "ENABLED"}}}
		return s
	}
	for _, tc := range []struct {
		name   string
		spec   hashike.JobSpec
		errors []string // paths
		warns  []string
	}{
		{"plain EC2", base(), nil, nil},
		{"fargate ok", fargate("1 vCPU", "2 GB"), nil, nil},
		{"fargate bad size", fargate("256", "4096"), []string{"taskDefinition.memory"}, nil},
		{"fargate no size", fargate("", ""), []string{"taskDefinition.cpu"}, nil},
		{"fargate bridge", func() hashike.JobSpec {
			s := fargate("256", "512")
			s.TaskDefinition.NetworkMode = "bridge"
			return s
		}(), []string{"ecs.networkConfiguration", "taskDefinition.networkMode"}, nil},
		{"fargate no subnets", func() hashike.JobSpec {
			s := fargate("256", "512")
			s.ECS.NetworkConfiguration = nil
			return s
		}(), []string{"ecs.networkConfiguration.awsvpcConfiguration.subnets"}, nil},
		{"exclusive and enums", func() hashike.JobSpec {
			s := base()
			s.ECS = &hashike.ECSOptions{
				LaunchType: "SPOT", CapacityProviderStrategy: []hashike.CapacityProviderStrategyItem{{CapacityProvider: "cp"}},
				PropagateTags: "SERVICE", PlacementConstraints: []hashike.PlacementConstraint{{Type: "memberOf"}},
				PlacementStrategy: []hashike.PlacementStrategy{{Type: "binpack", Field: "disk"}},
				Tags:              []hashike.Tag{{Key: "hashike:run-id", Value: "x"}},
			}
			return s
		}(), []string{"ecs.launchType", "ecs.capacityProviderStrategy", "ecs.propagateTags", "ecs.placementConstraints[0].expression",
			"ecs.placementStrategy[0].field", "ecs.tags[0].key"}, nil},
		{"no awslogs", func() hashike.JobSpec {
			s := base()
			s.TaskDefinition.ContainerDefinitions[0].LogConfiguration = &hashike.LogConfiguration{LogDriver: "fluentd"}
			s.ECS = &hashike.ECSOptions{EventsQueueURL: "https://sqs.us-east-1.amazonaws.com/1/q"}
			return s
		}(), nil, []string{"taskDefinition.containerDefinitions[0].logConfiguration"}},
		{"events queue not a URL", func() hashike.JobSpec {
			s := base()
			s.ECS = &hashike.ECSOptions{EventsQueueURL: "hashike-events"}
			return s
		}(), []string{"ecs.eventsQueueUrl"}, nil},
		{"awslogs without group", func() hashike.JobSpec {
			s := base()
			s.TaskDefinition.ContainerDefinitions[0].LogConfiguration = &hashike.LogConfiguration{LogDriver: "awslogs"}
			return s
		}(), []string{"taskDefinition.containerDefinitions[0].logConfiguration.options"}, nil},
		{"extra fields pass", func() hashike.JobSpec {
			s := base()
			s.TaskDefinition.ContainerDefinitions[0].Extra = map[string]any{"privileged": true, "portMappings": []any{}}
			s.TaskDefinition.Extra = map[string]any{"pidMode": "host"}
			return s
		}(), nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var errs, warns []string
			for _, f := range ecs.New(ecs.Config{}).Check(&tc.spec) {
				if f.Severity == hashike.SeverityWarning {
					warns = append(warns, f.Path)
				} else {
					errs = append(errs, f.Path)
				}
			}
			slices.Sort(errs)
			slices.Sort(warns)
			want, wantW := slices.Sorted(slices.Values(tc.errors)), slices.Sorted(slices.Values(tc.warns))
			if !slices.Equal(errs, want) || !slices.Equal(warns, wantW) {
				t.Fatalf("errors %q, warnings %q; want %q, %q", errs, warns, want, wantW)
			}
		})
	}
	// The default log configuration silences the warning.
	s := job(64)
	if fs := ecs.New(ecs.Config{DefaultLogConfiguration: awslogs}).Check(&s); len(fs) != 0 {
		t.Fatalf("with a default log configuration: %v", fs)
	}
}

func TestFargateSize(t *testing.T) {
	for _, tc := range []struct {
		cpu, mem int
		ok       bool
	}{
		{256, 512, true}, {256, 4096, false}, {512, 4096, true}, {1024, 9216, false},
		{4096, 30720, true}, {8192, 20480, true}, {8192, 18432, false}, {16384, 122880, true}, {128, 512, false},
	} {
		if got := ecs.FargateSize(tc.cpu, tc.mem); got != tc.ok {
			t.Errorf("FargateSize(%d, %d) = %v", tc.cpu, tc.mem, got)
		}
	}
}

func TestScaleOutDecision(t *testing.T) {
	r := func(cpu, mem int) hashike.Resources { return hashike.Resources{CPU: cpu, MemoryMiB: mem} }
	full := ecs.Instance{EC2InstanceID: "i-1", Registered: r(1024, 2048), Remaining: r(0, 100)}
	need := r(512, 1024)
	for _, tc := range []struct {
		name      string
		instances []ecs.Instance
		group     ecs.Group
		want      int
		err       bool
	}{
		{"fits already", []ecs.Instance{{EC2InstanceID: "i-1", Registered: r(1024, 2048), Remaining: r(512, 1024)}}, ecs.Group{Desired: 1, Max: 3, InstanceIDs: []string{"i-1"}}, 1, false},
		{"one more", []ecs.Instance{full}, ecs.Group{Desired: 1, Max: 3, InstanceIDs: []string{"i-1"}}, 2, false},
		{"scale-out under way", []ecs.Instance{full}, ecs.Group{Desired: 2, Max: 3, InstanceIDs: []string{"i-1", "i-2"}}, 2, false},
		{"at max", []ecs.Instance{full}, ecs.Group{Desired: 1, Max: 1, InstanceIDs: []string{"i-1"}}, 1, false},
		{"empty group", nil, ecs.Group{Desired: 0, Max: 2}, 1, false},
		{"never fits", []ecs.Instance{full}, ecs.Group{Desired: 1, Max: 3, InstanceIDs: []string{"i-1"}}, 1, true},
	} {
		n := need
		if tc.err {
			n = r(512, 4096)
		}
		got, why, err := ecs.ScaleOut(n, tc.instances, tc.group)
		if got != tc.want || (err != nil) != tc.err {
			t.Errorf("%s: desired %d (%s), err %v; want %d, err %v", tc.name, got, why, err, tc.want, tc.err)
		}
	}
}

func TestCanonicalMatchesWhatECSReturns(t *testing.T) {
	td := hashike.TaskDefinition{Family: "f", NetworkMode: "awsvpc", Cpu: "1 vCPU", Memory: "2 GB",
		ContainerDefinitions: []hashike.ContainerDefinition{{
			Name: "app", Image: "img", Environment: []hashike.KeyValuePair{{Name: "B", Value: "2"}, {Name: "A", Value: "1"}},
			Extra: map[string]any{"portMappings": []any{map[string]any{"containerPort": 80}}},
		}},
		Volumes: []hashike.Volume{{Name: "v", DockerVolumeConfiguration: &hashike.DockerVolumeConfiguration{Driver: "local"}}},
		Extra:   map[string]any{"taskDefinitionArn": "arn:old", "revision": 3},
	}
	in, err := ecs.RegisterInput(&td, nil)
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(in.Cpu) != "1024" || aws.ToString(in.Memory) != "2048" || len(in.ContainerDefinitions[0].PortMappings) != 1 {
		t.Fatalf("input %+v", in)
	}
	// What DescribeTaskDefinition answers: defaults filled, empty lists, sorted env.
	described := *in
	described.ContainerDefinitions = []types.ContainerDefinition{in.ContainerDefinitions[0]}
	c := &described.ContainerDefinitions[0]
	c.Essential = boolp(true)
	c.MountPoints, c.VolumesFrom = []types.MountPoint{}, []types.VolumeFrom{}
	c.Environment = []types.KeyValuePair{{Name: aws.String("A"), Value: aws.String("1")}, {Name: aws.String("B"), Value: aws.String("2")}}
	c.PortMappings = []types.PortMapping{{ContainerPort: aws.Int32(80), HostPort: aws.Int32(80), Protocol: types.TransportProtocolTcp}}
	described.Volumes = []types.Volume{{Name: aws.String("v"), DockerVolumeConfiguration: &types.DockerVolumeConfiguration{Driver: aws.String("local"), Scope: types.ScopeTask}}}
	a, err1 := ecs.Canonical(in)
	b, err2 := ecs.Canonical(&described)
	if err1 != nil || err2 != nil || a != b {
		t.Fatalf("canonical forms differ:\n%s\n%s", a, b)
	}
	c.Essential = boolp(false)
	if b2, _ := ecs.Canonical(&described); b2 == a {
		t.Fatal("essential false compares equal to the default true")
	}
	if _, err := ecs.RegisterInput(&hashike.TaskDefinition{Family: "f", Extra: map[string]any{"pidMode": 3}}, nil); hashike.ErrorCodeOf(err) != hashike.EInvalid || !strings.Contains(err.Error(), "f") {
		t.Fatalf("a mistyped Extra field: %v, want EInvalid", err)
	}
}
