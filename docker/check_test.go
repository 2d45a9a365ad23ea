package docker

import (
	"strings"
	"testing"

	"github.com/hashike/hashike"
)

func TestCheckWarnsOrRefusesWhatItCannotRun(t *testing.T) {
	spec := hashike.JobSpec{
		ECS: &hashike.ECSOptions{Cluster: "prod"},
		TaskDefinition: hashike.TaskDefinition{
			Family: "f", TaskRoleArn: "arn:aws:iam::1:role/x",
			Extra: map[string]any{"placementConstraints": []any{}, "pidMode": "task"},
			ContainerDefinitions: []hashike.ContainerDefinition{{
				Name: "app", Image: "img",
				LogConfiguration: &hashike.LogConfiguration{LogDriver: "awslogs"},
				Extra:            map[string]any{"portMappings": []any{}, "privileged": true},
			}},
		},
	}
	got := map[string]hashike.Severity{}
	for _, f := range (&Backend{}).Check(&spec) {
		got[f.Path] = f.Severity
	}
	want := map[string]hashike.Severity{
		"ecs":                                 hashike.SeverityWarning,
		"taskDefinition.taskRoleArn":          hashike.SeverityWarning,
		"taskDefinition.placementConstraints": hashike.SeverityWarning,
		"taskDefinition.pidMode":              hashike.SeverityError,
		"taskDefinition.containerDefinitions[0].logConfiguration": hashike.SeverityWarning,
		"taskDefinition.containerDefinitions[0].portMappings":     hashike.SeverityWarning,
		"taskDefinition.containerDefinitions[0].privileged":       hashike.SeverityError,
	}
	for path, sev := range want {
		if got[path] != sev {
			t.Errorf("%s: severity %q, want %q", path, got[path], sev)
		}
	}
	if len(got) != len(want) {
		var extra []string
		for p := range got {
			if _, ok := want[p]; !ok {
				extra = append(extra, p)
			}
		}
		t.Errorf("unexpected problems: %s", strings.Join(extra, ", "))
	}
}
