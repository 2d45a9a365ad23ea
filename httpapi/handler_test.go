package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/api"
)

type response struct {
	status int
	header http.Header
	body   string
}

// serve sends one request to a handler over f. header holds name, value pairs.
func serve(t *testing.T, h http.Handler, method, target, token, body string, header ...string) response {
	t.Helper()
	var rb io.Reader
	if body != "" {
		rb = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, target, rb)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Add(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	checked(t, h).ServeHTTP(rec, req)
	return response{rec.Code, rec.Header(), rec.Body.String()}
}

// apiError decodes an error body, failing the test when it is not one.
func apiError(t *testing.T, r response) wireError {
	t.Helper()
	var b errorBody
	if err := json.Unmarshal([]byte(r.body), &b); err != nil || b.Error.Code == "" {
		t.Fatalf("not an error body (%v): %s", err, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("error Content-Type %q", ct)
	}
	return b.Error
}

const admin, submit, read = "admin-secret", "submit-secret", "read-secret"

// TestRoutes sends a good request to every route and checks its status and body.
func TestRoutes(t *testing.T) {
	withRun := func(f *fakeService) { f.newRun("hello", "api") }
	tests := []struct {
		name                  string
		setup                 func(*fakeService)
		method, target, token string
		body                  string
		header                []string
		status                int
		want                  []string // substrings of the body
		calls                 []string
	}{
		{name: "health", method: "GET", target: "/healthz", status: 200, want: []string{`{"status":"ok","checks":{"database":"ok"}}`}},
		{name: "health database down", setup: func(f *fakeService) { f.down = []string{"database"} }, method: "GET",
			target: "/healthz", status: 503, want: []string{`{"status":"unavailable","checks":{"database":"down"}}`}},
		{name: "openapi", method: "GET", target: "/v1/openapi.json", status: 200, want: []string{`"openapi": "3.1.0"`}},
		{name: "list jobs", method: "GET", target: "/v1/jobs", token: read, status: 200,
			want: []string{`{"jobs":[{"name":"hello","version":1,`, `"definition":{`}, calls: []string{"ListJobs"}},
		{name: "list jobs empty", setup: func(f *fakeService) { clear(f.jobs) }, method: "GET", target: "/v1/jobs", token: read,
			status: 200, want: []string{`{"jobs":[]}`}},
		{name: "put job created", method: "PUT", target: "/v1/jobs/etl", token: admin, body: "image: etl\n",
			header: []string{"Content-Type", "application/yaml"}, status: 201, want: []string{`"name":"etl","version":1`},
			calls: []string{"RegisterJob etl"}},
		{name: "put job unchanged", method: "PUT", target: "/v1/jobs/hello", token: admin, body: "image: hello\n",
			status: 200, want: []string{`"name":"hello","version":1`}, calls: []string{"RegisterJob hello"}},
		{name: "put job new version", method: "PUT", target: "/v1/jobs/hello", token: admin, body: `{"image":"hello:2"}`,
			header: []string{"Content-Type", "application/json"}, status: 201, want: []string{`"name":"hello","version":2`}},
		{name: "get job", method: "GET", target: "/v1/jobs/hello", token: read, status: 200,
			want: []string{`"name":"hello","version":1`}, calls: []string{"GetJob hello 0"}},
		{name: "get job version", method: "GET", target: "/v1/jobs/hello?version=1", token: read, status: 200,
			calls: []string{"GetJob hello 1"}},
		{name: "job versions", setup: func(f *fakeService) { f.putJob("hello", "v2") }, method: "GET",
			target: "/v1/jobs/hello/versions", token: read, status: 200,
			want: []string{`{"versions":[{"name":"hello","version":2`}, calls: []string{"ListJobVersions hello"}},
		{name: "enqueue empty body", method: "POST", target: "/v1/jobs/hello/runs", token: submit, status: 201,
			want: []string{`"id":"run-1"`, `"state":"queued"`}, calls: []string{"Enqueue hello"}},
		{name: "enqueue", method: "POST", target: "/v1/jobs/hello/runs", token: submit,
			body:   `{"payload":{"n":1},"priority":5,"delay":"10m","queue":"fast","idempotencyKey":"k","version":1}`,
			status: 201, want: []string{`"id":"run-1"`, `"priority":5`, `"idempotencyKey":"k"`}},
		{name: "enqueue repeat", setup: func(f *fakeService) { f.newRun("hello", "api").IdempotencyKey = "k" },
			method: "POST", target: "/v1/jobs/hello/runs", token: submit, header: []string{"Idempotency-Key", "k"},
			status: 200, want: []string{`"id":"run-1"`}},
		{name: "list runs", setup: withRun, method: "GET", target: "/v1/runs?state=queued,running&job=hello&limit=10",
			token: read, status: 200, want: []string{`{"runs":[{"id":"run-1"`, `"next":"run-1"`}},
		{name: "list runs empty", method: "GET", target: "/v1/runs", token: read, status: 200, want: []string{`{"runs":[]}`}},
		{name: "get run", setup: withRun, method: "GET", target: "/v1/runs/run-1", token: read, status: 200,
			want: []string{`"id":"run-1"`, `"attempts":[{"id":"run-1","attempt":1`}},
		{name: "cancel", setup: withRun, method: "POST", target: "/v1/runs/run-1/cancel", token: submit,
			body: `{"reason":"oops"}`, status: 200, want: []string{`"state":"canceled"`}, calls: []string{`Cancel run-1 "oops"`}},
		{name: "cancel no body", setup: withRun, method: "POST", target: "/v1/runs/run-1/cancel", token: submit,
			status: 200, calls: []string{`Cancel run-1 ""`}},
		{name: "rerun", setup: withRun, method: "POST", target: "/v1/runs/run-1/rerun", token: submit,
			body: `{"latest":true}`, status: 201, want: []string{`"id":"run-2"`, `"trigger":"rerun"`},
			calls: []string{"Rerun run-1 latest=true"}},
		{name: "logs", setup: withRun, method: "GET", target: "/v1/runs/run-1/logs", token: read, status: 200,
			calls: []string{"FollowLogs run-1 follow=false"}},
		{name: "logs follow", setup: withRun, method: "GET", target: "/v1/runs/run-1/logs?follow=true", token: read,
			status: 200, calls: []string{"FollowLogs run-1 follow=true"}},
		{name: "list queues", setup: func(f *fakeService) { f.queues["default"] = hashike.QueueConfig{Name: "default", MaxConcurrency: 2} },
			method: "GET", target: "/v1/queues", token: read, status: 200,
			want: []string{`{"queues":[{"name":"default","maxConcurrency":2,"paused":false,"queued":0,"active":0}]}`}},
		{name: "put queue", method: "PUT", target: "/v1/queues/fast", token: admin, body: `{"maxConcurrency":3,"paused":true}`,
			status: 200, want: []string{`"name":"fast","maxConcurrency":3,"paused":true`},
			calls: []string{"PutQueue fast max=3 paused=true"}},
		{name: "pause queue", setup: func(f *fakeService) { f.queues["fast"] = hashike.QueueConfig{Name: "fast", MaxConcurrency: 4} },
			method: "POST", target: "/v1/queues/fast/pause", token: admin, status: 200,
			want: []string{`"maxConcurrency":4,"paused":true`}, calls: []string{"ListQueues", "PutQueue fast max=4 paused=true"}},
		{name: "pause unknown queue", method: "POST", target: "/v1/queues/new/pause", token: admin, status: 404,
			want: []string{`no queue \"new\"; known queues: `}, calls: []string{"ListQueues"}},
		{name: "resume queue", setup: func(f *fakeService) {
			f.queues["fast"] = hashike.QueueConfig{Name: "fast", MaxConcurrency: 4, Paused: true}
		},
			method: "POST", target: "/v1/queues/fast/resume", token: admin, body: "{}", status: 200,
			want: []string{`"maxConcurrency":4,"paused":false`}, calls: []string{"ListQueues", "PutQueue fast max=4 paused=false"}},
		{name: "list schedules", method: "GET", target: "/v1/schedules", token: read, status: 200,
			want: []string{`{"schedules":[{"job":"hello","version":1,"schedule":{"expressions":[{"cron":"0 * * * *"}]`}},
		{name: "get schedule", method: "GET", target: "/v1/jobs/hello/schedule", token: read, status: 200,
			want: []string{`"job":"hello"`, `"next":["2026-03-01T13:00:00Z"]`}},
		{name: "suspend", method: "POST", target: "/v1/jobs/hello/schedule/suspend", token: admin, status: 200,
			want: []string{`"suspended":true`}, calls: []string{"SetSuspended hello true"}},
		{name: "resume", method: "POST", target: "/v1/jobs/hello/schedule/resume", token: admin, status: 200,
			calls: []string{"SetSuspended hello false"}},
		{name: "trigger", method: "POST", target: "/v1/jobs/hello/trigger", token: submit, status: 201,
			want: []string{`"id":"run-1"`, `"trigger":"manual"`}, calls: []string{"Trigger hello"}},
		{name: "list tokens", method: "GET", target: "/v1/tokens", token: admin, status: 200,
			want: []string{`{"tokens":[{"id":"tok-admin","name":"admin","scope":"admin","createdAt":"2026-03-01T12:00:00Z"}`}},
		{name: "create token", method: "POST", target: "/v1/tokens", token: admin, body: `{"name":"ci","scope":"submit"}`,
			status: 201, want: []string{`"name":"ci","scope":"submit"`, `"secret":"secret-4"`}, calls: []string{"CreateToken ci submit"}},
		{name: "revoke token", method: "DELETE", target: "/v1/tokens/tok-read", token: admin, status: 204,
			calls: []string{"RevokeToken tok-read"}},
		{name: "result", method: "GET", target: "/v1/runs/r1/result", token: read, status: 200,
			setup: func(f *fakeService) { f.results = map[string]string{"r1": `{"rows":42}`} },
			want:  []string{`{"rows":42}`}, calls: []string{"RunResult r1"}},
		{name: "result, none", method: "GET", target: "/v1/runs/r2/result", token: read, status: 404,
			want: []string{`run r2 has no result`}, calls: []string{"RunResult r2"}},
		{name: "result, over the limit", method: "GET", target: "/v1/runs/r3/result", token: read, status: 413,
			setup: func(f *fakeService) {
				f.resultErrs = map[string]string{"r3": "the result of 9 bytes is over the limit"}
			},
			want: []string{`over the limit`}, calls: []string{"RunResult r3"}},
		{name: "log search", method: "GET", target: "/v1/logs/search?pattern=boom&family=web&state=failed,lost&limit=2",
			token: read, status: 200, setup: func(f *fakeService) {
				f.search = func(ctx context.Context, q hashike.LogQuery, fn func(hashike.LogMatch) error) error {
					if q.Family != "web" || q.Limit != 2 || !slices.Equal(q.States, []hashike.RunState{"failed", "lost"}) {
						return fmt.Errorf("query %+v", q)
					}
					for _, line := range []string{"boom 1", "boom 2"} {
						if err := fn(hashike.LogMatch{RunID: "run-1", Family: "web", Container: "app", Time: t0, Stream: "stdout", Line: line}); err != nil {
							return err
						}
					}
					return nil
				}
			},
			want:  []string{`{"runId":"run-1","family":"web","container":"app","time":"2026-03-01T12:00:00Z","stream":"stdout","line":"boom 1"}` + "\n" + `{"runId":"run-1"`, `"line":"boom 2"`},
			calls: []string{"SearchLogs boom"}},
		{name: "log search, no archive", method: "GET", target: "/v1/logs/search?pattern=boom", token: read, status: 404,
			want: []string{`keeps no log archive`}, calls: []string{"SearchLogs boom"}},
		{name: "prune dry run", method: "POST", target: "/v1/prune", token: admin, body: `{"dryRun":true}`, status: 200,
			want:  []string{`"dryRun":true`, `"logs":3`, `{"job":"nightly","runsBefore":"2026-11-01T00:00:00Z","logs":0,"runs":1}`},
			calls: []string{"Prune dryRun=true"}},
		{name: "prune, empty body", method: "POST", target: "/v1/prune", token: admin, status: 200,
			want: []string{`"dryRun":false`}, calls: []string{"Prune dryRun=false"}},
		{name: "prune needs admin", method: "POST", target: "/v1/prune", token: submit, status: 403},
		{name: "prune, unknown field", method: "POST", target: "/v1/prune", token: admin, body: `{"dryrun":true}`, status: 400,
			want: []string{`dryrun`}},
		{name: "runners, none", method: "GET", target: "/v1/runners", token: read, status: 404,
			want: []string{`runs no runner pools`}, calls: []string{"RunnersStatus"}},
		{name: "capacity, none", method: "GET", target: "/v1/capacity", token: read, status: 404,
			want: []string{`runs no cluster autoscaler`}, calls: []string{"CapacityStatus"}},
		{name: "github webhook, no token", method: "POST", target: "/v1/github/webhook", body: `{"zen":"z"}`,
			header: []string{"X-GitHub-Event", "ping", "X-GitHub-Delivery", "d-1", "X-Hub-Signature-256", "sha256=00"},
			status: 202, want: []string{`{"outcome":"ignored"}`}, calls: []string{"webhook ping d-1"}},
	}
	served := map[string]bool{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake()
			if tt.setup != nil {
				tt.setup(f)
			}
			f.calls = nil
			r := serve(t, NewHandler(f, Options{}), tt.method, tt.target, tt.token, tt.body, tt.header...)
			if r.status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.body)
			}
			for _, w := range tt.want {
				if !strings.Contains(r.body, w) {
					t.Errorf("body lacks %s:\n%s", w, r.body)
				}
			}
			if tt.calls != nil && !slices.Equal(f.called(), tt.calls) {
				t.Errorf("calls %q, want %q", f.called(), tt.calls)
			}
			if r.status == 201 && tt.method != "PUT" && r.header.Get("Location") == "" {
				t.Error("201 without Location")
			}
			served[routeOf(t, tt.method, tt.target)] = true
		})
	}
	for _, rt := range routes {
		if !served[rt.method+" "+rt.path] {
			t.Errorf("no test of %s %s", rt.method, rt.path)
		}
	}
}

