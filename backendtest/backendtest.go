// Package backendtest is the conformance suite every hashike.Backend runs: the same
// run-and-wait contract (exit codes, logs without loss, stop, OOM, failed starts, essential
// containers and dependsOn, reattach from a fresh backend) whatever the platform.
//
// Workloads are scripts of cmd/hashike-testjob ("print 3 exit 2"), run from Harness.Image.
package backendtest

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashike/hashike"
)

// Harness is what a backend's test gives the suite.
type Harness struct {
	// New returns a backend. The suite calls it more than once to play a second process.
	New func(t *testing.T) hashike.Backend
	// Image is the hashike-testjob image as this backend names it.
	Image string
	// LineOutput says the backend delivers output as lines with stdout and stderr merged into
	// one stream and a final newline implied (ECS's awslogs driver); output is then compared
	// line by line, each stream's lines in order.
	LineOutput bool
	// Secret makes valueFrom resolve to value on the platform (ECS: Secrets Manager); nil when
	// StartRequest.Secrets is how values arrive (local).
	Secret func(t *testing.T, valueFrom, value string)
}

// Run runs the suite.
func Run(t *testing.T, h Harness) {
	s := &suite{h: h}
	for _, tc := range []struct {
		name string
		fn   func(*testing.T)
	}{
		{"ExitZeroAndOutput", s.exitZeroAndOutput},
		{"ExitCodePropagated", s.exitCodePropagated},
		{"StdoutStderrNothingLost", s.stdoutStderrNothingLost},
		{"StartIsIdempotent", s.startIsIdempotent},
		{"StopGracefulThenKill", s.stopGracefulThenKill},
		{"StopHonoursTrap", s.stopHonoursTrap},
		{"OOMKilled", s.oomKilled},
		{"MissingImageFailsToStart", s.missingImage},
		{"BadEntryPointFailsToStart", s.badEntryPoint},
		{"EssentialExitStopsSidecar", s.essentialExitStopsSidecar},
		{"DependsOnSuccessOrdersAndShares", s.dependsOnSuccess},
		{"DependsOnSuccessFailureBlocks", s.dependsOnSuccessFailure},
		{"DependsOnHealthy", s.dependsOnHealthy},
		{"ReattachFromNewBackend", s.reattach},
		{"LogsResumeFromCursor", s.logsResume},
		{"RemoveForgetsTask", s.removeForgets},
		{"SecretsInjected", s.secretsInjected},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t)
		})
	}
}

type suite struct{ h Harness }

func intp(v int) *int    { return &v }
func boolp(v bool) *bool { return &v }

func (s *suite) container(name string, essential bool, cmd ...string) hashike.ContainerDefinition {
	return hashike.ContainerDefinition{Name: name, Image: s.h.Image, Essential: boolp(essential), Memory: intp(64), Command: cmd, StopTimeout: intp(2)}
}

func (s *suite) spec(cs ...hashike.ContainerDefinition) hashike.JobSpec {
	return hashike.JobSpec{TaskDefinition: hashike.TaskDefinition{Family: "conformance", ContainerDefinitions: cs}}
}

func runID(t *testing.T) string {
	id, err := hashike.NewRunID(time.Now(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return c
}

// result is a finished task: its status and every log entry.
type result struct {
	status hashike.TaskStatus
	logs   []hashike.LogEntry
}

func (r result) text(container string, stream hashike.Stream) string {
	var b strings.Builder
	for _, e := range r.logs {
		if e.Container == container && e.Stream == stream {
			b.Write(e.Data)
		}
	}
	return b.String()
}

// start starts spec and registers removal.
func (s *suite) start(t *testing.T, b hashike.Backend, spec hashike.JobSpec, secrets map[string]string) (string, hashike.TaskRef) {
	t.Helper()
	id := runID(t)
	ref, err := b.Start(ctx(t), hashike.StartRequest{RunID: id, Spec: spec, Secrets: secrets})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { _ = b.Remove(context.Background(), ref) })
	return id, ref
}

// waitWithLogs follows the logs while waiting, as `hashike run` does.
func waitWithLogs(t *testing.T, b hashike.Backend, ref hashike.TaskRef) result {
	t.Helper()
	var (
		mu   sync.Mutex
		logs []hashike.LogEntry
		wg   sync.WaitGroup
		lerr error
	)
	c := ctx(t)
	ready := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer func() {
			select {
			case <-ready:
			default:
				close(ready)
			}
		}()
		lerr = b.Logs(c, ref, hashike.LogsOptions{Follow: true, Ready: func() { close(ready) }}, func(e hashike.LogEntry) error {
			mu.Lock()
			defer mu.Unlock()
			e.Data = append([]byte(nil), e.Data...)
			logs = append(logs, e)
			return nil
		})
	}()
	<-ready
	st, err := b.Wait(c, ref)
	if err != nil {
		t.Fatalf("Wait: %v", err)
	}
	wg.Wait()
	if lerr != nil {
		t.Fatalf("Logs: %v", lerr)
	}
	if st.LastStatus != hashike.TaskStopped {
		t.Fatalf("Wait returned lastStatus %s, want STOPPED", st.LastStatus)
	}
	return result{status: st, logs: logs}
}

