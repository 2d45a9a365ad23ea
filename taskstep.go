package hashike

import (
	"fmt"
	"time"
)

// TaskActions is what to do next with a task whose platform runs containers but not tasks (the
// local Docker Engine): which containers to start, whether to stop the rest, and which
// containers will never start. ECS does this itself; NextTaskActions is the same contract.
type TaskActions struct {
	// Start lists containers whose dependencies are now satisfied, in definition order.
	Start []string
	// StopAll asks every running container to stop (an essential container has stopped).
	StopAll bool
	// StopCode and StoppedReason, ECS's words for why the task is stopping.
	StopCode      string
	StoppedReason string
	// NeverStart maps a container that is not started and never will be to the reason.
	NeverStart map[string]string
	// Done: every container has stopped or will never start; the task is STOPPED.
	Done bool
}

// ECS's words for why a task stopped.
const (
	StopCodeEssentialExited = "EssentialContainerExited"
	StopCodeFailedToStart   = "TaskFailedToStart"
	StopCodeUserInitiated   = "UserInitiated"
)

// DefaultStartTimeout bounds how long a container waits for its dependsOn conditions when the
// definition gives no startTimeout, as on ECS.
const DefaultStartTimeout = 3 * time.Minute

// NextTaskActions decides the next step for a task from its definition and the observed
// status of its containers. It is level-triggered and pure: it can be called again at any
// time, by any process, and says what is still to be done. stopRequested means a stop was
// asked for (timeout, signal): nothing more starts.
func NextTaskActions(td *TaskDefinition, status TaskStatus, stopRequested bool, now time.Time) TaskActions {
	act := TaskActions{NeverStart: map[string]string{}}
	byName := map[string]ContainerStatus{}
	for _, c := range status.Containers {
		byName[c.Name] = c
	}
	started := func(c ContainerStatus) bool {
		return c.LastStatus == TaskRunning || c.StartedAt != nil || c.ExitCode != nil
	}
	stopped := func(c ContainerStatus) bool { return c.LastStatus == TaskStopped }

	for _, def := range td.ContainerDefinitions {
		c := byName[def.Name]
		if def.IsEssential() && stopped(c) {
			act.StopAll = true
			act.StopCode = StopCodeEssentialExited
			act.StoppedReason = fmt.Sprintf("Essential container in task exited: %s", def.Name)
			if c.ExitCode == nil {
				act.StopCode = StopCodeFailedToStart
				act.StoppedReason = fmt.Sprintf("Essential container %s failed to start: %s", def.Name, c.Reason)
			}
			break
		}
	}
	if stopRequested && !act.StopAll {
		act.StopAll = true
		act.StopCode = StopCodeUserInitiated
		act.StoppedReason = "Task stopped by user"
	}

	for _, def := range td.ContainerDefinitions {
		c := byName[def.Name]
		if started(c) || stopped(c) {
			continue
		}
		if act.StopAll {
			act.NeverStart[def.Name] = "task stopped before the container started: " + act.StoppedReason
			continue
		}
		ready, never := true, ""
		for _, dep := range def.DependsOn {
			d := byName[dep.ContainerName]
			ok, impossible := dependencyMet(dep.Condition, d, started(d), stopped(d))
			if impossible != "" {
				never = fmt.Sprintf("dependency %s (%s) can no longer be met: %s", dep.ContainerName, dep.Condition, impossible)
				break
			}
			ready = ready && ok
		}
		if never == "" && !ready && len(def.DependsOn) > 0 && status.CreatedAt != nil {
			limit := DefaultStartTimeout
			if def.StartTimeout != nil {
				limit = time.Duration(*def.StartTimeout) * time.Second
			}
			if now.Sub(*status.CreatedAt) >= limit {
				never = fmt.Sprintf("dependencies not met within startTimeout %s", limit)
			}
		}
		switch {
		case never != "":
			act.NeverStart[def.Name] = never
		case ready:
			act.Start = append(act.Start, def.Name)
		}
	}

	// An essential container that will never start fails the task as ECS would.
	if !act.StopAll {
		for _, def := range td.ContainerDefinitions {
			if why, ok := act.NeverStart[def.Name]; ok && def.IsEssential() {
				act.StopAll = true
				act.StopCode = StopCodeFailedToStart
				act.StoppedReason = fmt.Sprintf("Essential container %s cannot start: %s", def.Name, why)
				act.Start = nil
				for _, other := range td.ContainerDefinitions {
					c := byName[other.Name]
					if !started(c) && !stopped(c) {
						if _, marked := act.NeverStart[other.Name]; !marked {
							act.NeverStart[other.Name] = "task stopped before the container started: " + act.StoppedReason
						}
					}
				}
				break
			}
		}
	}

	act.Done = len(act.Start) == 0
	for _, def := range td.ContainerDefinitions {
		c := byName[def.Name]
		if _, never := act.NeverStart[def.Name]; never || stopped(c) {
			continue
		}
		act.Done = false
	}
	return act
}

// dependencyMet says whether a dependsOn condition holds for the dependency's status, and when
// it never can, why.
func dependencyMet(condition string, d ContainerStatus, started, stopped bool) (bool, string) {
	switch condition {
	case ConditionStart:
		if stopped && !started {
			return false, "it never started: " + d.Reason
		}
		return started, ""
	case ConditionComplete:
		if stopped && d.ExitCode == nil {
			return false, "it never ran: " + d.Reason
		}
		return stopped, ""
	case ConditionSuccess:
		if stopped && d.ExitCode == nil {
			return false, "it never ran: " + d.Reason
		}
		if stopped && *d.ExitCode != 0 {
			return false, fmt.Sprintf("it exited %d", *d.ExitCode)
		}
		return stopped, ""
	case ConditionHealthy:
		if d.Health == "HEALTHY" {
			return true, ""
		}
		if stopped {
			return false, "it stopped before it was healthy"
		}
		if d.Health == "UNHEALTHY" {
			return false, "it is unhealthy"
		}
		return false, ""
	}
	return false, "unknown condition " + condition
}
