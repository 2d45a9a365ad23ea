package hashike

import (
	"strings"
	"testing"
	"time"
)

func def(name string, essential bool, deps ...ContainerDependency) ContainerDefinition {
	return ContainerDefinition{Name: name, Essential: &essential, DependsOn: deps}
}

func pending(name string) ContainerStatus {
	return ContainerStatus{Name: name, LastStatus: TaskPending}
}
func runningC(name string) ContainerStatus {
	now := time.Unix(100, 0)
	return ContainerStatus{Name: name, LastStatus: TaskRunning, StartedAt: &now}
}
func exited(name string, c int) ContainerStatus {
	now := time.Unix(100, 0)
	return ContainerStatus{Name: name, LastStatus: TaskStopped, StartedAt: &now, ExitCode: &c}
}

func TestNextTaskActions(t *testing.T) {
	created := time.Unix(0, 0)
	dep := func(name, cond string) ContainerDependency {
		return ContainerDependency{ContainerName: name, Condition: cond}
	}
	td := &TaskDefinition{ContainerDefinitions: []ContainerDefinition{
		def("app", true, dep("init", ConditionSuccess), dep("db", ConditionHealthy)),
		def("init", false),
		def("db", false),
	}}
	withHealth := func(c ContainerStatus, h string) ContainerStatus { c.Health = h; return c }
	cases := []struct {
		name       string
		status     []ContainerStatus
		stop       bool
		now        time.Time
		start      string
		stopAll    bool
		done       bool
		neverStart string // container: reason substring
	}{
		{name: "start what has no dependencies", status: []ContainerStatus{pending("app"), pending("init"), pending("db")}, start: "init,db"},
		{name: "wait for SUCCESS and HEALTHY", status: []ContainerStatus{pending("app"), runningC("init"), withHealth(runningC("db"), "UNKNOWN")}},
		{name: "both met", status: []ContainerStatus{pending("app"), exited("init", 0), withHealth(runningC("db"), "HEALTHY")}, start: "app"},
		{name: "SUCCESS dependency failed: essential app never starts, task stops", status: []ContainerStatus{pending("app"), exited("init", 2), runningC("db")},
			stopAll: true, neverStart: "app:exited 2"},
		{name: "essential exited stops the rest", status: []ContainerStatus{exited("app", 0), exited("init", 0), runningC("db")}, stopAll: true},
		{name: "all stopped is done", status: []ContainerStatus{exited("app", 1), exited("init", 0), exited("db", 137)}, stopAll: true, done: true},
		{name: "startTimeout gives up", status: []ContainerStatus{pending("app"), runningC("init"), runningC("db")}, now: created.Add(DefaultStartTimeout),
			stopAll: true, neverStart: "app:startTimeout"},
		{name: "stop requested: nothing more starts", status: []ContainerStatus{pending("app"), runningC("init"), runningC("db")}, stop: true,
			stopAll: true, neverStart: "app:before the container started"},
	}
	for _, tc := range cases {
		now := tc.now
		if now.IsZero() {
			now = created.Add(time.Second)
		}
		act := NextTaskActions(td, TaskStatus{Containers: tc.status, CreatedAt: &created}, tc.stop, now)
		if got := strings.Join(act.Start, ","); got != tc.start {
			t.Errorf("%s: start %q, want %q", tc.name, got, tc.start)
		}
		if act.StopAll != tc.stopAll || act.Done != tc.done {
			t.Errorf("%s: stopAll %v done %v, want %v %v", tc.name, act.StopAll, act.Done, tc.stopAll, tc.done)
		}
		if tc.neverStart != "" {
			name, why, _ := strings.Cut(tc.neverStart, ":")
			if !strings.Contains(act.NeverStart[name], why) {
				t.Errorf("%s: NeverStart[%s] = %q, want it to contain %q", tc.name, name, act.NeverStart[name], why)
			}
		}
	}
}
