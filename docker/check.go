package docker

import (
	"fmt"
	"maps"
	"slices"

	"github.com/hashike/hashike"
)

// How the local backend treats each ECS field that hashike keeps verbatim (the Extra maps) or
// that only means something on ECS. Fields not listed in either table but present in Extra are
// refused: the local engine cannot honour them and must not pretend to.
var (
	// ignoredTaskFields run unchanged locally; a warning says so.
	ignoredTaskFields = map[string]string{
		"placementConstraints": "placement applies to ECS container instances only",
		"runtimePlatform":      "the local engine runs its own platform",
		"ephemeralStorage":     "local containers use the engine's storage",
		"enableFaultInjection": "fault injection is an ECS feature",
		"taskDefinitionArn":    "DescribeTaskDefinition output",
		"revision":             "DescribeTaskDefinition output",
		"status":               "DescribeTaskDefinition output",
		"requiresAttributes":   "DescribeTaskDefinition output",
		"compatibilities":      "DescribeTaskDefinition output",
		"registeredAt":         "DescribeTaskDefinition output",
		"registeredBy":         "DescribeTaskDefinition output",
		"deregisteredAt":       "DescribeTaskDefinition output",
	}
	ignoredContainerFields = map[string]string{
		"portMappings":          "no ports are published locally; containers of a task reach each other by name",
		"repositoryCredentials": "pulls send the docker CLI's registry credentials (config.json, credential helpers, ECR tokens)",
		"versionConsistency":    "the local engine resolves tags itself",
		"firelensConfiguration": "hashike collects container output itself",
	}
)

// Check implements hashike.Backend.
func (b *Backend) Check(spec *hashike.JobSpec) []hashike.FieldError {
	var out []hashike.FieldError
	warn := func(path, format string, args ...any) {
		out = append(out, hashike.FieldError{Path: path, Severity: hashike.SeverityWarning, Message: fmt.Sprintf(format, args...)})
	}
	refuse := func(path, format string, args ...any) {
		out = append(out, hashike.FieldError{Path: path, Severity: hashike.SeverityError, Message: fmt.Sprintf(format, args...)})
	}
	if spec.ECS != nil {
		warn("ecs", "ignored by the local backend: these are the ecs backend's RunTask options")
	}
	td := &spec.TaskDefinition
	const tdp = "taskDefinition"
	if td.TaskRoleArn != "" {
		warn(tdp+".taskRoleArn", "ignored by the local backend: containers get no IAM role")
	}
	if td.ExecutionRoleArn != "" {
		warn(tdp+".executionRoleArn", "ignored by the local backend: images and secrets are resolved locally")
	}
	switch td.NetworkMode {
	case "", "awsvpc", "bridge":
	case "none", "host":
	default:
		refuse(tdp+".networkMode", "%q is not supported by the local backend (use awsvpc, bridge, host or none)", td.NetworkMode)
	}
	if len(td.Tags) > 0 {
		warn(tdp+".tags", "ignored by the local backend (tags are ECS resource tags)")
	}
	for _, k := range slices.Sorted(maps.Keys(td.Extra)) {
		if why, ok := ignoredTaskFields[k]; ok {
			warn(tdp+"."+k, "ignored by the local backend: %s", why)
		} else {
			refuse(tdp+"."+k, "not supported by the local backend")
		}
	}
	for i, v := range td.Volumes {
		p := fmt.Sprintf("%s.volumes[%d]", tdp, i)
		for _, k := range slices.Sorted(maps.Keys(v.Extra)) {
			refuse(p+"."+k, "not supported by the local backend (use host.sourcePath or dockerVolumeConfiguration)")
		}
	}
	for i := range td.ContainerDefinitions {
		c := &td.ContainerDefinitions[i]
		p := fmt.Sprintf("%s.containerDefinitions[%d]", tdp, i)
		if c.LogConfiguration != nil {
			warn(p+".logConfiguration", "ignored by the local backend: hashike collects and stores container output itself")
		}
		for _, k := range slices.Sorted(maps.Keys(c.Extra)) {
			if why, ok := ignoredContainerFields[k]; ok {
				warn(p+"."+k, "ignored by the local backend: %s", why)
			} else {
				refuse(p+"."+k, "not supported by the local backend")
			}
		}
	}
	return out
}