func exitCode(t *testing.T, c hashike.ContainerStatus) int {
	t.Helper()
	if c.ExitCode == nil {
		t.Fatalf("container %s has no exit code (reason %q)", c.Name, c.Reason)
	}
	return *c.ExitCode
}

func (s *suite) exitZeroAndOutput(t *testing.T) {
	b := s.h.New(t)
	_, ref := s.start(t, b, s.spec(s.container("app", true)), nil)
	r := waitWithLogs(t, b, ref)
	if got := exitCode(t, r.status.Container("app")); got != 0 {
		t.Fatalf("exit code %d, want 0", got)
	}
	if got := r.text("app", hashike.Stdout); got != "hello from hashike-testjob\n" {
		t.Fatalf("stdout %q", got)
	}
	if r.status.StopCode != hashike.StopCodeEssentialExited {
		t.Errorf("stopCode %q, want %q", r.status.StopCode, hashike.StopCodeEssentialExited)
	}
}

func (s *suite) exitCodePropagated(t *testing.T) {
	b := s.h.New(t)
	_, ref := s.start(t, b, s.spec(s.container("app", true, "print", "1", "exit", "42")), nil)
	r := waitWithLogs(t, b, ref)
	if got := exitCode(t, r.status.Container("app")); got != 42 {
		t.Fatalf("exit code %d, want 42", got)
	}
}

func (s *suite) stdoutStderrNothingLost(t *testing.T) {
	b := s.h.New(t)
	_, ref := s.start(t, b, s.spec(s.container("app", true,
		"print", "5000", "out", "stderr", "300", "err", "partial", "no newline at the end")), nil)
	r := waitWithLogs(t, b, ref)
	var want strings.Builder
	for i := 1; i <= 5000; i++ {
		fmt.Fprintf(&want, "out %d\n", i)
	}
	var wantErr strings.Builder
	for i := 1; i <= 300; i++ {
		fmt.Fprintf(&wantErr, "err %d\n", i)
	}
	if s.h.LineOutput {
		all := r.text("app", hashike.Stdout) + r.text("app", hashike.Stderr)
		var out, errs, other strings.Builder
		for _, line := range strings.SplitAfter(all, "\n") {
			switch {
			case strings.HasPrefix(line, "out "):
				out.WriteString(line)
			case strings.HasPrefix(line, "err "):
				errs.WriteString(line)
			default:
				other.WriteString(line)
			}
		}
		if out.String() != want.String() || errs.String() != wantErr.String() || strings.TrimSuffix(other.String(), "\n") != "no newline at the end" {
			t.Fatalf("lines: %d stdout bytes (want %d), %d stderr bytes (want %d), rest %q",
				out.Len(), want.Len(), errs.Len(), wantErr.Len(), other.String())
		}
		return
	}
	want.WriteString("no newline at the end")
	if got := r.text("app", hashike.Stdout); got != want.String() {
		t.Fatalf("stdout: got %d bytes, want %d; tail %q", len(got), want.Len(), tail(got))
	}
	if got := r.text("app", hashike.Stderr); got != wantErr.String() {
		t.Fatalf("stderr: got %d bytes, want %d", len(got), wantErr.Len())
	}
}

func tail(s string) string {
	if len(s) > 60 {
		return s[len(s)-60:]
	}
	return s
}

