package ecs

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/hashike/hashike"
)

// outputOnlyFields are DescribeTaskDefinition output fields that exported definition files
// (ecspresso's) carry; RegisterTaskDefinition refuses them, so they are dropped.
var outputOnlyFields = []string{
	"taskDefinitionArn", "revision", "status", "requiresAttributes", "compatibilities",
	"registeredAt", "registeredBy", "deregisteredAt",
}

// RegisterInput converts the job's task definition into RegisterTaskDefinition's input. Every
// field passes through, the Extra ones included (portMappings, linuxParameters,
// ephemeralStorage, runtimePlatform, efsVolumeConfiguration...): the definition is encoded as
// ECS's JSON and decoded into the SDK's types, whose field names are ECS's up to case. A field
// the SDK does not know, or a value of the wrong type, is an EInvalid error. DescribeTaskDefinition
// output fields are dropped. defaultLog, when set, is given to containers without a log
// configuration.
func RegisterInput(td *hashike.TaskDefinition, defaultLog *hashike.LogConfiguration) (*ecs.RegisterTaskDefinitionInput, error) {
	raw, err := json.Marshal(td)
	if err != nil {
		return nil, fmt.Errorf("encode task definition %s: %w", td.Family, err)
	}
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("encode task definition %s: %w", td.Family, err)
	}
	for _, k := range outputOnlyFields {
		delete(m, k)
	}
	// ECS takes task-level sizes as strings; "1 vCPU" and "2 GB" are normalized to units.
	if n, err := td.Cpu.CPUUnits(); err == nil && n > 0 {
		m["cpu"] = strconv.Itoa(n)
	}
	if n, err := td.Memory.MemoryMiB(); err == nil && n > 0 {
		m["memory"] = strconv.Itoa(n)
	}
	if defaultLog != nil {
		cs, _ := m["containerDefinitions"].([]any)
		for i, c := range cs {
			cm, _ := c.(map[string]any)
			if _, has := cm["logConfiguration"]; cm != nil && !has && td.ContainerDefinitions[i].LogConfiguration == nil {
				cm["logConfiguration"] = defaultLog
			}
		}
	}
	raw, err = json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encode task definition %s: %w", td.Family, err)
	}
	var in ecs.RegisterTaskDefinitionInput
	dec = json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		return nil, &hashike.Error{Code: hashike.EInvalid, Message: "task definition " + td.Family + " cannot be sent to ECS", Err: err}
	}
	return &in, nil
}

// describedInput turns a registered revision back into the input that would register it.
func describedInput(td *types.TaskDefinition, tags []types.Tag) (*ecs.RegisterTaskDefinitionInput, error) {
	raw, err := json.Marshal(td)
	if err != nil {
		return nil, err
	}
	var in ecs.RegisterTaskDefinitionInput
	if err := json.Unmarshal(raw, &in); err != nil { // output-only fields are ignored
		return nil, err
	}
	in.Tags = tags
	return &in, nil
}

