package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/api"
	"github.com/hashike/hashike/docker"
	"github.com/hashike/hashike/docker/dockertest"
	"github.com/hashike/hashike/github"
	"github.com/hashike/hashike/internal/fakebackend"
	"github.com/hashike/hashike/job"
	"github.com/hashike/hashike/jobfile"
	"github.com/hashike/hashike/retention"
	"github.com/hashike/hashike/server"
	"github.com/hashike/hashike/sqlite"
)

// realAPI is the handler over a real server.Server on a real SQLite store, with a fake
// backend whose tasks behave as the test says.
type realAPI struct {
	t       *testing.T
	h       http.Handler
	srv     *server.Server
	backend hashike.Backend
	store   hashike.ServerStore
}

func newRealAPI(t *testing.T, behave func(hashike.StartRequest) fakebackend.Behavior) *realAPI {
	t.Helper()
	return newRealAPIOn(t, fakebackend.New("local", behave))
}

// newRealAPIOn is newRealAPI with b as the local backend.
func newRealAPIOn(t *testing.T, b hashike.Backend) *realAPI {
	t.Helper()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "server.db"))
	if err != nil {
		t.Fatal(err)
	}
	self := hashike.Owner{Host: "test", PID: 1, Start: "1"}
	pruner, err := retention.New(retention.Config{Store: st, Clock: hashike.SystemClock{}})
	if err != nil {
		t.Fatal(err)
	}
	day := hashike.Duration(24 * time.Hour)
	srv, err := server.New(server.Config{
		Pruner: pruner, Retention: hashike.Retention{Logs: &day},
		Store: st, Clock: hashike.SystemClock{}, Random: rand.Reader, Self: self,
		Backend: func(name string) (hashike.Backend, error) { return b, nil },
		Alive:   func(o hashike.Owner) bool { return o == self },
		ParseDefinition: func(name string, doc []byte) (*job.Definition, error) {
			d, err := jobfile.LoadDefinition("request", doc, jobfile.DefinitionOptions{Family: name})
			if err != nil {
				return nil, err
			}
			return &d.Job, nil
		},
		PollInterval: 10 * time.Millisecond, ReconcileInterval: 50 * time.Millisecond,
		ScheduleInterval: 20 * time.Millisecond, NoLeader: true,
		GitHubWebhook: github.NewWebhook([]byte(hookSecret)),
		LogSearch:     stubSearch{},
	})
	if err != nil {
		t.Fatal(err)
	}
	srv.Start(context.Background())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		st.Close()
	})
	return &realAPI{t: t, h: NewHandler(srv, Options{NoAuth: true}), srv: srv, backend: b, store: st}
}

// do sends a request (header: name, value pairs).
func (a *realAPI) do(method, target, body string, header ...string) response {
	a.t.Helper()
	return serve(a.t, a.h, method, target, "", body, header...)
}

// must sends a request and fails the test unless it gets status; it decodes the body into
// out when out is not nil.
func (a *realAPI) must(status int, out any, method, target, body string, header ...string) response {
	a.t.Helper()
	r := a.do(method, target, body, header...)
	if r.status != status {
		a.t.Fatalf("%s %s: status %d, want %d: %s", method, target, r.status, status, r.body)
	}
	if out != nil {
		if err := json.Unmarshal([]byte(r.body), out); err != nil {
			a.t.Fatalf("%s %s: %v: %s", method, target, err, r.body)
		}
	}
	return r
}