// routeOf returns the pattern of routes that a request matches.
func routeOf(t *testing.T, method, target string) string {
	mux := http.NewServeMux()
	for _, rt := range routes {
		mux.Handle(rt.method+" "+rt.path, http.NotFoundHandler())
	}
	_, pattern := mux.Handler(httptest.NewRequest(method, target, nil))
	return pattern
}

// TestBadRequests checks every way a request can be refused, and that the service was not
// called when the handler refused it itself.
func TestBadRequests(t *testing.T) {
	tests := []struct {
		name                  string
		setup                 func(*fakeService)
		method, target, token string
		body                  string
		header                []string
		status                int
		code                  string
		field                 string // the first field's path, when the error has fields
		message               string // a substring of the message or of the first field's message
		calls                 []string
	}{
		{name: "unknown job", method: "GET", target: "/v1/jobs/nope", token: read, status: 404, code: "not_found",
			message: `job "nope" not found`},
		{name: "enqueue unknown job", method: "POST", target: "/v1/jobs/nope/runs", token: submit, status: 404, code: "not_found"},
		{name: "unknown run", method: "GET", target: "/v1/runs/nope", token: read, status: 404, code: "not_found"},
		{name: "unknown token", method: "DELETE", target: "/v1/tokens/nope", token: admin, status: 404, code: "not_found"},
		{name: "cancel ended run", setup: func(f *fakeService) { f.newRun("hello", "api").State = hashike.StateFailed },
			method: "POST", target: "/v1/runs/run-1/cancel", token: submit, status: 409, code: "conflict"},
		{name: "bad definition", method: "PUT", target: "/v1/jobs/x", token: admin, body: "bad: [", status: 400,
			code: "invalid", field: "taskDefinition", message: "is required"},
		{name: "wrong type", method: "POST", target: "/v1/jobs/hello/runs", token: submit, body: `{"priority":"high"}`,
			status: 400, code: "invalid", field: "priority", message: "expected integer, got string", calls: []string{}},
		{name: "fraction", method: "POST", target: "/v1/jobs/hello/runs", token: submit, body: `{"priority":1.5}`,
			status: 400, code: "invalid", field: "priority", message: "expected integer, got number 1.5", calls: []string{}},
		{name: "unknown field", method: "POST", target: "/v1/jobs/hello/runs", token: submit, body: `{"prio":1}`,
			status: 400, code: "invalid", field: "prio", message: "unknown field", calls: []string{}},
		{name: "field in another case", method: "POST", target: "/v1/jobs/hello/runs", token: submit, body: `{"Priority":1}`,
			status: 400, code: "invalid", field: "Priority", message: "unknown field", calls: []string{}},
		{name: "trailing data", method: "POST", target: "/v1/jobs/hello/runs", token: submit, body: "{}\n{}",
			status: 400, code: "invalid", message: "unexpected data after the JSON object", calls: []string{}},
		{name: "not an object", method: "POST", target: "/v1/jobs/hello/runs", token: submit, body: `[1]`,
			status: 400, code: "invalid", message: "expected object, got array", calls: []string{}},
		{name: "malformed", method: "POST", target: "/v1/jobs/hello/runs", token: submit, body: "{\n\"priority\": }",
			status: 400, code: "invalid", message: "malformed JSON", calls: []string{}},
		{name: "truncated", method: "POST", target: "/v1/jobs/hello/runs", token: submit, body: `{"payload":{`,
			status: 400, code: "invalid", message: "unexpected end", calls: []string{}},
		{name: "bad delay", method: "POST", target: "/v1/jobs/hello/runs", token: submit, body: `{"delay":"soon"}`,
			status: 400, code: "invalid", field: "delay", message: `invalid duration "soon"`, calls: []string{}},
		{name: "delay as number", method: "POST", target: "/v1/jobs/hello/runs", token: submit, body: `{"delay":60}`,
			status: 400, code: "invalid", field: "delay", message: "expected string, got number", calls: []string{}},
		{name: "bad notBefore", method: "POST", target: "/v1/jobs/hello/runs", token: submit, body: `{"notBefore":"tomorrow"}`,
			status: 400, code: "invalid", field: "notBefore", message: "RFC 3339", calls: []string{}},
		{name: "idempotency keys differ", method: "POST", target: "/v1/jobs/hello/runs", token: submit,
			body: `{"idempotencyKey":"a"}`, header: []string{"Idempotency-Key", "b"}, status: 400, code: "invalid",
			field: "idempotencyKey", message: "differs from the Idempotency-Key header", calls: []string{}},
		{name: "idempotency header twice", method: "POST", target: "/v1/jobs/hello/runs", token: submit,
			header: []string{"Idempotency-Key", "a", "Idempotency-Key", "b"}, status: 400, code: "invalid",
			field: "Idempotency-Key", calls: []string{}},
		{name: "idempotency header not text", method: "POST", target: "/v1/jobs/hello/runs", token: submit,
			header: []string{"Idempotency-Key", "\x80"}, status: 400, code: "invalid", field: "Idempotency-Key", calls: []string{}},
		{name: "job payload too large", setup: func(f *fakeService) { f.jobPayload = 10 }, method: "POST",
			target: "/v1/jobs/hello/runs", token: submit, body: `{"payload":"01234567890123456789"}`, status: 413, code: "too_large"},
		{name: "cancel unknown field", method: "POST", target: "/v1/runs/run-1/cancel", token: submit, body: `{"why":"x"}`,
			status: 400, code: "invalid", field: "why", calls: []string{}},
		{name: "rerun wrong type", method: "POST", target: "/v1/runs/run-1/rerun", token: submit, body: `{"latest":"yes"}`,
			status: 400, code: "invalid", field: "latest", message: "expected boolean, got string", calls: []string{}},
		{name: "queue wrong type", method: "PUT", target: "/v1/queues/q", token: admin, body: `{"maxConcurrency":"3"}`,
			status: 400, code: "invalid", field: "maxConcurrency", message: "expected integer, got string", calls: []string{}},
		{name: "queue name in body", method: "PUT", target: "/v1/queues/q", token: admin, body: `{"name":"q"}`,
			status: 400, code: "invalid", field: "name", message: "unknown field", calls: []string{}},
		{name: "queue no body", method: "PUT", target: "/v1/queues/q", token: admin, status: 400, code: "invalid",
			message: "a JSON object is required", calls: []string{}},
		{name: "queue refused by service", method: "PUT", target: "/v1/queues/q", token: admin, body: `{"maxConcurrency":-1}`,
			status: 400, code: "invalid", field: "maxConcurrency"},
		{name: "token bad scope", method: "POST", target: "/v1/tokens", token: admin, body: `{"name":"x","scope":"root"}`,
			status: 400, code: "invalid", field: "scope", message: `got "root"`, calls: []string{}},
		{name: "token unknown field", method: "POST", target: "/v1/tokens", token: admin, body: `{"name":"x","scope":"read","ttl":3}`,
			status: 400, code: "invalid", field: "ttl", calls: []string{}},
		{name: "body on a bodiless route", method: "POST", target: "/v1/jobs/hello/trigger", token: submit, body: `{"now":true}`,
			status: 400, code: "invalid", field: "now", calls: []string{}},
		{name: "bad version", method: "GET", target: "/v1/jobs/hello?version=latest", token: read, status: 400,
			code: "invalid", field: "version", calls: []string{}},
		{name: "negative version", method: "GET", target: "/v1/jobs/hello?version=-1", token: read, status: 400,
			code: "invalid", field: "version", calls: []string{}},
		{name: "bad follow", method: "GET", target: "/v1/runs/run-1/logs?follow=maybe", token: read, status: 400,
			code: "invalid", field: "follow", calls: []string{}},
		{name: "unknown query parameter", method: "GET", target: "/v1/runs?status=failed", token: read, status: 400,
			code: "invalid", field: "status", message: "unknown query parameter", calls: []string{}},
		{name: "query on a route without", method: "GET", target: "/v1/jobs?x=1", token: read, status: 400,
			code: "invalid", field: "x", calls: []string{}},
		{name: "malformed query", method: "GET", target: "/v1/runs?job=%zz", token: read, status: 400, code: "invalid", calls: []string{}},
		{name: "bad state", method: "GET", target: "/v1/runs?state=queued,done", token: read, status: 400,
			code: "invalid", field: "state", message: `unknown state "done"`, calls: []string{}},
		{name: "limit too large", method: "GET", target: "/v1/runs?limit=501", token: read, status: 400,
			code: "invalid", field: "limit", calls: []string{}},
		{name: "limit zero", method: "GET", target: "/v1/runs?limit=0", token: read, status: 400,
			code: "invalid", field: "limit", calls: []string{}},
		{name: "job twice", method: "GET", target: "/v1/runs?job=a&job=b", token: read, status: 400,
			code: "invalid", field: "job", message: "given 2 times", calls: []string{}},
		{name: "search without pattern", method: "GET", target: "/v1/logs/search?family=web", token: read, status: 400,
			code: "invalid", field: "pattern", calls: []string{}},
		{name: "search bad since", method: "GET", target: "/v1/logs/search?pattern=x&since=yesterday", token: read, status: 400,
			code: "invalid", field: "since", message: "RFC 3339", calls: []string{}},
		{name: "search bad regexp", method: "GET", target: "/v1/logs/search?pattern=%28", token: read, status: 400,
			code: "invalid", field: "pattern", message: "missing closing )", calls: []string{}},
		{name: "search bad state", method: "GET", target: "/v1/logs/search?pattern=x&state=done", token: read, status: 400,
			code: "invalid", field: "state", calls: []string{}},
		{name: "logs of unknown run", method: "GET", target: "/v1/runs/nope/logs", token: read, status: 404, code: "not_found"},

		{name: "missing token", method: "GET", target: "/v1/jobs", status: 401, code: "unauthorized", calls: []string{}},
		{name: "bad token", method: "GET", target: "/v1/jobs", token: "guess", status: 401, code: "unauthorized",
			message: "unknown or revoked token", calls: []string{}},
		{name: "not bearer", method: "GET", target: "/v1/jobs", header: []string{"Authorization", "Basic YWRtaW46YWRtaW4="},
			status: 401, code: "unauthorized", calls: []string{}},
		{name: "empty bearer", method: "GET", target: "/v1/jobs", header: []string{"Authorization", "Bearer "},
			status: 401, code: "unauthorized", calls: []string{}},
		{name: "revoked token", setup: func(f *fakeService) {
			tk := f.tokens[read]
			tk.RevokedAt = &t0
			f.tokens[read] = tk
		}, method: "GET", target: "/v1/jobs", token: read, status: 401, code: "unauthorized", calls: []string{}},
		{name: "read token enqueues", method: "POST", target: "/v1/jobs/hello/runs", token: read, status: 403,
			code: "forbidden", message: "needs submit", calls: []string{}},
		{name: "read token cancels", method: "POST", target: "/v1/runs/run-1/cancel", token: read, status: 403,
			code: "forbidden", calls: []string{}},
		{name: "submit token registers", method: "PUT", target: "/v1/jobs/hello", token: submit, body: "x: 1",
			status: 403, code: "forbidden", calls: []string{}},
		{name: "submit token lists tokens", method: "GET", target: "/v1/tokens", token: submit, status: 403,
			code: "forbidden", calls: []string{}},
		{name: "submit token pauses", method: "POST", target: "/v1/queues/q/pause", token: submit, status: 403,
			code: "forbidden", calls: []string{}},

		{name: "no route", method: "GET", target: "/v2/jobs", token: read, status: 404, code: "not_found", message: "no such route"},
		{name: "wrong method", method: "DELETE", target: "/v1/jobs", token: read, status: 405, code: "method_not_allowed",
			message: "GET, HEAD"},
		{name: "unavailable", setup: func(f *fakeService) {
			f.fail = &hashike.Error{Code: hashike.EUnavailable, Message: "postgres: list jobs", Err: io.ErrClosedPipe}
		}, method: "GET", target: "/v1/jobs", token: read, status: 503, code: "unavailable", message: "database unavailable"},
		{name: "internal", setup: func(f *fakeService) { f.fail = io.ErrUnexpectedEOF }, method: "GET", target: "/v1/queues",
			token: read, status: 500, code: "internal", message: "internal server error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake()
			if tt.setup != nil {
				tt.setup(f)
			}
			f.calls = nil
			r := serve(t, NewHandler(f, Options{}), tt.method, tt.target, tt.token, tt.body, tt.header...)
			if r.status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.body)
			}
			e := apiError(t, r)
			if e.Code != tt.code {
				t.Errorf("code %q, want %q", e.Code, tt.code)
			}
			text := e.Message
			if tt.field != "" || len(e.Fields) > 0 {
				if len(e.Fields) == 0 {
					t.Fatalf("no fields: %+v", e)
				}
				if e.Fields[0].Path != tt.field {
					t.Errorf("field %q, want %q (%+v)", e.Fields[0].Path, tt.field, e.Fields)
				}
				text += " " + e.Fields[0].Message
			}
			if !strings.Contains(text, tt.message) {
				t.Errorf("message %q lacks %q", text, tt.message)
			}
			if tt.calls != nil && len(f.called()) != len(tt.calls) {
				t.Errorf("calls %q, want %q", f.called(), tt.calls)
			}
			switch tt.status {
			case 401:
				if got := r.header.Get("WWW-Authenticate"); !strings.HasPrefix(got, "Bearer") {
					t.Errorf("WWW-Authenticate %q", got)
				}
			case 405:
				if r.header.Get("Allow") == "" {
					t.Error("405 without Allow")
				}
			}
		})
	}
}

