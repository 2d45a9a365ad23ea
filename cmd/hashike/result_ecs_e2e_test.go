package main

import (
	"fmt"
	"io"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/api"
	"github.com/hashike/hashike/internal/awsfake"
	"github.com/hashike/hashike/objects3"
	"github.com/hashike/hashike/server"
)

// fakeS3Objects is an S3 object store in process (gofakes3), as the server's.
func fakeS3Objects(t *testing.T) *objects3.Store {
	t.Helper()
	backend := s3mem.New()
	if err := backend.CreateBucket("hashike"); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gofakes3.New(backend).Server())
	t.Cleanup(srv.Close)
	s, err := objects3.New(aws.Config{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL),
		Credentials: credentials.NewStaticCredentialsProvider("AKIAFAKE", "secret", "")},
		objects3.Config{Bucket: "hashike", Prefix: "state/", PathStyle: true})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// On ECS, a payload over what RunTask's overrides carry goes to S3 and the task gets a
// presigned GET, valid for the run's timeout and a margin; the task PUTs its result through a
// presigned URL, and the server shows it. However many such runs, the job's task definition
// is registered once: never a revision per run.
func TestServerOnECSPayloadAndResultByReference(t *testing.T) {
	w := newECSWorld(t, awsfake.Options{}, "launchType: EC2", 512,
		`[fetch, HASHIKE_PAYLOAD_URL, /tmp/p, size, /tmp/p, write, /tmp/r, '{"rows":42}', upload, HASHIKE_RESULT_URL, /tmp/r, env, HASHIKE_RESULT_KEY]`)
	w.cloud.AddInstance("jobs", 4096, 8192)
	store := fakeS3Objects(t)
	w.objects = func() (hashike.ObjectStore, hashike.ObjectURLs) { return store, store }
	w.flags = []string{"--max-payload", "2097152"}
	srv := w.startServer("a")
	ctx := ectx(t)

	sizes := []int{1 << 20, 1<<20 + 1, 5000} // 5000: over ECS's inline 4096, under the local threshold
	for i, n := range sizes {
		payload := `"` + strings.Repeat(fmt.Sprint(i), n-2) + `"`
		run, created, err := srv.api.Enqueue(ctx, "report", api.EnqueueRequest{Payload: []byte(payload)})
		if err != nil || !created {
			t.Fatalf("enqueue a payload of %d bytes: %v", n, err)
		}
		if len(run.Payload) != 0 {
			t.Fatalf("the enqueued run holds %d bytes of payload: %.100s", len(run.Payload), run.Payload)
		}
		out := followLogs(t, srv.api, run.ID, nil)
		want := fmt.Sprintf("/tmp/p has %d bytes\nHASHIKE_RESULT_KEY=%s\n", n, server.ResultKey(run.ID))
		if out != want {
			t.Fatalf("run %d: logs %q, want %q", i, out, want)
		}
		view, err := srv.api.GetRun(ctx, run.ID)
		if err != nil || view.State != hashike.StateSucceeded {
			t.Fatalf("run %d: %s, %v", i, view.State, err)
		}
		info, rc, err := srv.api.RunResult(ctx, run.ID)
		if err != nil {
			t.Fatalf("GET /v1/runs/%s/result: %v", run.ID, err)
		}
		got, _ := io.ReadAll(rc)
		rc.Close()
		if string(got) != `{"rows":42}` || info.Size != 11 {
			t.Fatalf("result %q (%+v)", got, info)
		}
	}

	// What RunTask was given: URLs in the overrides, never the payload.
	tasks := w.cloud.Tasks()
	if len(tasks) != len(sizes) {
		t.Fatalf("%d tasks, want %d", len(tasks), len(sizes))
	}
	for _, tk := range tasks {
		env := map[string]string{}
		for _, o := range tk.Overrides.ContainerOverrides {
			for _, kv := range o.Environment {
				env[aws.ToString(kv.Name)] = aws.ToString(kv.Value)
			}
		}
		if _, ok := env[server.EnvPayload]; ok {
			t.Fatalf("task %s got %s in its overrides", aws.ToString(tk.TaskArn), server.EnvPayload)
		}
		for _, name := range []string{server.EnvPayloadURL, server.EnvResultURL} {
			u, err := url.Parse(env[name])
			if err != nil || u.Host == "" {
				t.Fatalf("%s = %q, want a URL", name, env[name])
			}
			// The job's timeout is 2m; the URLs outlive it by the default margin of 1h.
			if got := u.Query().Get("X-Amz-Expires"); got != "3720" {
				t.Fatalf("%s expires in %qs, want 3720 (timeout 2m + 1h)", name, got)
			}
		}
	}
	if n := w.cloud.Calls("RegisterTaskDefinition"); n != 1 {
		t.Fatalf("RegisterTaskDefinition called %d times for %d runs with large payloads, want once", n, len(sizes))
	}

	// A small payload stays inline, in the overrides.
	run, _, err := srv.api.Enqueue(ctx, "report", api.EnqueueRequest{Payload: []byte(`{"small":true}`)})
	if err != nil {
		t.Fatal(err)
	}
	followLogs(t, srv.api, run.ID, nil)
	for _, tk := range w.cloud.Tasks() {
		if !strings.HasSuffix(aws.ToString(tk.StartedBy), run.ID) {
			continue
		}
		found := false
		for _, o := range tk.Overrides.ContainerOverrides {
			for _, kv := range o.Environment {
				found = found || aws.ToString(kv.Name) == server.EnvPayload && aws.ToString(kv.Value) == `{"small":true}`
			}
		}
		if !found {
			t.Fatalf("the small payload's task has no %s in its overrides: %+v", server.EnvPayload, tk.Overrides)
		}
	}
}