// Canonical is the form two definitions are compared in: ECS's defaults made explicit (essential
// true, protocol tcp, hostPort = containerPort under awsvpc and host networking, volume scope
// task, network mode bridge), lists whose order does not matter sorted (environment, secrets,
// tags), and empty values (null, false, 0, "", [], {}) dropped, since ECS answers with empty
// arrays and zeros where nothing was given. Equal canonical forms register equal revisions.
func Canonical(in *ecs.RegisterTaskDefinitionInput) (string, error) {
	c := *in
	c.ContainerDefinitions = slices.Clone(in.ContainerDefinitions)
	if c.NetworkMode == types.NetworkModeBridge {
		c.NetworkMode = ""
	}
	c.Tags = sortedTags(c.Tags)
	for i := range c.ContainerDefinitions {
		d := &c.ContainerDefinitions[i]
		if d.Essential == nil {
			d.Essential = aws.Bool(true)
		}
		d.Environment = slices.Clone(d.Environment)
		slices.SortFunc(d.Environment, func(a, b types.KeyValuePair) int { return strings.Compare(aws.ToString(a.Name), aws.ToString(b.Name)) })
		d.Secrets = slices.Clone(d.Secrets)
		slices.SortFunc(d.Secrets, func(a, b types.Secret) int { return strings.Compare(aws.ToString(a.Name), aws.ToString(b.Name)) })
		d.PortMappings = slices.Clone(d.PortMappings)
		for j := range d.PortMappings {
			p := &d.PortMappings[j]
			if p.Protocol == "" {
				p.Protocol = types.TransportProtocolTcp
			}
			if p.HostPort == nil && p.ContainerPort != nil && (c.NetworkMode == types.NetworkModeAwsvpc || c.NetworkMode == types.NetworkModeHost) {
				p.HostPort = p.ContainerPort
			}
		}
	}
	c.Volumes = slices.Clone(in.Volumes)
	for i := range c.Volumes {
		if v := c.Volumes[i].DockerVolumeConfiguration; v != nil && v.Scope == "" {
			cp := *v
			cp.Scope = types.ScopeTask
			c.Volumes[i].DockerVolumeConfiguration = &cp
		}
	}
	raw, err := json.Marshal(&c)
	if err != nil {
		return "", err
	}
	var m any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		return "", err
	}
	m, _ = prune(m)
	out, err := json.Marshal(m)
	return string(out), err
}

func sortedTags(tags []types.Tag) []types.Tag {
	out := slices.Clone(tags)
	slices.SortFunc(out, func(a, b types.Tag) int { return strings.Compare(aws.ToString(a.Key), aws.ToString(b.Key)) })
	return out
}

// prune drops empty values; it reports whether v itself is empty.
func prune(v any) (any, bool) {
	switch x := v.(type) {
	case nil:
		return nil, true
	case bool:
		return x, !x
	case string:
		return x, x == ""
	case json.Number:
		f, err := x.Float64()
		return x, err == nil && f == 0
	case []any:
		out := x[:0]
		for _, e := range x {
			if p, empty := prune(e); !empty {
				out = append(out, p)
			}
		}
		return out, len(out) == 0
	case map[string]any:
		for k, e := range x {
			if p, empty := prune(e); empty {
				delete(x, k)
			} else {
				x[k] = p
			}
		}
		return x, len(x) == 0
	}
	return v, false
}

// Registration is what Start registers for spec and the RunTask containerOverrides it runs it
// with: the task definition as the job file defines it (spec.Filed), like ecspresso, and the
// per-run overrides (the command after --, -e, --cpu, --memory; the server's run variables)
// as containerOverrides. When those cannot be expressed as containerOverrides (RunTask can
// override a container's command, environment, cpu and memory only, within 8,192
// characters), the definition that runs is registered as it is, without overrides.
func Registration(spec *hashike.JobSpec, defaultLog *hashike.LogConfiguration) (*ecs.RegisterTaskDefinitionInput, []types.ContainerOverride, error) {
	want, err := RegisterInput(&spec.TaskDefinition, defaultLog)
	if err != nil || spec.Base == nil {
		return want, nil, err
	}
	filed, err := RegisterInput(spec.Base, defaultLog)
	if err != nil {
		return nil, nil, err
	}
	overrides, ok := overridesFor(filed, want)
	if !ok {
		return want, nil, nil
	}
	return filed, overrides, nil
}