func TestMalformedJSONPosition(t *testing.T) {
	r := serve(t, NewHandler(newFake(), Options{}), "POST", "/v1/jobs/hello/runs", submit, "{\n  \"priority\": }")
	if e := apiError(t, r); e.Fields[0].Pos != "request:2:15" {
		t.Errorf("pos %q, want request:2:15", e.Fields[0].Pos)
	}
}

// countingReader counts what the handler read of a body.
type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

// TestPayloadTooLarge: a body over the limit is refused with 413, Enqueue is not called, and
// the handler reads at most the limit, whether or not the body's length was announced.
func TestPayloadTooLarge(t *testing.T) {
	f := newFake()
	h := NewHandler(f, Options{})
	limit := f.maxPayload + envelopeBytes
	big := `{"payload":"` + strings.Repeat("x", limit) + `"}`
	for _, announced := range []bool{true, false} {
		body := &countingReader{r: strings.NewReader(big)}
		req := httptest.NewRequest("POST", "/v1/jobs/hello/runs", body)
		req.Header.Set("Authorization", "Bearer "+submit)
		req.ContentLength = -1
		if announced {
			req.ContentLength = int64(len(big))
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != 413 {
			t.Fatalf("announced=%t: status %d: %s", announced, rec.Code, rec.Body)
		}
		if e := apiError(t, response{rec.Code, rec.Header(), rec.Body.String()}); e.Code != "too_large" {
			t.Errorf("code %q", e.Code)
		}
		if body.n > limit+1 {
			t.Errorf("announced=%t: read %d bytes of a body over the limit %d", announced, body.n, limit)
		}
		if announced && body.n != 0 {
			t.Errorf("read %d bytes of a body whose Content-Length was over the limit", body.n)
		}
	}
	if calls := f.called(); len(calls) != 0 {
		t.Errorf("service called: %q", calls)
	}
	// Just under the limit is read and passed on.
	ok := `{"payload":"` + strings.Repeat("x", f.maxPayload) + `"}`
	if r := serve(t, h, "POST", "/v1/jobs/hello/runs", submit, ok); r.status != 201 {
		t.Errorf("payload at the limit: %d %s", r.status, r.body)
	}
}

func TestIdempotencyKey(t *testing.T) {
	f := newFake()
	h := NewHandler(f, Options{})
	first := serve(t, h, "POST", "/v1/jobs/hello/runs", submit, "", "Idempotency-Key", "order-7")
	again := serve(t, h, "POST", "/v1/jobs/hello/runs", submit, `{"idempotencyKey":"order-7"}`)
	both := serve(t, h, "POST", "/v1/jobs/hello/runs", submit, `{"idempotencyKey":"order-7"}`, "Idempotency-Key", "order-7")
	if first.status != 201 || again.status != 200 || both.status != 200 {
		t.Fatalf("statuses %d %d %d, want 201 200 200", first.status, again.status, both.status)
	}
	for _, r := range []response{first, again, both} {
		if !strings.Contains(r.body, `"id":"run-1"`) {
			t.Errorf("body %s, want run-1", r.body)
		}
	}
	for i, req := range f.enqueues {
		if req.IdempotencyKey != "order-7" {
			t.Errorf("enqueue %d: key %q", i, req.IdempotencyKey)
		}
	}
}

// TestEnqueueRequestPassed: the decoded body reaches the service whole.
func TestEnqueueRequestPassed(t *testing.T) {
	f := newFake()
	h := NewHandler(f, Options{})
	r := serve(t, h, "POST", "/v1/jobs/hello/runs", submit,
		`{"payload":[1,"two"],"delay":"90s","notBefore":"2026-03-02T09:00:00+09:00","priority":-3,"queue":"q","idempotencyKey":"k","version":2}`)
	if r.status != 201 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	got := f.enqueues[0]
	p := -3
	want := api.EnqueueRequest{Payload: json.RawMessage(`[1,"two"]`), Delay: hashike.Duration(90e9), Priority: &p,
		Queue: "q", IdempotencyKey: "k", Version: 2}
	if nb := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC); got.NotBefore == nil || !got.NotBefore.Equal(nb) {
		t.Errorf("notBefore %v", got.NotBefore)
	}
	got.NotBefore = nil
	if !reflect.DeepEqual(got, want) {
		t.Errorf("request\n%+v, want\n%+v", got, want)
	}
}

