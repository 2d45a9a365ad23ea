package ecs

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

func kv(name, value string) types.KeyValuePair {
	return types.KeyValuePair{Name: aws.String(name), Value: aws.String(value)}
}

func def(mod func(c *types.ContainerDefinition)) *ecs.RegisterTaskDefinitionInput {
	c := types.ContainerDefinition{Name: aws.String("app"), Image: aws.String("img:1"), Memory: aws.Int32(256),
		Command: []string{"run"}, Environment: []types.KeyValuePair{kv("A", "1")}}
	if mod != nil {
		mod(&c)
	}
	return &ecs.RegisterTaskDefinitionInput{Family: aws.String("f"), ContainerDefinitions: []types.ContainerDefinition{c}}
}

func TestOverridesFor(t *testing.T) {
	base := def(nil)
	cases := []struct {
		name string
		want *ecs.RegisterTaskDefinitionInput
		ok   bool
		has  string // in the overrides' JSON
	}{
		{"same: nothing to override", def(nil), true, ""},
		{"command", def(func(c *types.ContainerDefinition) { c.Command = []string{"other", "x"} }), true, `"command":["other","x"]`},
		{"environment added and changed", def(func(c *types.ContainerDefinition) {
			c.Environment = []types.KeyValuePair{kv("A", "2"), kv("DATE", "2026-11-21")}
		}), true, `"environment":[{"name":"A","value":"2"},{"name":"DATE","value":"2026-11-21"}]`},
		{"cpu and memory", def(func(c *types.ContainerDefinition) { c.Cpu = 512; c.Memory = aws.Int32(1024) }), true, `"cpu":512`},
		{"environment removed: cannot", def(func(c *types.ContainerDefinition) { c.Environment = nil }), false, ""},
		{"image: cannot", def(func(c *types.ContainerDefinition) { c.Image = aws.String("img:2") }), false, ""},
		{"command unset: cannot", def(func(c *types.ContainerDefinition) { c.Command = nil }), false, ""},
		{"over 8192 characters: cannot", def(func(c *types.ContainerDefinition) { c.Command = []string{strings.Repeat("x", 9000)} }), false, ""},
	}
	for _, tc := range cases {
		got, ok := overridesFor(base, tc.want)
		if ok != tc.ok {
			t.Errorf("%s: ok = %v, want %v", tc.name, ok, tc.ok)
			continue
		}
		js := ""
		if got != nil {
			b, _ := jsonOf(got)
			js = b
		}
		if !strings.Contains(js, tc.has) || (tc.has == "" && len(got) != 0) {
			t.Errorf("%s: overrides %s, want them to contain %s", tc.name, js, tc.has)
		}
	}
}

func jsonOf(v any) (string, error) {
	x, err := apiShape(v)
	if err != nil {
		return "", err
	}
	b, err := json.Marshal(x)
	return string(b), err
}
