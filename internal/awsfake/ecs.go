package awsfake

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"

	awsecs "github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/hashike/hashike/autoscale"
)

type ecsClient struct{ c *Cloud }

type taskDef struct {
	def  types.TaskDefinition
	tags []types.Tag
}

func (e ecsClient) RegisterTaskDefinition(ctx context.Context, in *awsecs.RegisterTaskDefinitionInput, _ ...func(*awsecs.Options)) (*awsecs.RegisterTaskDefinitionOutput, error) {
	c := e.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.begin(ctx, "RegisterTaskDefinition"); err != nil {
		return nil, err
	}
	if in.Family == nil || *in.Family == "" {
		return nil, apiError("ClientException", "Family must be specified.")
	}
	if len(in.ContainerDefinitions) == 0 {
		return nil, apiError("ClientException", "Container list cannot be empty.")
	}
	taskCPU, err := parseUnits(in.Cpu, "vcpu")
	if err != nil {
		return nil, err
	}
	taskMem, err := parseUnits(in.Memory, "gb")
	if err != nil {
		return nil, err
	}
	names := map[string]bool{}
	for _, cd := range in.ContainerDefinitions {
		if cd.Name == nil || *cd.Name == "" {
			return nil, apiError("ClientException", "Container.name should not be null or empty.")
		}
		if names[*cd.Name] {
			return nil, apiError("ClientException", "Duplicate container name: %s.", *cd.Name)
		}
		names[*cd.Name] = true
		if cd.Image == nil || *cd.Image == "" {
			return nil, apiError("ClientException", "Container.image should not be null or empty.")
		}
		if taskMem == 0 && cd.Memory == nil && cd.MemoryReservation == nil {
			return nil, apiError("ClientException", "Invalid setting for container '%s'. At least one of 'memory' or 'memoryReservation' must be specified.", *cd.Name)
		}
	}
	for _, cd := range in.ContainerDefinitions {
		for _, d := range cd.DependsOn {
			if d.ContainerName == nil || !names[*d.ContainerName] {
				return nil, apiError("ClientException", "Container '%s' has a dependency on a container that does not exist.", *cd.Name)
			}
		}
		for _, mp := range cd.MountPoints {
			found := false
			for _, v := range in.Volumes {
				found = found || v.Name != nil && mp.SourceVolume != nil && *v.Name == *mp.SourceVolume
			}
			if !found {
				return nil, apiError("ClientException", "Invalid 'mountPoints' setting for container '%s'. sourceVolume '%s' is not defined.", *cd.Name, deref(mp.SourceVolume))
			}
		}
	}
	compat := []types.Compatibility{types.CompatibilityEc2, types.CompatibilityExternal}
	fargateOK := in.NetworkMode == types.NetworkModeAwsvpc && taskCPU > 0 && taskMem > 0
	if fargateOK {
		compat = append(compat, types.CompatibilityFargate)
	}
	for _, rc := range in.RequiresCompatibilities {
		if rc == types.CompatibilityFargate && !fargateOK {
			if in.NetworkMode != types.NetworkModeAwsvpc {
				return nil, apiError("ClientException", "Fargate only supports network mode ‘awsvpc’.")
			}
			return nil, apiError("ClientException", "Fargate requires that 'cpu' be defined at the task level.")
		}
	}

	fam := *in.Family
	rev := int32(len(c.families[fam]) + 1)
	td := types.TaskDefinition{
		Family:                  ptr(fam),
		Revision:                rev,
		TaskDefinitionArn:       ptr(c.arn("ecs", fmt.Sprintf("task-definition/%s:%d", fam, rev))),
		Status:                  types.TaskDefinitionStatusActive,
		ContainerDefinitions:    copyDefs(in.ContainerDefinitions),
		Volumes:                 in.Volumes,
		NetworkMode:             in.NetworkMode,
		Cpu:                     in.Cpu,
		Memory:                  in.Memory,
		TaskRoleArn:             in.TaskRoleArn,
		ExecutionRoleArn:        in.ExecutionRoleArn,
		RequiresCompatibilities: in.RequiresCompatibilities,
		Compatibilities:         compat,
		PlacementConstraints:    in.PlacementConstraints,
		PidMode:                 in.PidMode,
		IpcMode:                 in.IpcMode,
		ProxyConfiguration:      in.ProxyConfiguration,
		EphemeralStorage:        in.EphemeralStorage,
		RuntimePlatform:         in.RuntimePlatform,
		InferenceAccelerators:   in.InferenceAccelerators, //nolint:staticcheck // deprecated in ECS, still echoed back
		EnableFaultInjection:    in.EnableFaultInjection,
		RegisteredAt:            timePtr(c.clock.Now()),
		RegisteredBy:            ptr(c.arn("iam", "root")),
	}
	if td.NetworkMode == "" {
		td.NetworkMode = types.NetworkModeBridge
	}
	c.families[fam] = append(c.families[fam], &taskDef{def: td, tags: in.Tags})
	return &awsecs.RegisterTaskDefinitionOutput{TaskDefinition: ptr(td), Tags: in.Tags}, nil
}

