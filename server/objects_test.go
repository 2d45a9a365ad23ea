package server

import (
	"context"
	"encoding/json"
	"io"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/api"
	"github.com/hashike/hashike/internal/fakebackend"
	"github.com/hashike/hashike/job"
	"github.com/hashike/hashike/objectfs"
)

func withObjects(t *testing.T, mod func(*Config)) func(*Config) {
	st, err := objectfs.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return func(c *Config) {
		c.Objects = st
		c.MaxPayloadBytes = 1 << 20
		c.InlinePayloadBytes = 100
		if mod != nil {
			mod(c)
		}
	}
}

func fileOf(files []hashike.File, path string) (hashike.File, bool) {
	for _, f := range files {
		if f.Path == path {
			return f, true
		}
	}
	return hashike.File{}, false
}

func objectKeys(t *testing.T, s hashike.ObjectStore, prefix string) []string {
	t.Helper()
	var keys []string
	if err := s.List(context.Background(), prefix, func(o hashike.ObjectInfo) error {
		keys = append(keys, o.Key)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return keys
}

// A payload over the inline threshold is stored once per enqueue and put into the local task
// as /hashike/payload.json; the run (and so the database) holds none of it, and neither
// HASHIKE_PAYLOAD. Idempotent repeats compare against the stored payload; a rerun carries it.
func TestPayloadByReferenceLocal(t *testing.T) {
	e := newEnv(t, opts{config: withObjects(t, nil)})
	e.register("hello", definition(nil))
	payload := `{"blob":"` + strings.Repeat("x", 1000) + `"}`
	ctx := context.Background()
	run, created, err := e.s.Enqueue(ctx, "hello", api.EnqueueRequest{Payload: json.RawMessage(payload), IdempotencyKey: "k"})
	if err != nil || !created {
		t.Fatal(err)
	}
	if len(run.Payload) != 0 || env_(run, EnvPayload) != "" || env_(run, EnvPayloadFile) != PayloadPath {
		t.Fatalf("run payload %d bytes, HASHIKE_PAYLOAD %q, HASHIKE_PAYLOAD_FILE %q", len(run.Payload), env_(run, EnvPayload), env_(run, EnvPayloadFile))
	}
	o, err := e.store.GetRunObject(ctx, run.ID, hashike.RunObjectPayload)
	if err != nil || o.Key != PayloadKey(run.ID) || o.Size != int64(len(payload)) {
		t.Fatalf("payload record %+v, %v", o, err)
	}
	e.settled(run.ID)
	f, ok := fileOf(e.backend.Files(run.ID), PayloadPath)
	if !ok || string(f.Data) != payload {
		t.Fatalf("the task's %s: %d bytes (present %v), want the payload's %d", PayloadPath, len(f.Data), ok, len(payload))
	}
	if d, ok := fileOf(e.backend.Files(run.ID), "/hashike"); !ok || !d.Dir {
		t.Fatalf("the task has no writable /hashike for its result: %+v", e.backend.Files(run.ID))
	}

	// The same key and payload: the same run, nothing stored twice; another payload: conflict.
	again, created, err := e.s.Enqueue(ctx, "hello", api.EnqueueRequest{Payload: json.RawMessage(payload), IdempotencyKey: "k"})
	if err != nil || created || again.ID != run.ID {
		t.Fatalf("idempotent repeat: %v, created %v, id %s", err, created, again.ID)
	}
	other := strings.Replace(payload, "x", "y", 1)
	if _, _, err := e.s.Enqueue(ctx, "hello", api.EnqueueRequest{Payload: json.RawMessage(other), IdempotencyKey: "k"}); hashike.ErrorCodeOf(err) != hashike.EConflict {
		t.Fatalf("the key with another payload: %v, want conflict", err)
	}
	if keys := objectKeys(t, e.s.cfg.Objects, "runs/"); len(keys) != 1 {
		t.Fatalf("objects after the repeats: %q, want the one payload", keys)
	}

	rerun, err := e.s.Rerun(ctx, run.ID, api.RerunRequest{})
	if err != nil {
		t.Fatal(err)
	}
	e.settled(rerun.ID)
	if f, ok := fileOf(e.backend.Files(rerun.ID), PayloadPath); !ok || string(f.Data) != payload {
		t.Fatalf("the rerun's payload file: %d bytes", len(f.Data))
	}

	// Under the threshold: inline, as without an object store.
	small := e.enqueue("hello", api.EnqueueRequest{Payload: json.RawMessage(`{"n":1}`)})
	if string(small.Payload) != `{"n":1}` || env_(small, EnvPayload) != `{"n":1}` {
		t.Fatalf("a small payload: %s, HASHIKE_PAYLOAD %q", small.Payload, env_(small, EnvPayload))
	}
}

// A server without an object store refuses a payload over the inline threshold, naming the
// reason; its limit cannot be raised over what the environment carries.
func TestPayloadOverInlineWithoutObjects(t *testing.T) {
	e := newEnv(t, opts{config: func(c *Config) { c.InlinePayloadBytes = 100 }})
	e.register("hello", definition(nil))
	_, _, err := e.s.Enqueue(context.Background(), "hello", api.EnqueueRequest{Payload: json.RawMessage(`"` + strings.Repeat("x", 200) + `"`)})
	if hashike.ErrorCodeOf(err) != hashike.ETooLarge || !strings.Contains(err.Error(), "no object store") {
		t.Fatalf("enqueue: %v, want too large saying there is no object store", err)
	}
	cfg := e.s.cfg
	cfg.MaxPayloadBytes = job.PayloadLimit + 1
	if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), "without an object store") {
		t.Fatalf("New with a limit over the environment and no object store: %v", err)
	}
	cfg.Objects = e.s.cfg.Objects
	cfg.MaxPayloadBytes = job.MaxPayloadByReference + 1
	if _, err := New(cfg); err == nil {
		t.Fatal("New with a limit over MaxPayloadByReference: no error")
	}
}