func TestListRunsPaging(t *testing.T) {
	f := newFake()
	h := NewHandler(f, Options{})
	serve(t, h, "GET", "/v1/runs", read, "")
	serve(t, h, "GET", "/v1/runs?cursor=run-9&limit=500&state=failed&state=lost,failed&queue=q&root=run-1&job=hello", read, "")
	want := []hashike.RunFilter{
		{Limit: DefaultRunLimit},
		{States: []hashike.RunState{hashike.StateFailed, hashike.StateLost}, Job: "hello", Queue: "q", RootID: "run-1",
			Before: "run-9", Limit: 500},
	}
	if !reflect.DeepEqual(f.filters, want) {
		t.Errorf("filters\n%+v, want\n%+v", f.filters, want)
	}
}

func TestNoAuth(t *testing.T) {
	f := newFake()
	h := NewHandler(f, Options{NoAuth: true})
	if r := serve(t, h, "POST", "/v1/tokens", "", `{"name":"x","scope":"read"}`); r.status != 201 {
		t.Errorf("admin route without a token: %d %s", r.status, r.body)
	}
	if r := serve(t, h, "GET", "/v1/jobs", "garbage", ""); r.status != 200 {
		t.Errorf("with a token it does not know: %d %s", r.status, r.body)
	}
}

