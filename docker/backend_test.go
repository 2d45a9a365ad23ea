package docker_test

import (
	"archive/tar"
	"context"
	"crypto/rand"
	"errors"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/backendtest"
	"github.com/hashike/hashike/docker"
	"github.com/hashike/hashike/docker/dockertest"
)

func newBackend(t *testing.T) hashike.Backend {
	dockertest.Require(t)
	b, err := docker.New("", hashike.SystemClock{})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestConformance(t *testing.T) {
	dockertest.Require(t)
	backendtest.Run(t, backendtest.Harness{New: newBackend, Image: dockertest.Image})
}

func intp(v int) *int    { return &v }
func boolp(v bool) *bool { return &v }

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// runLogs waits for the task while following its logs, as `hashike run` does, and returns
// its status and each container's stdout.
func runLogs(t *testing.T, b *docker.Backend, ref hashike.TaskRef) (hashike.TaskStatus, map[string]string) {
	t.Helper()
	ctx := testCtx(t)
	var (
		mu   sync.Mutex
		out  = map[string]string{}
		lerr error
	)
	ready, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		lerr = b.Logs(ctx, ref, hashike.LogsOptions{Follow: true, Ready: func() { close(ready) }}, func(e hashike.LogEntry) error {
			mu.Lock()
			defer mu.Unlock()
			if e.Stream == hashike.Stdout {
				out[e.Container] += string(e.Data)
			}
			return nil
		})
	}()
	select {
	case <-ready:
	case <-done:
		t.Fatalf("Logs: %v", lerr)
	}
	st, err := b.Wait(ctx, ref)
	if err != nil {
		t.Fatalf("Wait: %v", err)
	}
	<-done
	if lerr != nil {
		t.Fatalf("Logs: %v", lerr)
	}
	return st, out
}

func TestStartPutsFiles(t *testing.T) {
	c := dockertest.Require(t)
	b, err := docker.New("", hashike.SystemClock{})
	if err != nil {
		t.Fatal(err)
	}
	container := func(name string, essential bool, cmd ...string) hashike.ContainerDefinition {
		return hashike.ContainerDefinition{Name: name, Image: dockertest.Image, Essential: boolp(essential), Memory: intp(64), Command: cmd, StopTimeout: intp(2)}
	}
	first := container("first", false, "cat", "/hashike/payload.json", "cat", "/var/lib/deep/er/note.txt")
	second := container("second", true, "cat", "/hashike/payload.json")
	second.DependsOn = []hashike.ContainerDependency{{ContainerName: "first", Condition: hashike.ConditionSuccess}}
	req := hashike.StartRequest{
		RunID: newRunID(t),
		Spec:  hashike.JobSpec{TaskDefinition: hashike.TaskDefinition{Family: "files", ContainerDefinitions: []hashike.ContainerDefinition{first, second}}},
		Files: []hashike.File{
			{Path: "/hashike/payload.json", Data: []byte(`{"report": "nightly"}` + "\n")},
			{Path: "/var/lib/deep/er/note.txt", Data: []byte("in a directory the image lacks\n")},
		},
	}
	ref, err := b.Start(testCtx(t), req)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { _ = b.Remove(context.Background(), ref) })

	// Root's file, readable by any user the image runs as, in a directory the engine made.
	res, err := c.CopyFromContainer(testCtx(t), ref.Containers[0].ID, client.CopyFromContainerOptions{SourcePath: "/hashike/payload.json"})
	if err != nil {
		t.Fatal(err)
	}
	hdr, err := tar.NewReader(res.Content).Next()
	res.Content.Close()
	if err != nil {
		t.Fatal(err)
	}
	if hdr.Mode&0o777 != 0o644 || hdr.Uid != 0 || hdr.Gid != 0 {
		t.Errorf("payload.json: mode %o, owner %d:%d; want 644, 0:0", hdr.Mode&0o777, hdr.Uid, hdr.Gid)
	}

	// A second Start of the run (the first one's process died) finds the task and leaves it whole.
	if again, err := b.Start(testCtx(t), req); err != nil || len(again.Containers) != 2 {
		t.Fatalf("second Start = %+v, %v", again, err)
	}

	st, out := runLogs(t, b, ref)
	for _, cs := range st.Containers {
		if cs.ExitCode == nil || *cs.ExitCode != 0 {
			t.Errorf("container %s: exit %v, reason %q", cs.Name, cs.ExitCode, cs.Reason)
		}
	}
	want := map[string]string{
		"first":  "{\"report\": \"nightly\"}\nin a directory the image lacks\n",
		"second": "{\"report\": \"nightly\"}\n",
	}
	if !reflect.DeepEqual(out, want) {
		t.Errorf("output = %q, want %q", out, want)
	}
}