func (s *suite) startIsIdempotent(t *testing.T) {
	b := s.h.New(t)
	spec := s.spec(s.container("app", true, "print", "1", "once"))
	id, ref := s.start(t, b, spec, nil)
	ref2, err := b.Start(ctx(t), hashike.StartRequest{RunID: id, Spec: spec})
	if err != nil {
		t.Fatalf("second Start: %v", err)
	}
	if ref2.ID != ref.ID || len(ref2.Containers) != 1 || ref2.Containers[0].ID != ref.Containers[0].ID {
		t.Fatalf("second Start returned %+v, want the first task %+v", ref2, ref)
	}
	r := waitWithLogs(t, b, ref)
	if got := r.text("app", hashike.Stdout); got != "once 1\n" {
		t.Fatalf("output %q: the task ran more than once", got)
	}
	found, err := b.Find(ctx(t), id, &spec)
	if err != nil || found.ID != ref.ID {
		t.Fatalf("Find(%s) = %+v, %v", id, found, err)
	}
}

// stopped starts c, waits for its "ready 1" line, stops the task and returns the result.
func (s *suite) stopped(t *testing.T, c hashike.ContainerDefinition) (hashike.Backend, hashike.TaskRef, result) {
	t.Helper()
	b := s.h.New(t)
	_, ref := s.start(t, b, s.spec(c), nil)
	done := running(t, b, ref)
	waitForOutput(t, b, ref, "ready 1")
	if err := b.Stop(ctx(t), ref, "test", -1); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	r := <-done
	if t.Failed() {
		t.FailNow()
	}
	return b, ref, r
}

func (s *suite) stopGracefulThenKill(t *testing.T) {
	c := s.container("app", true, "ignore-term", "print", "1", "ready", "sleep", "60s")
	c.StopTimeout = intp(1)
	b, ref, r := s.stopped(t, c)
	if got := exitCode(t, r.status.Container("app")); got != 137 {
		t.Fatalf("exit code %d, want 137 (SIGKILL after stopTimeout)", got)
	}
	if err := b.Stop(ctx(t), ref, "again", -1); err != nil {
		t.Fatalf("Stop of a stopped task: %v", err)
	}
}

func (s *suite) stopHonoursTrap(t *testing.T) {
	c := s.container("app", true, "trap-term", "7", "print", "1", "ready", "sleep", "60s")
	c.StopTimeout = intp(30)
	_, _, r := s.stopped(t, c)
	if got := exitCode(t, r.status.Container("app")); got != 7 {
		t.Fatalf("exit code %d, want 7 (the program's SIGTERM handler)", got)
	}
	if !strings.Contains(r.text("app", hashike.Stdout), "caught SIGTERM") {
		t.Fatalf("output lacks the handler's line: %q", r.text("app", hashike.Stdout))
	}
}

// running drives the task (Wait, with logs) in the background, as a supervisor does.
func running(t *testing.T, b hashike.Backend, ref hashike.TaskRef) <-chan result {
	ch := make(chan result, 1)
	go func() {
		var r result
		defer func() { ch <- r }() // also when waitWithLogs failed the test (Goexit)
		r = waitWithLogs(t, b, ref)
	}()
	return ch
}

// waitForOutput polls the logs until want appears.
func waitForOutput(t *testing.T, b hashike.Backend, ref hashike.TaskRef, want string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		var out strings.Builder
		if err := b.Logs(ctx(t), ref, hashike.LogsOptions{}, func(e hashike.LogEntry) error {
			out.Write(e.Data)
			return nil
		}); err != nil {
			t.Fatalf("Logs: %v", err)
		}
		if strings.Contains(out.String(), want) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("output %q never appeared", want)
}

func (s *suite) oomKilled(t *testing.T) {
	b := s.h.New(t)
	c := s.container("app", true, "sleep", "300ms", "alloc", "200")
	c.Memory = intp(32)
	_, ref := s.start(t, b, s.spec(c), nil)
	r := waitWithLogs(t, b, ref)
	app := r.status.Container("app")
	if !app.OOMKilled {
		t.Fatalf("container not reported OOM-killed: %+v", app)
	}
	if got := exitCode(t, app); got != 137 {
		t.Fatalf("exit code %d, want 137", got)
	}
}