func TestRequestLog(t *testing.T) {
	var buf bytes.Buffer
	f := newFake()
	f.fail = io.ErrUnexpectedEOF
	h := NewHandler(f, Options{Logger: slog.New(slog.NewJSONHandler(&buf, nil))})
	serve(t, h, "GET", "/v1/jobs", read, "")
	var rec map[string]any
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
		t.Fatalf("%v: %s", err, buf.String())
	}
	for k, v := range map[string]any{"level": "ERROR", "msg": "request", "method": "GET", "path": "/v1/jobs",
		"status": 500.0, "token": "tok-read", "error": "unexpected EOF"} {
		if rec[k] != v {
			t.Errorf("%s = %v, want %v (%s)", k, rec[k], v, buf.String())
		}
	}
}

// TestEnqueueBodyNames keeps the wire type's names those of api.EnqueueRequest.
func TestEnqueueBodyNames(t *testing.T) {
	got := jsonNames(reflect.TypeFor[enqueueBody]())
	want := jsonNames(reflect.TypeFor[api.EnqueueRequest]())
	if !reflect.DeepEqual(got, want) {
		t.Errorf("enqueueBody's names %v, EnqueueRequest's %v", got, want)
	}
}

// TestUnavailableHidesTheCause: a 503's body says which dependency is down and nothing of
// how to reach it (a database's user, name, host and port are in its connect errors), to a
// client with a valid token or with none the server could check.
func TestUnavailableHidesTheCause(t *testing.T) {
	cause := errors.New("failed to connect to `user=hashike database=jobs_prod`: 10.1.2.3:6432 (db.internal): dial error: connection refused")
	for _, tc := range []struct {
		name, want string
		err        *hashike.Error
	}{
		{"postgres", "database unavailable", &hashike.Error{Code: hashike.EUnavailable, Message: "postgres: list jobs", Err: cause}},
		{"sqlite", "database unavailable", &hashike.Error{Code: hashike.EUnavailable, Message: "sqlite: list jobs: database is locked by another process", Err: cause}},
		{"engine", "cannot reach the Docker Engine", &hashike.Error{Code: hashike.EUnavailable, Message: "cannot reach the Docker Engine", Err: cause}},
	} {
		for _, token := range []string{read, "unknown-secret"} {
			t.Run(tc.name+"/"+token, func(t *testing.T) {
				f := newFake()
				f.fail = tc.err
				h := NewHandler(f, Options{})
				if token != read {
					// The token is checked against the database, which is down.
					f.tokens = nil
					h = NewHandler(&unavailableAuth{f, tc.err}, Options{})
				}
				req := httptest.NewRequest("GET", "/v1/jobs", nil)
				req.Header.Set("Authorization", "Bearer "+token)
				w := httptest.NewRecorder()
				h.ServeHTTP(w, req)
				body := w.Body.String()
				if w.Code != http.StatusServiceUnavailable || !strings.Contains(body, tc.want) {
					t.Errorf("status %d body %s, want 503 saying %q", w.Code, body, tc.want)
				}
				for _, secret := range []string{"hashike", "jobs_prod", "10.1.2.3", "6432", "db.internal", "connection refused"} {
					if strings.Contains(body, secret) {
						t.Errorf("the body shows %q: %s", secret, body)
					}
				}
			})
		}
	}
}

// unavailableAuth is a service whose token checks fail with err.
type unavailableAuth struct {
	*fakeService
	err error
}

func (u *unavailableAuth) Authenticate(context.Context, string) (hashike.Token, error) {
	return hashike.Token{}, u.err
}