// A local task's result is read out of its stopped container and kept; the retry that follows
// gets it as /hashike/previous-result. A result over the limit is not kept, and saying so is
// what GET .../result answers.
func TestResultAndPreviousResult(t *testing.T) {
	var mu sync.Mutex
	seen := map[int][]hashike.File{}
	e := newEnv(t, opts{config: withObjects(t, func(c *Config) { c.MaxResultBytes = 20 }),
		behave: func(req hashike.StartRequest) fakebackend.Behavior {
			attempt := 0
			for _, kv := range req.Spec.TaskDefinition.ContainerDefinitions[0].Environment {
				if kv.Name == EnvAttempt {
					attempt = int(kv.Value[0] - '0')
				}
			}
			mu.Lock()
			seen[attempt] = req.Files
			mu.Unlock()
			if attempt == 1 {
				return fakebackend.Behavior{ExitCode: 1, Files: map[string][]byte{ResultPath: []byte(`{"step":1}`)}}
			}
			return fakebackend.Behavior{Files: map[string][]byte{ResultPath: []byte(`{"step":2,"too":"long for the limit"}`)}}
		}})
	e.register("flaky", definition(func(d *job.Definition) { d.RetryStrategy.Attempts = 2 }))
	run := e.enqueue("flaky", api.EnqueueRequest{})
	tries := e.settled(run.ID)
	if len(tries) != 2 {
		t.Fatalf("%d tries", len(tries))
	}
	ctx := context.Background()
	info, rc, err := e.s.RunResult(ctx, tries[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(rc)
	rc.Close()
	if string(b) != `{"step":1}` || info.ContentType != "application/json" || info.Size != 10 {
		t.Fatalf("first try's result %q %+v", b, info)
	}
	mu.Lock()
	prev, ok := fileOf(seen[2], PreviousResultPath)
	mu.Unlock()
	if !ok || string(prev.Data) != `{"step":1}` || env_(tries[1], EnvPreviousResultFile) != "" {
		// The variable is set at start only, not recorded with the run.
		t.Fatalf("the retry's %s: %q (present %v)", PreviousResultPath, prev.Data, ok)
	}
	_, _, err = e.s.RunResult(ctx, tries[1].ID)
	if hashike.ErrorCodeOf(err) != hashike.ETooLarge || !strings.Contains(err.Error(), "maxResultBytes") {
		t.Fatalf("second try's result: %v, want too large naming maxResultBytes", err)
	}
	if keys := objectKeys(t, e.s.cfg.Objects, "runs/"+tries[1].ID); len(keys) != 0 {
		t.Fatalf("a result over the limit was kept: %q", keys)
	}
	other := e.enqueue("flaky", api.EnqueueRequest{})
	_, _, err = e.s.RunResult(ctx, other.ID)
	if hashike.ErrorCodeOf(err) != hashike.ENotFound {
		t.Fatalf("result of a run that has not run: %v, want not found", err)
	}
}

// fakeURLs presigns nothing: its URLs name the key, the method and the validity.
type fakeURLs struct {
	mu    sync.Mutex
	calls []string
}

func (f *fakeURLs) sign(method, key string, ttl time.Duration) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, method+" "+key)
	return "https://s3.example/" + key + "?method=" + method + "&X-Amz-Expires=" + url.QueryEscape(ttl.String())
}

