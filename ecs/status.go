package ecs

import (
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/hashike/hashike"
)

// taskStatus maps an ECS task to hashike's view. ECS's intermediate states fold into the four
// hashike knows: ACTIVATING is PENDING; DEACTIVATING, STOPPING and DEPROVISIONING are RUNNING
// when the task had started, PENDING otherwise. Exit codes are never invented: a container
// without one (never started, host failure) keeps nil, which the run records as a start
// failure rather than an application exit.
func taskStatus(t types.Task) hashike.TaskStatus {
	st := hashike.TaskStatus{
		LastStatus:           foldTaskStatus(aws.ToString(t.LastStatus), t.StartedAt != nil),
		StopCode:             string(t.StopCode),
		ContainerInstanceArn: aws.ToString(t.ContainerInstanceArn),
		StoppedReason:        aws.ToString(t.StoppedReason),
		CreatedAt:            t.CreatedAt,
		StartedAt:            t.StartedAt,
		StoppedAt:            t.StoppedAt,
		Containers:           []hashike.ContainerStatus{},
	}
	for _, c := range t.Containers {
		cs := hashike.ContainerStatus{
			Name:       aws.ToString(c.Name),
			LastStatus: aws.ToString(c.LastStatus),
			Reason:     aws.ToString(c.Reason),
			Health:     string(c.HealthStatus),
		}
		if c.ExitCode != nil {
			code := int(*c.ExitCode)
			cs.ExitCode = &code
		}
		cs.OOMKilled = strings.HasPrefix(cs.Reason, "OutOfMemoryError")
		switch {
		case st.LastStatus == hashike.TaskStopped:
			cs.LastStatus = hashike.TaskStopped
		case cs.LastStatus == "":
			cs.LastStatus = hashike.TaskPending
		}
		st.Containers = append(st.Containers, cs)
	}
	return st
}

func foldTaskStatus(s string, started bool) string {
	switch s {
	case "PROVISIONING":
		return hashike.TaskProvisioning
	case "PENDING", "ACTIVATING", "":
		return hashike.TaskPending
	case "RUNNING":
		return hashike.TaskRunning
	case "STOPPED":
		return hashike.TaskStopped
	}
	if started {
		return hashike.TaskRunning
	}
	return hashike.TaskPending
}