func (s *suite) missingImage(t *testing.T) {
	// A backend may refuse at Start (the local engine checks images first) or start the task
	// and report it stopped (ECS: RunTask succeeds, the pull fails later). Either way the
	// watched container has no exit code and the reason names CannotPullContainerError.
	b := s.h.New(t)
	c := s.container("app", true)
	c.Image = "hashike-does-not-exist:never"
	ref, err := b.Start(ctx(t), hashike.StartRequest{RunID: runID(t), Spec: s.spec(c)})
	var se *hashike.StartError
	switch {
	case errors.As(err, &se):
		if !strings.Contains(se.Reason, "CannotPullContainerError") {
			t.Fatalf("reason %q lacks CannotPullContainerError", se.Reason)
		}
	case err != nil:
		t.Fatalf("Start: %v, want a *hashike.StartError or a task that stops", err)
	default:
		t.Cleanup(func() { _ = b.Remove(context.Background(), ref) })
		r := waitWithLogs(t, b, ref)
		app := r.status.Container("app")
		if app.ExitCode != nil || !strings.Contains(app.Reason+r.status.StoppedReason, "CannotPullContainerError") {
			t.Fatalf("container %+v, stoppedReason %q: want no exit code and CannotPullContainerError", app, r.status.StoppedReason)
		}
	}
}

func (s *suite) badEntryPoint(t *testing.T) {
	b := s.h.New(t)
	c := s.container("app", true)
	c.EntryPoint = []string{"/does/not/exist"}
	_, ref := s.start(t, b, s.spec(c), nil)
	r := waitWithLogs(t, b, ref)
	app := r.status.Container("app")
	if app.ExitCode != nil {
		t.Fatalf("exit code %d, want none (never started)", *app.ExitCode)
	}
	if !strings.Contains(app.Reason, "CannotStartContainerError") {
		t.Fatalf("reason %q lacks CannotStartContainerError", app.Reason)
	}
	if r.status.StopCode != hashike.StopCodeFailedToStart {
		t.Fatalf("stopCode %q, want TaskFailedToStart", r.status.StopCode)
	}
}

func (s *suite) essentialExitStopsSidecar(t *testing.T) {
	b := s.h.New(t)
	side := s.container("sidecar", false, "print", "1", "side", "sleep", "120s")
	_, ref := s.start(t, b, s.spec(s.container("app", true, "sleep", "500ms", "exit", "3"), side), nil)
	r := waitWithLogs(t, b, ref)
	if got := exitCode(t, r.status.Container("app")); got != 3 {
		t.Fatalf("app exit %d, want 3", got)
	}
	sc := r.status.Container("sidecar")
	if sc.LastStatus != hashike.TaskStopped || sc.ExitCode == nil {
		t.Fatalf("sidecar not stopped with the task: %+v", sc)
	}
	if !strings.Contains(r.status.StoppedReason, "Essential container in task exited") {
		t.Fatalf("stoppedReason %q", r.status.StoppedReason)
	}
}

func (s *suite) dependsOnSuccess(t *testing.T) {
	b := s.h.New(t)
	init := s.container("init", false, "sleep", "300ms", "touch", "/shared/ready")
	init.MountPoints = []hashike.MountPoint{{SourceVolume: "shared", ContainerPath: "/shared"}}
	app := s.container("app", true, "cat", "/shared/ready")
	app.MountPoints = init.MountPoints
	app.DependsOn = []hashike.ContainerDependency{{ContainerName: "init", Condition: hashike.ConditionSuccess}}
	spec := s.spec(app, init)
	spec.TaskDefinition.Volumes = []hashike.Volume{{Name: "shared"}}
	_, ref := s.start(t, b, spec, nil)
	r := waitWithLogs(t, b, ref)
	if got := exitCode(t, r.status.Container("app")); got != 0 {
		t.Fatalf("app exit %d (%s), want 0: it must start after init succeeded and see its file", got, r.text("app", hashike.Stderr))
	}
	if got := r.text("app", hashike.Stdout); got != "touched\n" {
		t.Fatalf("app output %q", got)
	}
}

func (s *suite) dependsOnSuccessFailure(t *testing.T) {
	b := s.h.New(t)
	init := s.container("init", false, "exit", "4")
	app := s.container("app", true, "print", "1", "should not run")
	app.DependsOn = []hashike.ContainerDependency{{ContainerName: "init", Condition: hashike.ConditionSuccess}}
	_, ref := s.start(t, b, s.spec(app, init), nil)
	r := waitWithLogs(t, b, ref)
	a := r.status.Container("app")
	if a.ExitCode != nil || r.text("app", hashike.Stdout) != "" {
		t.Fatalf("app ran although its SUCCESS dependency exited 4: %+v", a)
	}
	if !strings.Contains(a.Reason, "exited 4") {
		t.Fatalf("reason %q does not say why", a.Reason)
	}
}