// ensureTaskDefinition returns the ARN of a revision of the job's family to run and the
// containerOverrides to run it with (see Registration): the family's latest ACTIVE revision
// when it equals the definition to register, else a new revision. A process registers a
// definition at most once per 5 minutes however many runs start.
func (b *Backend) ensureTaskDefinition(ctx context.Context, spec *hashike.JobSpec) (string, []types.ContainerOverride, error) {
	in, overrides, err := Registration(spec, b.defaultLog)
	if err != nil {
		return "", nil, err
	}
	key, err := Canonical(in)
	if err != nil {
		return "", nil, fmt.Errorf("normalize task definition %s: %w", spec.TaskDefinition.Family, err)
	}
	b.mu.Lock()
	r, ok := b.registered[key]
	if ok && r.done != nil {
		b.mu.Unlock()
		select {
		case <-r.done:
		case <-ctx.Done():
			return "", nil, ctx.Err()
		}
		b.mu.Lock()
		r, ok = b.registered[key]
	}
	if ok && r.done == nil && r.err == nil && b.clock.Now().Sub(r.at) < 5*time.Minute {
		b.mu.Unlock()
		return r.arn, overrides, nil
	}
	done := make(chan struct{})
	b.registered[key] = registration{done: done}
	b.mu.Unlock()

	arn, err := b.registerIfChanged(ctx, in, key)
	b.mu.Lock()
	if err != nil {
		delete(b.registered, key)
	} else {
		b.registered[key] = registration{arn: arn, at: b.clock.Now()}
	}
	b.mu.Unlock()
	close(done)
	return arn, overrides, err
}

func (b *Backend) registerIfChanged(ctx context.Context, in *ecs.RegisterTaskDefinitionInput, key string) (string, error) {
	family := aws.ToString(in.Family)
	if arn, err := b.reusable(ctx, in, key); err != nil || arn != "" {
		return arn, err
	}

	backoff := b.pollMin
	for i := 0; ; i++ {
		out, err := b.ecs.RegisterTaskDefinition(ctx, in)
		if err == nil {
			b.log.Info("registered task definition", "arn", aws.ToString(out.TaskDefinition.TaskDefinitionArn))
			return aws.ToString(out.TaskDefinition.TaskDefinitionArn), nil
		}
		// Server errors and throttling the SDK's retryer has already retried; only ECS's answer
		// to concurrent registrations of a family, which it does not, is retried here.
		if !tooManyConcurrent(err) || i >= 10 || ctx.Err() != nil {
			return "", classify("register task definition "+family, err)
		}
		if serr := b.sleep(ctx, b.jitter(backoff)); serr != nil {
			return "", classify("register task definition "+family, err)
		}
		backoff = min(backoff*2, b.pollMax)
	}
}

// reusable returns the ARN of the family's latest ACTIVE revision when it equals in (in their
// canonical forms), and "" when a new revision is needed. It only reads.
func (b *Backend) reusable(ctx context.Context, in *ecs.RegisterTaskDefinitionInput, key string) (string, error) {
	family := aws.ToString(in.Family)
	cur, err := b.ecs.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String(family), Include: []types.TaskDefinitionField{types.TaskDefinitionFieldTags}})
	switch {
	case err == nil && cur.TaskDefinition != nil && cur.TaskDefinition.Status == types.TaskDefinitionStatusActive:
		have, herr := describedInput(cur.TaskDefinition, cur.Tags)
		if herr != nil {
			break
		}
		if hk, cerr := Canonical(have); cerr == nil && hk == key {
			return aws.ToString(cur.TaskDefinition.TaskDefinitionArn), nil
		}
	case err == nil:
	case apiCode(err) == "ClientException":
		// The family has no ACTIVE revision yet.
	default:
		return "", classify("describe task definition "+family, err)
	}
	return "", nil
}

// taskDefinition returns the registered revision tdArn, described once per process.
func (b *Backend) taskDefinition(ctx context.Context, tdArn string) (*types.TaskDefinition, error) {
	b.mu.Lock()
	td, ok := b.taskDefs[tdArn]
	b.mu.Unlock()
	if ok {
		return td, nil
	}
	out, err := b.ecs.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String(tdArn)})
	if err != nil {
		return nil, classify("describe task definition "+tdArn, err)
	}
	b.mu.Lock()
	b.taskDefs[tdArn] = out.TaskDefinition
	b.mu.Unlock()
	return out.TaskDefinition, nil
}