func (f *fakeURLs) PresignGet(_ context.Context, key string, ttl time.Duration) (string, error) {
	return f.sign("GET", key, ttl), nil
}

func (f *fakeURLs) PresignPut(_ context.Context, key string, ttl time.Duration) (string, error) {
	return f.sign("PUT", key, ttl), nil
}

// On ECS the task gets URLs, made at each start: a retry's are new ones, valid for its
// timeout and the margin from its own start; a run without a timeout gets S3's longest.
func TestECSURLsAtEachStart(t *testing.T) {
	urls := &fakeURLs{}
	var mu sync.Mutex
	env := map[string]map[string]string{} // run ID -> variables at start
	ecsBackend := fakebackend.New("ecs", func(req hashike.StartRequest) fakebackend.Behavior {
		vars := map[string]string{}
		for _, kv := range req.Spec.TaskDefinition.ContainerDefinitions[0].Environment {
			vars[kv.Name] = kv.Value
		}
		mu.Lock()
		env[req.RunID] = vars
		mu.Unlock()
		if vars[EnvAttempt] == "1" {
			return fakebackend.Behavior{ExitCode: 1}
		}
		return fakebackend.Behavior{}
	})
	e := newEnv(t, opts{ecs: ecsBackend, config: withObjects(t, func(c *Config) { c.ObjectURLs = urls; c.URLMargin = 30 * time.Minute })})
	e.register("report", definition(func(d *job.Definition) {
		d.Backend = "ecs"
		d.Timeout = hashike.Duration(2 * time.Hour)
		d.RetryStrategy.Attempts = 2
	}))
	run := e.enqueue("report", api.EnqueueRequest{Payload: json.RawMessage(`"` + strings.Repeat("p", 5000) + `"`)})
	tries := e.settled(run.ID)
	if len(tries) != 2 {
		t.Fatalf("%d tries", len(tries))
	}
	mu.Lock()
	defer mu.Unlock()
	for _, try := range tries {
		vars := env[try.ID]
		want := map[string]string{
			EnvPayloadURL: "https://s3.example/" + PayloadKey(run.ID) + "?method=GET&X-Amz-Expires=2h30m0s",
			EnvResultURL:  "https://s3.example/" + ResultKey(try.ID) + "?method=PUT&X-Amz-Expires=2h30m0s",
			EnvResultKey:  ResultKey(try.ID),
		}
		for k, v := range want {
			if vars[k] != v {
				t.Errorf("try %d: %s = %q, want %q", try.Attempt, k, vars[k], v)
			}
		}
		if _, ok := vars[EnvPayload]; ok {
			t.Errorf("try %d got %s", try.Attempt, EnvPayload)
		}
	}
	if n := strings.Count(strings.Join(urls.calls, "\n"), "GET "+PayloadKey(run.ID)); n != 2 {
		t.Fatalf("the payload's URL was made %d times, want once per start: %q", n, urls.calls)
	}
}