func TestStartRefusesBadFilePaths(t *testing.T) {
	dockertest.Require(t)
	b, err := docker.New("", hashike.SystemClock{})
	if err != nil {
		t.Fatal(err)
	}
	spec := hashike.JobSpec{TaskDefinition: hashike.TaskDefinition{Family: "files", ContainerDefinitions: []hashike.ContainerDefinition{
		{Name: "app", Image: dockertest.Image, Memory: intp(64)},
	}}}
	for _, files := range [][]hashike.File{
		{{Path: "relative/payload.json"}},
		{{Path: "/hashike/../etc/passwd"}},
		{{Path: "/"}},
		{{Path: "/hashike/payload.json"}, {Path: "/hashike/payload.json"}},
	} {
		id := newRunID(t)
		ref, err := b.Start(testCtx(t), hashike.StartRequest{RunID: id, Spec: spec, Files: files})
		if hashike.ErrorCodeOf(err) != hashike.EInvalid {
			t.Errorf("files %+v: error %v, want EInvalid", files, err)
			_ = b.Remove(context.Background(), ref)
		}
		if _, err := b.Find(testCtx(t), id, &spec); hashike.ErrorCodeOf(err) != hashike.ENotFound {
			t.Errorf("files %+v: the refused task was created: %v", files, err)
		}
	}
}

// TestStartFilesReadOnlyRootFilesystem: the engine cannot write into a read-only root file
// system, but it can into a volume mounted there.
func TestStartFilesReadOnlyRootFilesystem(t *testing.T) {
	dockertest.Require(t)
	b, err := docker.New("", hashike.SystemClock{})
	if err != nil {
		t.Fatal(err)
	}
	app := hashike.ContainerDefinition{Name: "app", Image: dockertest.Image, Memory: intp(64), ReadonlyRootFilesystem: boolp(true), Command: []string{"cat", "/hashike/payload.json"}}
	spec := hashike.JobSpec{TaskDefinition: hashike.TaskDefinition{Family: "files", ContainerDefinitions: []hashike.ContainerDefinition{app}}}
	files := []hashike.File{{Path: "/hashike/payload.json", Data: []byte("{}\n")}}
	id := newRunID(t)
	ref, err := b.Start(testCtx(t), hashike.StartRequest{RunID: id, Spec: spec, Files: files})
	var se *hashike.StartError
	if !errors.As(err, &se) || !strings.Contains(se.Reason, "read-only") {
		t.Errorf("Start = %+v, %v; want a StartError", ref, err)
	}
	if _, err := b.Find(testCtx(t), id, &spec); hashike.ErrorCodeOf(err) != hashike.ENotFound {
		t.Errorf("the refused task was created: %v", err)
	}

	spec.TaskDefinition.Volumes = []hashike.Volume{{Name: "run"}}
	spec.TaskDefinition.ContainerDefinitions[0].MountPoints = []hashike.MountPoint{{SourceVolume: "run", ContainerPath: "/hashike"}}
	ref, err = b.Start(testCtx(t), hashike.StartRequest{RunID: newRunID(t), Spec: spec, Files: files})
	if err != nil {
		t.Fatalf("Start with a volume: %v", err)
	}
	t.Cleanup(func() { _ = b.Remove(context.Background(), ref) })
	if _, out := runLogs(t, b, ref); out["app"] != "{}\n" {
		t.Errorf("output = %q", out)
	}
}

func newRunID(t *testing.T) string {
	id, err := hashike.NewRunID(time.Now(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// A container writes a file into the /hashike directory the run gives it (any user may write
// there: this one runs as nobody), and ReadFile reads it back after the task stopped: how a
// local run's result is collected.
func TestReadFileAfterStop(t *testing.T) {
	dockertest.Require(t)
	b, err := docker.New("", hashike.SystemClock{})
	if err != nil {
		t.Fatal(err)
	}
	app := hashike.ContainerDefinition{Name: "app", Image: dockertest.Image, Essential: boolp(true), Memory: intp(64), User: "65534",
		Command: []string{"copy", "/hashike/payload.json", "/hashike/result", "write", "/hashike/other", "x"}}
	ref, err := b.Start(testCtx(t), hashike.StartRequest{RunID: newRunID(t),
		Spec: hashike.JobSpec{TaskDefinition: hashike.TaskDefinition{Family: "result", ContainerDefinitions: []hashike.ContainerDefinition{app}}},
		Files: []hashike.File{
			{Path: "/hashike/payload.json", Data: []byte(`{"n":1}`)},
			{Path: "/hashike", Dir: true},
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Remove(context.Background(), ref) })
	st, err := b.Wait(testCtx(t), ref)
	if err != nil {
		t.Fatal(err)
	}
	if c := st.Containers[0]; c.ExitCode == nil || *c.ExitCode != 0 {
		t.Fatalf("container ended %+v", c)
	}
	data, name, err := b.ReadFile(testCtx(t), ref, "/hashike/result", 100)
	if err != nil {
		t.Fatal(err)
	}
	if string(data) != `{"n":1}` || name != "app" {
		t.Fatalf("ReadFile = %q from %q", data, name)
	}
	if _, _, err := b.ReadFile(testCtx(t), ref, "/hashike/result", 3); hashike.ErrorCodeOf(err) != hashike.ETooLarge {
		t.Fatalf("ReadFile over the limit: %v, want too large", err)
	}
	if _, _, err := b.ReadFile(testCtx(t), ref, "/hashike/none", 100); hashike.ErrorCodeOf(err) != hashike.ENotFound {
		t.Fatalf("ReadFile of a missing file: %v, want not found", err)
	}
	if _, _, err := b.ReadFile(testCtx(t), ref, "/hashike", 100); hashike.ErrorCodeOf(err) != hashike.ENotFound {
		t.Fatalf("ReadFile of a directory: %v, want not found", err)
	}
}