// Without an object store that gives URLs, a payload over what ECS overrides carry is
// refused at enqueue, saying why and what to configure, rather than registering a task
// definition revision for the run.
func TestServerOnECSLargePayloadWithoutS3IsRefused(t *testing.T) {
	w := newECSWorld(t, awsfake.Options{}, "launchType: EC2", 512, `[exit, "0"]`)
	srv := w.startServer("a")
	_, _, err := srv.api.Enqueue(ectx(t), "report", api.EnqueueRequest{Payload: []byte(`"` + strings.Repeat("x", 5000) + `"`)})
	if hashike.ErrorCodeOf(err) != hashike.ETooLarge || !strings.Contains(err.Error(), "objectStore.s3") {
		t.Fatalf("enqueue of 5000 bytes on ECS with a local object store: %v, want too large naming objectStore.s3", err)
	}
	if n := w.cloud.Calls("RegisterTaskDefinition"); n != 0 {
		t.Fatalf("RegisterTaskDefinition called %d times", n)
	}
}

// A script too large for RunTask's overrides is fetched by the task from S3, through a
// presigned URL (HASHIKE_SCRIPT_URL), with no task definition revision of its own.
func TestServerOnECSScriptByReference(t *testing.T) {
	w := newECSWorld(t, awsfake.Options{}, "launchType: EC2", 512, `[exit, "3"]`)
	w.cloud.AddInstance("jobs", 4096, 8192)
	store := fakeS3Objects(t)
	w.objects = func() (hashike.ObjectStore, hashike.ObjectURLs) { return store, store }
	srv := w.startServer("a")
	ctx := ectx(t)
	script := "print 1 ecs-script\n" + strings.Repeat(" \n", 3000) + "exit 0\n"
	run, _, err := srv.api.Enqueue(ctx, "report", api.EnqueueRequest{Overrides: &api.Overrides{Script: script}})
	if err != nil {
		t.Fatal(err)
	}
	if out := followLogs(t, srv.api, run.ID, nil); out != "ecs-script 1\n" {
		t.Fatalf("logs %q", out)
	}
	view, err := srv.api.GetRun(ctx, run.ID)
	if err != nil || view.State != hashike.StateSucceeded {
		t.Fatalf("run %s, %v", view.State, err)
	}
	tk := w.cloud.Tasks()[0]
	var scriptURL bool
	for _, o := range tk.Overrides.ContainerOverrides {
		for _, kv := range o.Environment {
			scriptURL = scriptURL || aws.ToString(kv.Name) == server.EnvScriptURL
		}
		if len(o.Command) != 3 || o.Command[2] != server.FetchScript {
			t.Fatalf("command override %q, want the fetching wrapper", o.Command)
		}
	}
	if !scriptURL {
		t.Fatalf("no %s in the overrides", server.EnvScriptURL)
	}
	if n := w.cloud.Calls("RegisterTaskDefinition"); n != 1 {
		t.Fatalf("RegisterTaskDefinition called %d times, want once", n)
	}
}