// waitRun polls a run until ok says it is as wanted.
func (a *realAPI) waitRun(id string, ok func(api.RunView) bool) api.RunView {
	a.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var v api.RunView
		a.must(200, &v, "GET", "/v1/runs/"+id, "")
		if ok(v) {
			return v
		}
		if time.Now().After(deadline) {
			a.t.Fatalf("run %s: still %s", id, v.State)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// jobDoc is a job definition for the real server.
func jobDoc(extra string) string {
	return "taskDefinition:\n  containerDefinitions:\n    - {name: app, image: testjob, memory: 64}\n" + extra
}

// TestEnqueueBodyNotAnObject: an enqueue's body that is JSON but not an object is refused,
// naming the problem, and makes no run (1 was an enqueue with defaults).
func TestEnqueueBodyNotAnObject(t *testing.T) {
	a := newRealAPI(t, nil)
	a.must(201, nil, "PUT", "/v1/jobs/hello", jobDoc(""))
	for _, body := range []string{`1`, ` null`, `"x"`, `true`, `[{}]`, "\n-2.5"} {
		r := a.do("POST", "/v1/jobs/hello/runs", body)
		if r.status != 400 {
			t.Errorf("%q: status %d, want 400: %s", body, r.status, r.body)
			continue
		}
		e := apiError(t, r)
		if len(e.Fields) != 1 || !strings.Contains(e.Fields[0].Message, "expected object, got ") || e.Fields[0].Pos == "" {
			t.Errorf("%q: %+v, want one field saying an object is expected, with its position", body, e)
		}
	}
	var page api.RunPage
	a.must(200, &page, "GET", "/v1/runs", "")
	if len(page.Runs) != 0 {
		t.Errorf("%d runs made", len(page.Runs))
	}
}

// TestBodyDepthBounded: a body (a payload) nested 5,000 or 90,000 levels deep is refused
// with an error naming the depth limit, allocating little; one nested within the limit is a
// run.
func TestBodyDepthBounded(t *testing.T) {
	a := newRealAPI(t, nil)
	a.must(201, nil, "PUT", "/v1/jobs/hello", jobDoc(""))
	for _, payload := range []string{strings.Repeat("[", 5_000) + strings.Repeat("]", 5_000),
		strings.Repeat("[", 90_000) + strings.Repeat("]", 90_000), // as deep as the body limit allows
		strings.Repeat(`{"a":`, 20_000) + "1" + strings.Repeat("}", 20_000)} {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		r := a.do("POST", "/v1/jobs/hello/runs", `{"payload":`+payload+`}`)
		runtime.ReadMemStats(&after)
		if r.status != 400 || !strings.Contains(r.body, fmt.Sprintf("nested more than %d levels deep", MaxBodyDepth)) {
			t.Errorf("status %d: %.300s, want 400 naming the depth limit", r.status, r.body)
		}
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 50<<20 {
			t.Errorf("allocated %d MB", alloc>>20)
		}
	}
	ok := strings.Repeat("[", MaxBodyDepth-1) + strings.Repeat("]", MaxBodyDepth-1)
	a.must(201, nil, "POST", "/v1/jobs/hello/runs", `{"payload":`+ok+`}`)
	// PUT /v1/jobs goes through the definition loader, which has its own limit.
	r := a.do("PUT", "/v1/jobs/deep", "taskDefinition: "+strings.Repeat("[", 100_000)+strings.Repeat("]", 100_000))
	if r.status != 400 || !strings.Contains(r.body, "nested more than 100 levels deep") {
		t.Errorf("deep definition: status %d: %.300s", r.status, r.body)
	}
}

// TestGarbageCursor: a cursor that names no run is a bad request naming cursor, not a 404 as
// if the runs were missing.
func TestGarbageCursor(t *testing.T) {
	a := newRealAPI(t, nil)
	a.must(201, nil, "PUT", "/v1/jobs/hello", jobDoc(""))
	a.must(201, nil, "POST", "/v1/jobs/hello/runs", `{}`)
	for _, cursor := range []string{"garbage", "01m94a1mvbdhnes8qcsjhhb277", "%00%ff"} {
		r := a.do("GET", "/v1/runs?cursor="+cursor, "")
		if r.status != 400 {
			t.Errorf("cursor %q: status %d, want 400: %s", cursor, r.status, r.body)
			continue
		}
		if e := apiError(t, r); len(e.Fields) != 1 || e.Fields[0].Path != "cursor" {
			t.Errorf("cursor %q: %+v, want the field cursor", cursor, e)
		}
	}
	var page api.RunPage
	a.must(200, &page, "GET", "/v1/runs?limit=1", "")
	a.must(200, nil, "GET", "/v1/runs?limit=1&cursor="+page.Runs[0].ID, "")
}

// TestQueuesExist: GET /v1/queues lists the default queue and those the jobs name; an
// enqueue to (or a pause of) a queue no job names and no one created is refused, naming the
// field and the known queues; PUT /v1/queues/{name} creates one.
func TestQueuesExist(t *testing.T) {
	a := newRealAPI(t, nil)
	names := func() []string {
		var l struct{ Queues []hashike.QueueInfo }
		a.must(200, &l, "GET", "/v1/queues", "")
		var out []string
		for _, q := range l.Queues {
			out = append(out, q.Name)
		}
		return out
	}
	if got := names(); !slices.Equal(got, []string{"default"}) {
		t.Errorf("queues of a new server %q, want [default]", got)
	}
	a.must(201, nil, "PUT", "/v1/jobs/hello", jobDoc(""))
	a.must(201, nil, "PUT", "/v1/jobs/report", jobDoc("queue: reports\n"))
	if got := names(); !slices.Equal(got, []string{"default", "reports"}) {
		t.Errorf("queues %q, want [default reports]", got)
	}

	r := a.do("POST", "/v1/jobs/hello/runs", `{"queue":"reprots"}`)
	if r.status != 404 {
		t.Fatalf("enqueue to a misspelt queue: status %d, want 404: %s", r.status, r.body)
	}
	e := apiError(t, r)
	if len(e.Fields) != 1 || e.Fields[0].Path != "queue" || !strings.Contains(e.Fields[0].Message, "known queues: default, reports") {
		t.Errorf("%+v, want the field queue listing the known queues", e)
	}
	if got := names(); slices.Contains(got, "reprots") {
		t.Errorf("the misspelt queue was made: %q", got)
	}
	r = a.do("POST", "/v1/queues/reprots/pause", "")
	if r.status != 404 || !strings.Contains(r.body, "known queues: default, reports") {
		t.Errorf("pause of a misspelt queue: status %d: %s", r.status, r.body)
	}
	if got := names(); slices.Contains(got, "reprots") {
		t.Errorf("the misspelt queue was made by pause: %q", got)
	}

	var run hashike.Run
	a.must(201, &run, "POST", "/v1/jobs/hello/runs", `{"queue":"reports"}`)
	if run.Queue != "reports" {
		t.Errorf("queue %q", run.Queue)
	}
	a.must(201, nil, "POST", "/v1/jobs/report/runs", `{"queue":"default"}`)
	a.must(200, nil, "PUT", "/v1/queues/bulk", `{"maxConcurrency":1}`)
	a.must(201, nil, "POST", "/v1/jobs/hello/runs", `{"queue":"bulk"}`)
	a.must(200, nil, "POST", "/v1/queues/bulk/pause", "")
	if got := names(); !slices.Equal(got, []string{"bulk", "default", "reports"}) {
		t.Errorf("queues %q, want [bulk default reports]", got)
	}
}

// TestJobStateAcrossAttempts: while the retry of a failed first try runs, the first try
// reads failed as its own state but running as its enqueue's (jobState), in GET /v1/runs/{id}
// and in GET /v1/runs; once the retry ends, both tries show its end.
func TestJobStateAcrossAttempts(t *testing.T) {
	release := make(chan struct{})
	a := newRealAPI(t, func(req hashike.StartRequest) fakebackend.Behavior {
		for _, kv := range req.Spec.TaskDefinition.ContainerDefinitions[0].Environment {
			if kv.Name == server.EnvAttempt && kv.Value == "1" {
				return fakebackend.Behavior{ExitCode: 1}
			}
		}
		return fakebackend.Behavior{Hold: release}
	})
	a.must(201, nil, "PUT", "/v1/jobs/flaky", jobDoc("retryStrategy: {attempts: 2}\n"))
	var first hashike.Run
	a.must(201, &first, "POST", "/v1/jobs/flaky/runs", `{}`)

	v := a.waitRun(first.ID, func(v api.RunView) bool { return v.State.Terminal() && v.JobState == hashike.StateRunning })
	if v.State != hashike.StateFailed || v.LatestAttempt != 2 || len(v.Attempts) != 2 {
		t.Errorf("first try: state %s, latestAttempt %d, %d attempts; want failed, 2, 2", v.State, v.LatestAttempt, len(v.Attempts))
	}
	var page api.RunPage
	a.must(200, &page, "GET", "/v1/runs?root="+first.ID, "")
	if len(page.Runs) != 2 {
		t.Fatalf("%d tries listed", len(page.Runs))
	}
	for _, r := range page.Runs {
		if r.JobState != hashike.StateRunning || r.LatestAttempt != 2 {
			t.Errorf("listed try %d (%s): jobState %s, latestAttempt %d; want running, 2", r.Attempt, r.State, r.JobState, r.LatestAttempt)
		}
	}
	close(release)
	a.waitRun(first.ID, func(v api.RunView) bool { return v.JobState == hashike.StateSucceeded })
	a.must(200, &page, "GET", "/v1/runs?job=flaky", "")
	for _, r := range page.Runs {
		if r.JobState != hashike.StateSucceeded {
			t.Errorf("listed try %d: jobState %s, want succeeded", r.Attempt, r.JobState)
		}
	}
}

// TestPayloadFitsTheEnvironment: a payload travels as HASHIKE_PAYLOAD, and Linux will not
// start a program with an environment string over 128 KiB; the container then exits 1 at once
// and the run read as the job's own failure, using up a retry. On a real Docker Engine, a
// payload of job.PayloadLimit bytes runs; one byte more is refused at enqueue (413, naming
// payload and the limit) by a server without an object store; a definition asking for more
// than job.MaxPayloadByReference is refused at load.
func TestPayloadFitsTheEnvironment(t *testing.T) {
	dockertest.Require(t)
	b, err := docker.New("", hashike.SystemClock{})
	if err != nil {
		t.Fatal(err)
	}
	a := newRealAPIOn(t, b)
	a.must(201, nil, "PUT", "/v1/jobs/hello", "taskDefinition:\n  containerDefinitions:\n"+
		"    - {name: app, image: "+dockertest.Image+", command: [print, '1', started], memory: 64}\n")

	payload := func(n int) string { return `"` + strings.Repeat("x", n-2) + `"` } // n bytes of JSON
	var run hashike.Run
	a.must(201, &run, "POST", "/v1/jobs/hello/runs", `{"payload":`+payload(job.PayloadLimit)+`}`)
	v := a.waitRun(run.ID, func(v api.RunView) bool { return v.State.Terminal() })
	if v.State != hashike.StateSucceeded {
		t.Errorf("a payload at the limit: run %s (%+v)", v.State, v.Exit)
	}

	r := a.do("POST", "/v1/jobs/hello/runs", `{"payload":`+payload(job.PayloadLimit+1)+`}`)
	if r.status != 413 {
		t.Fatalf("a payload one byte over: status %d, want 413: %.300s", r.status, r.body)
	}
	e := apiError(t, r)
	if len(e.Fields) != 1 || e.Fields[0].Path != "payload" || !strings.Contains(e.Fields[0].Message, fmt.Sprintf("the limit is %d", job.PayloadLimit)) {
		t.Errorf("%+v, want the field payload naming the limit", e)
	}

	// A job may allow more than the environment carries (a server with an object store
	// passes such payloads by reference; this one refuses them at enqueue, as above), but
	// not more than any payload can be.
	r = a.do("PUT", "/v1/jobs/big", jobDoc(fmt.Sprintf("maxPayloadBytes: %d\n", job.MaxPayloadByReference+1)))
	if r.status != 400 || !strings.Contains(r.body, `"path":"maxPayloadBytes"`) || !strings.Contains(r.body, fmt.Sprint(job.MaxPayloadByReference)) {
		t.Errorf("a definition allowing 64 MiB + 1: status %d: %s", r.status, r.body)
	}
}

// stubSearch finds one line for any query: the real API's log archive (package archive has
// its own tests; this checks the wire).
type stubSearch struct{}

func (stubSearch) SearchLogs(ctx context.Context, q hashike.LogQuery, fn func(hashike.LogMatch) error) error {
	return fn(hashike.LogMatch{RunID: "01jd0000000000000000000001", Family: "web", Container: "app",
		Time: time.Date(2026, 12, 6, 1, 2, 3, 4, time.UTC), Stream: "stderr", Line: "ERROR " + q.Pattern})
}
