package ecs

import (
	"encoding/json"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// maxOverrides is RunTask's limit on the size of its overrides (8,192 characters).
const maxOverrides = 8192

// overridesFor returns the RunTask containerOverrides that turn the registered revision have
// into want, and whether they can: RunTask overrides a container's command, cpu, memory,
// memoryReservation and adds or replaces environment variables; it cannot remove a variable
// or change anything else. This is what keeps `hashike run -e DATE=... -- cmd` from registering
// a revision per run, as `ecspresso run` and `hako oneshot` do with overrides.
func overridesFor(have, want *ecs.RegisterTaskDefinitionInput) ([]types.ContainerOverride, bool) {
	if len(have.ContainerDefinitions) != len(want.ContainerDefinitions) {
		return nil, false
	}
	patched := *have
	patched.ContainerDefinitions = slices.Clone(have.ContainerDefinitions)
	var out []types.ContainerOverride
	for _, w := range want.ContainerDefinitions {
		i := slices.IndexFunc(patched.ContainerDefinitions, func(c types.ContainerDefinition) bool {
			return aws.ToString(c.Name) == aws.ToString(w.Name)
		})
		if i < 0 {
			return nil, false
		}
		h := &patched.ContainerDefinitions[i]
		o := types.ContainerOverride{Name: w.Name}
		changed := false
		if !slices.Equal(h.Command, w.Command) {
			if w.Command == nil {
				return nil, false // an override cannot unset a command
			}
			o.Command, h.Command, changed = w.Command, w.Command, true
		}
		env, ok := envOverrides(h.Environment, w.Environment)
		if !ok {
			return nil, false
		}
		if len(env) > 0 {
			o.Environment, h.Environment, changed = env, w.Environment, true
		}
		if h.Cpu != w.Cpu {
			o.Cpu, h.Cpu, changed = aws.Int32(w.Cpu), w.Cpu, true
		}
		if aws.ToInt32(h.Memory) != aws.ToInt32(w.Memory) {
			if w.Memory == nil {
				return nil, false
			}
			o.Memory, h.Memory, changed = w.Memory, w.Memory, true
		}
		if aws.ToInt32(h.MemoryReservation) != aws.ToInt32(w.MemoryReservation) {
			if w.MemoryReservation == nil {
				return nil, false
			}
			o.MemoryReservation, h.MemoryReservation, changed = w.MemoryReservation, w.MemoryReservation, true
		}
		if changed {
			out = append(out, o)
		}
	}
	pk, err1 := Canonical(&patched)
	wk, err2 := Canonical(want)
	if err1 != nil || err2 != nil || pk != wk {
		return nil, false
	}
	if b, err := json.Marshal(apiShapeOf(out)); err != nil || len(b) > maxOverrides {
		return nil, false
	}
	return out, true
}

// envOverrides are the variables of want that have lacks or sets differently; ok is false when
// want lacks one of have's (an override cannot remove a variable).
func envOverrides(have, want []types.KeyValuePair) ([]types.KeyValuePair, bool) {
	h := map[string]string{}
	for _, kv := range have {
		h[aws.ToString(kv.Name)] = aws.ToString(kv.Value)
	}
	w := map[string]bool{}
	var out []types.KeyValuePair
	for _, kv := range want {
		name := aws.ToString(kv.Name)
		w[name] = true
		if v, ok := h[name]; !ok || v != aws.ToString(kv.Value) {
			out = append(out, kv)
		}
	}
	for name := range h {
		if !w[name] {
			return nil, false
		}
	}
	return out, true
}

func apiShapeOf(v any) any {
	x, err := apiShape(v)
	if err != nil {
		return v
	}
	return x
}