func copyDefs(in []types.ContainerDefinition) []types.ContainerDefinition {
	out := make([]types.ContainerDefinition, len(in))
	copy(out, in)
	for i := range out {
		if out[i].Essential == nil {
			out[i].Essential = ptr(true)
		}
		if out[i].Environment == nil {
			out[i].Environment = []types.KeyValuePair{}
		}
		if out[i].MountPoints == nil {
			out[i].MountPoints = []types.MountPoint{}
		}
		if out[i].VolumesFrom == nil {
			out[i].VolumesFrom = []types.VolumeFrom{}
		}
	}
	return out
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// parseUnits reads a task-level cpu or memory value ("256", "1 vCPU", "2 GB").
func parseUnits(s *string, unit string) (int, error) {
	if s == nil || *s == "" {
		return 0, nil
	}
	t := strings.ToLower(strings.TrimSpace(*s))
	mul := 1.0
	if strings.HasSuffix(t, unit) {
		t = strings.TrimSpace(strings.TrimSuffix(t, unit))
		mul = 1024
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || f <= 0 {
		return 0, apiError("ClientException", "Invalid 'cpu' setting for task.")
	}
	return int(f * mul), nil
}

// lookupDef resolves "family", "family:revision" or an ARN to a registered revision.
func (c *Cloud) lookupDef(ref string) *taskDef {
	if i := strings.LastIndex(ref, ":task-definition/"); i >= 0 {
		ref = ref[i+len(":task-definition/"):]
	}
	fam, revText, hasRev := strings.Cut(ref, ":")
	revs := c.families[fam]
	if !hasRev {
		for i := len(revs) - 1; i >= 0; i-- {
			if revs[i].def.Status == types.TaskDefinitionStatusActive {
				return revs[i]
			}
		}
		return nil
	}
	rev, err := strconv.Atoi(revText)
	if err != nil || rev < 1 || rev > len(revs) {
		return nil
	}
	return revs[rev-1]
}

func (e ecsClient) DescribeTaskDefinition(ctx context.Context, in *awsecs.DescribeTaskDefinitionInput, _ ...func(*awsecs.Options)) (*awsecs.DescribeTaskDefinitionOutput, error) {
	c := e.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.begin(ctx, "DescribeTaskDefinition"); err != nil {
		return nil, err
	}
	td := c.lookupDef(deref(in.TaskDefinition))
	if td == nil {
		return nil, apiError("ClientException", "Unable to describe task definition.")
	}
	out := &awsecs.DescribeTaskDefinitionOutput{TaskDefinition: ptr(td.def)}
	for _, inc := range in.Include {
		if inc == types.TaskDefinitionFieldTags {
			out.Tags = td.tags
		}
	}
	return out, nil
}

// idempotent remembers a RunTask clientToken: the request it came with and the answer.
type idempotent struct {
	request string
	out     *awsecs.RunTaskOutput
}

func (e ecsClient) RunTask(ctx context.Context, in *awsecs.RunTaskInput, _ ...func(*awsecs.Options)) (*awsecs.RunTaskOutput, error) {
	c := e.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.begin(ctx, "RunTask"); err != nil {
		return nil, err
	}
	var request string
	if in.ClientToken != nil {
		if len(*in.ClientToken) > 64 {
			return nil, apiError("InvalidParameterException", "clientToken must be at most 64 characters.")
		}
		cp := *in
		cp.ClientToken = nil
		b, _ := json.Marshal(cp)
		request = string(b)
		if prev, ok := c.tokens[*in.ClientToken]; ok {
			if prev.request != request {
				var ids []string
				for _, t := range prev.out.Tasks {
					ids = append(ids, *t.TaskArn)
				}
				return nil, &types.ConflictException{
					Message:     ptr("The specified client token has already been used in another request."),
					ResourceIds: ids,
				}
			}
			return c.rerunOutput(prev.out), nil
		}
	}
	out, err := c.runTask(in)
	if err != nil {
		return nil, err
	}
	if in.ClientToken != nil {
		c.tokens[*in.ClientToken] = &idempotent{request: request, out: out}
	}
	return c.rerunOutput(out), nil
}

// rerunOutput answers with the tasks' current state, as a repeated idempotent call does.
func (c *Cloud) rerunOutput(out *awsecs.RunTaskOutput) *awsecs.RunTaskOutput {
	res := &awsecs.RunTaskOutput{Failures: out.Failures}
	for _, t := range out.Tasks {
		if tk := c.tasks[*t.TaskArn]; tk != nil {
			res.Tasks = append(res.Tasks, tk.describe(true))
		} else {
			res.Tasks = append(res.Tasks, t)
		}
	}
	return res
}

func (c *Cloud) runTask(in *awsecs.RunTaskInput) (*awsecs.RunTaskOutput, error) {
	cl, err := c.clusterOf(in.Cluster)
	if err != nil {
		return nil, err
	}
	if in.TaskDefinition == nil || *in.TaskDefinition == "" {
		return nil, apiError("InvalidParameterException", "TaskDefinition cannot be empty.")
	}
	td := c.lookupDef(*in.TaskDefinition)
	if td == nil {
		return nil, apiError("ClientException", "Unable to find task definition.")
	}
	if in.LaunchType != "" && len(in.CapacityProviderStrategy) > 0 {
		return nil, apiError("InvalidParameterException", "Specifying both a launch type and capacity provider strategy is not supported. Remove one and try again.")
	}
	count := 1
	if in.Count != nil {
		count = int(*in.Count)
	}
	if count < 1 || count > autoscale.MaxRunTaskCount {
		return nil, apiError("InvalidParameterException", "Count must be between 1 and 10.")
	}
	field, err := binpackField(in.PlacementStrategy)
	if err != nil {
		return nil, err
	}
	if in.StartedBy != nil && len(*in.StartedBy) > 128 {
		return nil, apiError("InvalidParameterException", "StartedBy cannot be longer than 128 characters.")
	}
	if in.Group != nil && len(*in.Group) > 255 {
		return nil, apiError("InvalidParameterException", "Group cannot be longer than 255 characters.")
	}
	if len(in.Tags) > 50 {
		return nil, apiError("InvalidParameterException", "Tags cannot have more than 50 elements.")
	}
	for _, tg := range in.Tags {
		if tg.Key == nil || *tg.Key == "" || len(*tg.Key) > 128 || tg.Value != nil && len(*tg.Value) > 256 {
			return nil, apiError("InvalidParameterException", "Invalid tag: keys are 1-128 characters, values at most 256.")
		}
		if strings.HasPrefix(strings.ToLower(*tg.Key), "aws:") {
			return nil, apiError("InvalidParameterException", "Tag keys cannot start with the reserved prefix 'aws:'.")
		}
	}
	if in.Overrides != nil {
		b, _ := json.Marshal(overrideShape(in.Overrides))
		if len(b) > 8192 {
			return nil, apiError("InvalidParameterException", "Container Overrides length must be at most 8192")
		}
		for _, co := range in.Overrides.ContainerOverrides {
			if co.Name == nil || findDef(td.def.ContainerDefinitions, *co.Name) == nil {
				return nil, apiError("InvalidParameterException", "Override for container named %s is not a container in the TaskDefinition.", deref(co.Name))
			}
		}
	}
	launch := in.LaunchType
	provider := ""
	if len(in.CapacityProviderStrategy) > 0 {
		item := in.CapacityProviderStrategy[0]
		provider = deref(item.CapacityProvider)
		if _, ok := cl.providers[provider]; !ok && provider != "FARGATE" && provider != "FARGATE_SPOT" {
			return nil, apiError("InvalidParameterException", "The specified capacity provider strategy cannot contain a capacity provider that is not associated with the cluster. Associate the capacity provider with the cluster or specify a valid capacity provider and try again.")
		}
		if provider == "FARGATE" || provider == "FARGATE_SPOT" {
			launch, provider = types.LaunchTypeFargate, ""
		}
	}
	if launch == "" && provider == "" {
		launch = types.LaunchTypeEc2
	}
	if launch == types.LaunchTypeFargate && !hasCompat(td.def.Compatibilities, types.CompatibilityFargate) {
		return nil, apiError("ClientException", "Task definition does not support launch_type FARGATE.")
	}
	if td.def.NetworkMode == types.NetworkModeAwsvpc && (in.NetworkConfiguration == nil || in.NetworkConfiguration.AwsvpcConfiguration == nil) {
		return nil, apiError("InvalidParameterException", "Network Configuration must be provided when networkMode 'awsvpc' is specified.")
	}

	cpu, mem := taskSize(&td.def, in.Overrides)
	out := &awsecs.RunTaskOutput{Tasks: []types.Task{}, Failures: []types.Failure{}}
	now := c.clock.Now()
	start := func(host *instance) {
		t := c.newTask(cl, td, in, launch, provider, cpu, mem, now)
		t.binpack = field
		if host != nil {
			t.assign(host)
		}
		if launch == types.LaunchTypeFargate || host != nil {
			t.launch()
		}
		out.Tasks = append(out.Tasks, t.describe(true))
	}
	if launch != types.LaunchTypeFargate && provider == "" {
		// EC2: the simulator's placement (autoscale.Place), each instance's failure once.
		hosts := active(cl.instances)
		placed, failures, err := autoscale.Place(remaining(hosts), cpu, mem, count, field)
		if err != nil {
			// On a cluster without container instances ECS fails the whole call with
			// InvalidParameterException "No Container Instances were found in your cluster."
			// (as CloudTrail records it), not with a failure per task.
			return nil, apiError("InvalidParameterException", "%v", err)
		}
		for _, i := range placed {
			start(hosts[i])
		}
		for _, f := range failures {
			out.Failures = append(out.Failures, types.Failure{Arn: ptr(hosts[f.Instance].arn), Reason: ptr(f.Reason)})
		}
		return out, nil
	}
	for k := 0; k < count; k++ {
		var host *instance
		if launch == types.LaunchTypeFargate {
			if c.opts.FargateCapacity > 0 && c.countFargate(cl) >= c.opts.FargateCapacity {
				out.Failures = append(out.Failures, types.Failure{Reason: ptr("Capacity is unavailable at this time. Please try again later or in a different availability zone")})
				continue
			}
		} else {
			host = placeOne(c.providerInstances(cl, provider), cpu, mem, field)
			if host == nil && c.countProvisioning(cl) >= c.opts.MaxProvisioning {
				if len(out.Tasks) == 0 {
					return nil, apiError("ClientException", "Tasks provisioning capacity limit exceeded.")
				}
				out.Failures = append(out.Failures, types.Failure{Reason: ptr("Tasks provisioning capacity limit exceeded.")})
				continue
			}
		}
		start(host)
	}
	return out, nil
}

// defaultBinpack is the fake's placement for RunTask without a binpack strategy. ECS
// documents no default strategy for standalone tasks (a service's is spread across
// Availability Zones); the fake binpacks on memory, as it always has.
const defaultBinpack = autoscale.BinpackMemory

// binpackField is the field of RunTask's placementStrategy's first binpack rule, else
// defaultBinpack. As ECS: at most 5 rules; type binpack, spread or random; binpack's field
// cpu or memory. The fake has one Availability Zone and no random choice, so it places
// spread and random rules as its default binpack.
func binpackField(rules []types.PlacementStrategy) (autoscale.BinpackField, error) {
	if len(rules) > 5 {
		return "", apiError("InvalidParameterException", "Placement strategies cannot have more than 5 elements.")
	}
	field := autoscale.BinpackField("")
	for _, r := range rules {
		switch r.Type {
		case types.PlacementStrategyTypeBinpack:
			f := autoscale.BinpackField(deref(r.Field))
			if !f.Valid() {
				return "", apiError("InvalidParameterException", "Invalid field for binpack placement strategy: %q. Valid fields are cpu and memory.", deref(r.Field))
			}
			if field == "" {
				field = f
			}
		case types.PlacementStrategyTypeSpread, types.PlacementStrategyTypeRandom:
		default:
			return "", apiError("InvalidParameterException", "Invalid placement strategy type: %q.", r.Type)
		}
	}
	if field == "" {
		field = defaultBinpack
	}
	return field, nil
}

// overrideShape is the overrides as the service measures them (JSON, empty fields omitted).
func overrideShape(o *types.TaskOverride) any {
	v := reflect.ValueOf(*o)
	m := map[string]any{}
	for i := 0; i < v.NumField(); i++ {
		f := v.Field(i)
		if !f.CanInterface() || f.IsZero() {
			continue
		}
		m[v.Type().Field(i).Name] = f.Interface()
	}
	return m
}

func hasCompat(cs []types.Compatibility, want types.Compatibility) bool {
	for _, c := range cs {
		if c == want {
			return true
		}
	}
	return false
}

func findDef(defs []types.ContainerDefinition, name string) *types.ContainerDefinition {
	for i := range defs {
		if deref(defs[i].Name) == name {
			return &defs[i]
		}
	}
	return nil
}

// taskSize is what the task reserves: the task-level size, else the sum over its containers.
func taskSize(td *types.TaskDefinition, o *types.TaskOverride) (cpu, mem int) {
	cpuRef, memRef := td.Cpu, td.Memory
	if o != nil && o.Cpu != nil {
		cpuRef = o.Cpu
	}
	if o != nil && o.Memory != nil {
		memRef = o.Memory
	}
	cpu, _ = parseUnits(cpuRef, "vcpu")
	mem, _ = parseUnits(memRef, "gb")
	var sumCPU, sumMem int
	for _, cd := range td.ContainerDefinitions {
		cd = withOverride(cd, o)
		sumCPU += int(cd.Cpu)
		switch {
		case cd.Memory != nil:
			sumMem += int(*cd.Memory)
		case cd.MemoryReservation != nil:
			sumMem += int(*cd.MemoryReservation)
		}
	}
	if cpu == 0 {
		cpu = sumCPU
	}
	if mem == 0 {
		mem = sumMem
	}
	return cpu, mem
}

// withOverride applies a RunTask container override to a container definition.
func withOverride(cd types.ContainerDefinition, o *types.TaskOverride) types.ContainerDefinition {
	if o == nil {
		return cd
	}
	for _, co := range o.ContainerOverrides {
		if deref(co.Name) != deref(cd.Name) {
			continue
		}
		if co.Command != nil {
			cd.Command = co.Command
		}
		if co.Environment != nil {
			env := map[string]int{}
			merged := append([]types.KeyValuePair{}, cd.Environment...)
			for i, kv := range merged {
				env[deref(kv.Name)] = i
			}
			for _, kv := range co.Environment {
				if i, ok := env[deref(kv.Name)]; ok {
					merged[i] = kv
				} else {
					merged = append(merged, kv)
				}
			}
			cd.Environment = merged
		}
		if co.Cpu != nil {
			cd.Cpu = *co.Cpu
		}
		if co.Memory != nil {
			cd.Memory = co.Memory
		}
		if co.MemoryReservation != nil {
			cd.MemoryReservation = co.MemoryReservation
		}
	}
	return cd
}

func (c *Cloud) providerInstances(cl *cluster, provider string) []*instance {
	g := cl.providers[provider]
	var out []*instance
	for _, in := range cl.instances {
		if in.asg == g && !in.draining {
			out = append(out, in)
		}
	}
	return out
}

func (c *Cloud) countProvisioning(cl *cluster) int {
	n := 0
	for _, t := range c.order {
		if t.cluster == cl && t.lastStatus == statusProvisioning && t.instance == nil && t.capacityProvider != "" {
			n++
		}
	}
	return n
}

func (c *Cloud) countFargate(cl *cluster) int {
	n := 0
	for _, t := range c.order {
		if t.cluster == cl && t.launchType == types.LaunchTypeFargate && t.lastStatus != statusStopped {
			n++
		}
	}
	return n
}

// tryPlaceProvisioning places a PROVISIONING task on new capacity, or stops it when it has
// waited too long.
func (c *Cloud) tryPlaceProvisioning(t *task, now time.Time) {
	if host := placeOne(c.providerInstances(t.cluster, t.capacityProvider), t.cpu, t.mem, t.binpack); host != nil {
		t.assign(host)
		t.launch()
		return
	}
	if now.Sub(*t.createdAt) >= c.opts.ProvisioningTimeout {
		t.failProvisioning(now)
	}
}

func (e ecsClient) DescribeTasks(ctx context.Context, in *awsecs.DescribeTasksInput, _ ...func(*awsecs.Options)) (*awsecs.DescribeTasksOutput, error) {
	c := e.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.begin(ctx, "DescribeTasks"); err != nil {
		return nil, err
	}
	cl, err := c.clusterOf(in.Cluster)
	if err != nil {
		return nil, err
	}
	if len(in.Tasks) == 0 {
		return nil, apiError("InvalidParameterException", "Tasks cannot be empty.")
	}
	if len(in.Tasks) > 100 {
		return nil, apiError("InvalidParameterException", "Tasks cannot have more than 100 elements.")
	}
	tags := false
	for _, f := range in.Include {
		tags = tags || f == types.TaskFieldTags
	}
	out := &awsecs.DescribeTasksOutput{Tasks: []types.Task{}, Failures: []types.Failure{}}
	for _, ref := range in.Tasks {
		t := c.findTask(cl, ref)
		if t == nil {
			arn := ref
			if !strings.HasPrefix(ref, "arn:") {
				arn = c.arn("ecs", fmt.Sprintf("task/%s/%s", cl.name, ref))
			}
			out.Failures = append(out.Failures, types.Failure{Arn: ptr(arn), Reason: ptr("MISSING")})
			continue
		}
		out.Tasks = append(out.Tasks, t.describe(tags))
	}
	return out, nil
}

// findTask resolves a task ARN or ID within cl.
func (c *Cloud) findTask(cl *cluster, ref string) *task {
	if t := c.tasks[ref]; t != nil && t.cluster == cl {
		return t
	}
	if !strings.HasPrefix(ref, "arn:") {
		if t := c.tasks[c.arn("ecs", fmt.Sprintf("task/%s/%s", cl.name, ref))]; t != nil {
			return t
		}
	}
	return nil
}

func (e ecsClient) StopTask(ctx context.Context, in *awsecs.StopTaskInput, _ ...func(*awsecs.Options)) (*awsecs.StopTaskOutput, error) {
	c := e.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.begin(ctx, "StopTask"); err != nil {
		return nil, err
	}
	cl, err := c.clusterOf(in.Cluster)
	if err != nil {
		return nil, err
	}
	if in.Reason != nil && len(*in.Reason) > 255 {
		return nil, apiError("InvalidParameterException", "Reason cannot be longer than 255 characters.")
	}
	t := c.findTask(cl, deref(in.Task))
	if t == nil {
		return nil, apiError("InvalidParameterException", "The referenced task was not found.")
	}
	reason := "Task stopped by user"
	if in.Reason != nil && *in.Reason != "" {
		reason = *in.Reason
	}
	t.requestStop(reason)
	return &awsecs.StopTaskOutput{Task: ptr(t.describe(true))}, nil
}

func (e ecsClient) ListTasks(ctx context.Context, in *awsecs.ListTasksInput, _ ...func(*awsecs.Options)) (*awsecs.ListTasksOutput, error) {
	c := e.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.begin(ctx, "ListTasks"); err != nil {
		return nil, err
	}
	cl, err := c.clusterOf(in.Cluster)
	if err != nil {
		return nil, err
	}
	if in.ServiceName != nil && (in.StartedBy != nil || in.Family != nil) {
		return nil, apiError("InvalidParameterException", "ServiceName cannot be specified with startedBy or family.")
	}
	want := types.DesiredStatusRunning
	if in.DesiredStatus != "" {
		want = in.DesiredStatus
	}
	var arns []string
	for _, t := range c.order {
		switch {
		case t.cluster != cl, t.desiredStatus != string(want),
			in.StartedBy != nil && t.startedBy != *in.StartedBy,
			in.Family != nil && deref(t.def.Family) != *in.Family,
			in.LaunchType != "" && t.launchType != in.LaunchType,
			in.ServiceName != nil,
			in.ContainerInstance != nil && (t.instance == nil || t.instance.arn != *in.ContainerInstance && !strings.HasSuffix(t.instance.arn, "/"+*in.ContainerInstance)):
			continue
		}
		arns = append(arns, t.arn)
	}
	page, next, err := paginate(arns, in.NextToken, in.MaxResults)
	if err != nil {
		return nil, err
	}
	return &awsecs.ListTasksOutput{TaskArns: page, NextToken: next}, nil
}

func (e ecsClient) TagResource(ctx context.Context, in *awsecs.TagResourceInput, _ ...func(*awsecs.Options)) (*awsecs.TagResourceOutput, error) {
	c := e.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.begin(ctx, "TagResource"); err != nil {
		return nil, err
	}
	arn := deref(in.ResourceArn)
	if len(in.Tags) == 0 {
		return nil, apiError("InvalidParameterException", "Tags cannot be empty.")
	}
	t := c.tasks[arn]
	if t == nil {
		return nil, apiError("InvalidParameterException", "The specified resource was not found: %s", arn)
	}
	for _, tg := range in.Tags {
		if tg.Key == nil || *tg.Key == "" || strings.HasPrefix(strings.ToLower(*tg.Key), "aws:") {
			return nil, apiError("InvalidParameterException", "Invalid tag key.")
		}
	}
	for _, tg := range in.Tags {
		replaced := false
		for i := range t.tags {
			if deref(t.tags[i].Key) == *tg.Key {
				t.tags[i].Value, replaced = tg.Value, true
			}
		}
		if !replaced {
			t.tags = append(t.tags, tg)
		}
	}
	return &awsecs.TagResourceOutput{}, nil
}
