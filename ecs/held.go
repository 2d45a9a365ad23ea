package ecs

import (
	"encoding/json"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/hashike/hashike"
)

// Held secrets (hashike.HeldSecretPrefix) on ECS.
//
// ECS resolves a container's secrets itself, from Secrets Manager or Parameter Store ARNs
// written in the task definition, and RunTask cannot override secrets per task. A value that
// only hashike holds, per run (a GitHub Actions runner's JIT config), therefore rides as a
// RunTask containerOverrides environment variable: it is never in the task definition, never
// in hashike's database or logs, but ECS keeps it in the task's overrides, which anyone
// allowed ecs:DescribeTasks on the cluster can read while the task exists (about an hour
// after it stopped). docs/runners.md weighs this against a per-runner SSM parameter.

// isHeld reports whether a secret is held by hashike.
func isHeld(s hashike.Secret) bool { return strings.HasPrefix(s.ValueFrom, hashike.HeldSecretPrefix) }

// splitHeld returns spec without its held secrets (in the definition and its base) and the
// environment variables that carry them, by container name, their values read from values.
// A held secret without a value is an error: the task would start without it.
func splitHeld(spec *hashike.JobSpec, values map[string]string) (*hashike.JobSpec, map[string][]types.KeyValuePair, error) {
	has := func(cs []hashike.ContainerDefinition) bool {
		return slices.ContainsFunc(cs, func(c hashike.ContainerDefinition) bool { return slices.ContainsFunc(c.Secrets, isHeld) })
	}
	if !has(spec.TaskDefinition.ContainerDefinitions) && (spec.Base == nil || !has(spec.Base.ContainerDefinitions)) {
		return spec, nil, nil
	}
	out := spec.Clone()
	env := map[string][]types.KeyValuePair{}
	for i := range out.TaskDefinition.ContainerDefinitions {
		c := &out.TaskDefinition.ContainerDefinitions[i]
		for _, s := range c.Secrets {
			if !isHeld(s) {
				continue
			}
			v, ok := values[s.Name]
			if !ok {
				return nil, nil, hashike.Errorf(hashike.EInvalid, "container %s: secret %s is held by hashike (%s) but its value was not given", c.Name, s.Name, s.ValueFrom)
			}
			env[c.Name] = append(env[c.Name], types.KeyValuePair{Name: aws.String(s.Name), Value: aws.String(v)})
		}
		c.Secrets = slices.DeleteFunc(c.Secrets, isHeld)
	}
	if out.Base != nil {
		for i := range out.Base.ContainerDefinitions {
			c := &out.Base.ContainerDefinitions[i]
			c.Secrets = slices.DeleteFunc(c.Secrets, isHeld)
		}
	}
	return &out, env, nil
}

// withHeld adds the held secrets' variables to the containerOverrides, replacing a variable of
// the same name, and checks RunTask's limit on their size.
func withHeld(overrides []types.ContainerOverride, env map[string][]types.KeyValuePair) ([]types.ContainerOverride, error) {
	if len(env) == 0 {
		return overrides, nil
	}
	out := slices.Clone(overrides)
	names := make([]string, 0, len(env))
	for n := range env {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, name := range names {
		i := slices.IndexFunc(out, func(o types.ContainerOverride) bool { return aws.ToString(o.Name) == name })
		if i < 0 {
			out = append(out, types.ContainerOverride{Name: aws.String(name)})
			i = len(out) - 1
		}
		o := &out[i]
		vars := slices.DeleteFunc(slices.Clone(o.Environment), func(kv types.KeyValuePair) bool {
			return slices.ContainsFunc(env[name], func(h types.KeyValuePair) bool { return aws.ToString(h.Name) == aws.ToString(kv.Name) })
		})
		o.Environment = append(vars, env[name]...)
	}
	if b, err := json.Marshal(apiShapeOf(out)); err != nil || len(b) > maxOverrides {
		return nil, hashike.Errorf(hashike.EInvalid, "the held secrets make RunTask's containerOverrides larger than ECS allows (%d characters)", maxOverrides)
	}
	return out, nil
}