func (s *suite) dependsOnHealthy(t *testing.T) {
	b := s.h.New(t)
	db := s.container("db", true, "sleep", "1s", "touch", "/tmp/healthy", "sleep", "120s")
	db.HealthCheck = &hashike.HealthCheck{Command: []string{"CMD", "/testjob", "exists", "/tmp/healthy"}, Interval: intp(5), Retries: intp(3), Timeout: intp(2)}
	app := s.container("app", true, "print", "1", "db is healthy")
	app.DependsOn = []hashike.ContainerDependency{{ContainerName: "db", Condition: hashike.ConditionHealthy}}
	spec := s.spec(app, db)
	spec.WatchContainer = "app"
	_, ref := s.start(t, b, spec, nil)
	r := waitWithLogs(t, b, ref)
	if got := exitCode(t, r.status.Container("app")); got != 0 {
		t.Fatalf("app exit %d", got)
	}
	if r.status.Container("db").LastStatus != hashike.TaskStopped {
		t.Fatal("db still running after the essential app exited")
	}
}

func (s *suite) reattach(t *testing.T) {
	// A first process drives the task, then goes away mid-run (its context ends; the task
	// goes on). A second process, with a backend of its own, reattaches by TaskRef.
	first := s.h.New(t)
	_, ref := s.start(t, first, s.spec(s.container("app", true, "print", "3", "before", "sleep", "2s", "print", "2", "after", "exit", "5")), nil)
	c1, gone := context.WithCancel(ctx(t))
	waited := make(chan error, 1)
	go func() {
		_, err := first.Wait(c1, ref)
		waited <- err
	}()
	waitForOutput(t, first, ref, "before 3")
	gone()
	if err := <-waited; !errors.Is(err, context.Canceled) {
		t.Fatalf("first Wait ended with %v, want context.Canceled", err)
	}
	second := s.h.New(t)
	r := waitWithLogs(t, second, ref)
	if got := exitCode(t, r.status.Container("app")); got != 5 {
		t.Fatalf("exit %d, want 5", got)
	}
	if got := r.text("app", hashike.Stdout); got != "before 1\nbefore 2\nbefore 3\nafter 1\nafter 2\n" {
		t.Fatalf("reattached output %q", got)
	}
}

func (s *suite) logsResume(t *testing.T) {
	b := s.h.New(t)
	_, ref := s.start(t, b, s.spec(s.container("app", true, "print", "2000", "l")), nil)
	all := waitWithLogs(t, b, ref)
	if len(all.logs) != 2000 {
		t.Fatalf("%d entries, want 2000", len(all.logs))
	}
	cursor := hashike.LogCursor{}
	for _, e := range all.logs[:1234] {
		cursor.Advance(e)
	}
	var rest []string
	if err := b.Logs(ctx(t), ref, hashike.LogsOptions{After: cursor}, func(e hashike.LogEntry) error {
		rest = append(rest, string(e.Data))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(rest) != 766 || rest[0] != "l 1235\n" || rest[len(rest)-1] != "l 2000\n" {
		t.Fatalf("resumed read gave %d entries (%q...), want 766 from \"l 1235\"", len(rest), first(rest))
	}
}

func first(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

func (s *suite) removeForgets(t *testing.T) {
	b := s.h.New(t)
	id, ref := s.start(t, b, s.spec(s.container("app", true)), nil)
	waitWithLogs(t, b, ref)
	if err := b.Remove(ctx(t), ref); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	if err := b.Remove(ctx(t), ref); err != nil {
		t.Fatalf("second Remove: %v", err)
	}
	spec := s.spec(s.container("app", true))
	if _, err := b.Find(ctx(t), id, &spec); hashike.ErrorCodeOf(err) != hashike.ENotFound {
		t.Fatalf("Find after Remove: %v, want not_found", err)
	}
}

func (s *suite) secretsInjected(t *testing.T) {
	b := s.h.New(t)
	c := s.container("app", true, "env", "DB_PASSWORD")
	c.Secrets = []hashike.Secret{{Name: "DB_PASSWORD", ValueFrom: "arn:aws:secretsmanager:us-east-1:123456789012:secret:db"}}
	if s.h.Secret != nil {
		s.h.Secret(t, c.Secrets[0].ValueFrom, "s3cr3t-value")
	}
	_, ref := s.start(t, b, s.spec(c), map[string]string{"DB_PASSWORD": "s3cr3t-value"})
	r := waitWithLogs(t, b, ref)
	if got := r.text("app", hashike.Stdout); got != "DB_PASSWORD=s3cr3t-value\n" {
		t.Fatalf("container saw %q", got)
	}
}
