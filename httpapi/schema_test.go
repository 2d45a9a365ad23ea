package httpapi

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/api"
	"github.com/hashike/hashike/github"
	"github.com/hashike/hashike/internal/fakebackend"
)

// The JSON Schema keywords checkSchema reads; TestSchemaKeywords fails on any other in the
// document, so that the checker never passes a response by ignoring what the document says.
var schemaKeywords = []string{"$ref", "allOf", "anyOf", "oneOf", "type", "enum", "const", "properties", "required",
	"items", "additionalProperties", "minimum", "maximum", "maxLength", "format", "contentEncoding", "description"}

// checkSchema checks v (decoded JSON: map[string]any, []any, string, float64, bool, nil)
// against schema, a subset of JSON Schema 2020-12 (schemaKeywords), and returns every
// mismatch with its JSON path.
func checkSchema(doc map[string]any, schema any, v any, path string) []string {
	s, ok := schema.(map[string]any)
	if !ok {
		return nil // true, or an empty schema: anything
	}
	var errs []string
	fail := func(format string, args ...any) { errs = append(errs, path+": "+fmt.Sprintf(format, args...)) }
	if ref, ok := s["$ref"].(string); ok {
		target, err := lookupRef(doc, ref)
		if err != nil {
			return []string{path + ": " + err.Error()}
		}
		errs = append(errs, checkSchema(doc, target, v, path)...)
	}
	for _, sub := range asList(s["allOf"]) {
		errs = append(errs, checkSchema(doc, sub, v, path)...)
	}
	for _, kw := range []string{"anyOf", "oneOf"} {
		if subs := asList(s[kw]); subs != nil {
			n := 0
			for _, sub := range subs {
				if len(checkSchema(doc, sub, v, path)) == 0 {
					n++
				}
			}
			if n == 0 || kw == "oneOf" && n > 1 {
				fail("%s: %d of %d schemas match", kw, n, len(subs))
			}
		}
	}
	if t, ok := s["type"]; ok {
		types := asList(t)
		if types == nil {
			types = []any{t}
		}
		if !slices.ContainsFunc(types, func(t any) bool { return hasType(v, t.(string)) }) {
			fail("%s is not of type %v", brief(v), t)
		}
	}
	if enum := asList(s["enum"]); enum != nil && !slices.ContainsFunc(enum, func(e any) bool { return jsonEqual(e, v) }) {
		fail("%s is not one of %v", brief(v), enum)
	}
	if c, ok := s["const"]; ok && !jsonEqual(c, v) {
		fail("%s is not %v", brief(v), c)
	}
	switch v := v.(type) {
	case map[string]any:
		props, _ := s["properties"].(map[string]any)
		for _, r := range asList(s["required"]) {
			if _, ok := v[r.(string)]; !ok {
				fail("lacks required %q", r)
			}
		}
		for k, e := range v {
			if p, ok := props[k]; ok {
				errs = append(errs, checkSchema(doc, p, e, path+"."+k)...)
			} else if ap, ok := s["additionalProperties"]; ok {
				if ap == false {
					fail("has %q, which the schema does not allow", k)
				} else {
					errs = append(errs, checkSchema(doc, ap, e, path+"."+k)...)
				}
			}
		}
	case []any:
		if items, ok := s["items"]; ok {
			for i, e := range v {
				errs = append(errs, checkSchema(doc, items, e, fmt.Sprintf("%s[%d]", path, i))...)
			}
		}
	case float64:
		if m, ok := s["minimum"].(float64); ok && v < m {
			fail("%v is below the minimum %v", v, m)
		}
		if m, ok := s["maximum"].(float64); ok && v > m {
			fail("%v is above the maximum %v", v, m)
		}
	case string:
		if m, ok := s["maxLength"].(float64); ok && float64(utf8.RuneCountInString(v)) > m {
			fail("%q is longer than %v", v, m)
		}
		if s["format"] == "date-time" {
			if _, err := time.Parse(time.RFC3339Nano, v); err != nil {
				fail("%q is not a date-time", v)
			}
		}
		if s["contentEncoding"] == "base64" {
			if _, err := base64.StdEncoding.DecodeString(v); err != nil {
				fail("%q is not base64", v)
			}
		}
	}
	return errs
}

// undocumented returns the members of v's objects that the schema does not name, where it
// names members (an object schema with properties and no additionalProperties): a field the
// server sends that the document does not describe is one a generated client drops.
func undocumented(doc map[string]any, schema any, v any, path string) []string {
	props, items, open := shape(doc, schema)
	var errs []string
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			p, ok := props[k]
			if !ok {
				if !open {
					errs = append(errs, fmt.Sprintf("%s: has %q, which the document does not describe", path, k))
				}
				continue
			}
			errs = append(errs, undocumented(doc, p, e, path+"."+k)...)
		}
	case []any:
		for i, e := range v {
			errs = append(errs, undocumented(doc, items, e, fmt.Sprintf("%s[%d]", path, i))...)
		}
	}
	return errs
}

// shape gathers a schema's properties and items through $ref and allOf; open says whether it
// allows members it does not name.
func shape(doc map[string]any, schema any) (props map[string]any, items any, open bool) {
	props = map[string]any{}
	named := false
	open = false
	var walk func(s any)
	walk = func(s any) {
		m, ok := s.(map[string]any)
		if !ok {
			open = true
			return
		}
		if ref, ok := m["$ref"].(string); ok {
			if target, err := lookupRef(doc, ref); err == nil {
				walk(target)
			}
		}
		for _, sub := range asList(m["allOf"]) {
			walk(sub)
		}
		if m["anyOf"] != nil || m["oneOf"] != nil {
			open = true
		}
		if p, ok := m["properties"].(map[string]any); ok {
			named = true
			for k, v := range p {
				if _, seen := props[k]; !seen {
					props[k] = v
				}
			}
		}
		if ap, ok := m["additionalProperties"]; ok && ap != false {
			open = true
		}
		if it, ok := m["items"]; ok {
			items = it
		}
	}
	walk(schema)
	if !named {
		open = true
	}
	return props, items, open
}

func lookupRef(doc map[string]any, ref string) (any, error) {
	var cur any = doc
	for _, part := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("$ref %s does not resolve", ref)
		}
		if cur, ok = m[part]; !ok {
			return nil, fmt.Errorf("$ref %s does not resolve", ref)
		}
	}
	return cur, nil
}

func asList(v any) []any {
	l, _ := v.([]any)
	return l
}

func hasType(v any, t string) bool {
	switch t {
	case "object":
		_, ok := v.(map[string]any)
		return ok
	case "array":
		_, ok := v.([]any)
		return ok
	case "string":
		_, ok := v.(string)
		return ok
	case "number":
		_, ok := v.(float64)
		return ok
	case "integer":
		f, ok := v.(float64)
		return ok && f == math.Trunc(f)
	case "boolean":
		_, ok := v.(bool)
		return ok
	case "null":
		return v == nil
	}
	return false
}

func jsonEqual(a, b any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

func brief(v any) string {
	b, _ := json.Marshal(v)
	if len(b) > 60 {
		return string(b[:60]) + "..."
	}
	return string(b)
}

// servedDoc is the document GET /v1/openapi.json serves.
func servedDoc(t *testing.T, a *realAPI) map[string]any {
	t.Helper()
	var doc map[string]any
	a.must(200, &doc, "GET", "/v1/openapi.json", "")
	return doc
}

// TestSchemaKeywords: the document's schemas use no keyword checkSchema ignores.
func TestSchemaKeywords(t *testing.T) {
	var doc map[string]any
	if err := json.Unmarshal(openAPI, &doc); err != nil {
		t.Fatal(err)
	}
	var walk func(path string, s any)
	walk = func(path string, s any) {
		m, ok := s.(map[string]any)
		if !ok {
			return
		}
		for k, v := range m {
			if !slices.Contains(schemaKeywords, k) {
				t.Errorf("%s: keyword %q is not checked by checkSchema", path, k)
			}
			switch k {
			case "properties":
				for name, p := range v.(map[string]any) {
					walk(path+".properties."+name, p)
				}
			case "items", "additionalProperties":
				walk(path+"."+k, v)
			case "allOf", "anyOf", "oneOf":
				for i, sub := range asList(v) {
					walk(fmt.Sprintf("%s.%s[%d]", path, k, i), sub)
				}
			}
		}
	}
	for name, s := range doc["components"].(map[string]any)["schemas"].(map[string]any) {
		walk(name, s)
	}
}

// TestCheckSchema: the checker refuses what it should (else a passing response check means
// nothing).
func TestCheckSchema(t *testing.T) {
	doc := map[string]any{"components": map[string]any{"schemas": map[string]any{
		"S": map[string]any{"type": "object", "required": []any{"a"}, "properties": map[string]any{
			"a": map[string]any{"type": "integer"}, "b": map[string]any{"type": "string", "contentEncoding": "base64"},
			"c": map[string]any{"enum": []any{"x"}}, "d": map[string]any{"type": "string", "format": "date-time"}},
			"additionalProperties": false},
	}}}
	ref := map[string]any{"$ref": "#/components/schemas/S"}
	for _, tt := range []struct {
		body string
		ok   bool
	}{
		{`{"a":1,"b":"aGk=","c":"x","d":"2026-01-02T03:04:05Z"}`, true},
		{`{}`, false}, {`{"a":1.5}`, false}, {`{"a":1,"b":{"raw":1}}`, false}, {`{"a":1,"b":"!"}`, false},
		{`{"a":1,"c":"y"}`, false}, {`{"a":1,"d":"yesterday"}`, false}, {`{"a":1,"e":1}`, false}, {`[]`, false},
	} {
		var v any
		if err := json.Unmarshal([]byte(tt.body), &v); err != nil {
			t.Fatal(err)
		}
		if errs := checkSchema(doc, ref, v, "$"); (len(errs) == 0) != tt.ok {
			t.Errorf("%s: errors %q, want ok=%t", tt.body, errs, tt.ok)
		}
	}
}

// TestResponsesMatchOpenAPI sends requests to every route of a real server (SQLite, a fake
// backend), good ones and refused ones, and checks each response against the schema that
// the served document gives for its route, status and content type. A generated client reads
// responses by that document, so every field must be as it says (payload is any JSON value).
func TestResponsesMatchOpenAPI(t *testing.T) {
	a := newRealAPI(t, func(req hashike.StartRequest) fakebackend.Behavior {
		return fakebackend.Behavior{Output: "hello\n"}
	})
	doc := servedDoc(t, a)
	checked := map[string]bool{} // "METHOD /pattern"
	check := func(method, target, body string, want int, header ...string) response {
		t.Helper()
		r := a.do(method, target, body, header...)
		if r.status != want {
			t.Fatalf("%s %s: status %d, want %d: %s", method, target, r.status, want, r.body)
		}
		pattern := routeOf(t, method, target)
		_, path, _ := strings.Cut(pattern, " ")
		op, _ := doc["paths"].(map[string]any)[path].(map[string]any)[strings.ToLower(method)].(map[string]any)
		if op == nil {
			t.Fatalf("%s: not in the document", pattern)
		}
		resp, ok := op["responses"].(map[string]any)[strconv.Itoa(r.status)]
		if !ok {
			t.Errorf("%s %s: status %d is not documented", method, target, r.status)
			return r
		}
		if ref, ok := resp.(map[string]any)["$ref"].(string); ok {
			var err error
			if resp, err = lookupRef(doc, ref); err != nil {
				t.Fatal(err)
			}
		}
		content, _ := resp.(map[string]any)["content"].(map[string]any)
		if content == nil {
			if r.body != "" {
				t.Errorf("%s %s: %d documented without a body, got %s", method, target, r.status, r.body)
			}
			checked[pattern] = true
			return r
		}
		ct, _, _ := strings.Cut(r.header.Get("Content-Type"), ";")
		media, ok := content[ct].(map[string]any)
		if !ok {
			t.Errorf("%s %s: Content-Type %q is not documented for %d", method, target, ct, r.status)
			return r
		}
		var values []string
		if ct == "application/x-ndjson" {
			sc := bufio.NewScanner(strings.NewReader(r.body))
			for sc.Scan() {
				values = append(values, sc.Text())
			}
		} else {
			values = []string{r.body}
		}
		for _, text := range values {
			var v any
			if err := json.Unmarshal([]byte(text), &v); err != nil {
				t.Errorf("%s %s: body is not JSON: %v", method, target, err)
				continue
			}
			for _, e := range append(checkSchema(doc, media["schema"], v, "$"), undocumented(doc, media["schema"], v, "$")...) {
				t.Errorf("%s %s (%d): %s", method, target, r.status, e)
			}
		}
		checked[pattern] = true
		return r
	}
	decode := func(r response, v any) {
		t.Helper()
		if err := json.Unmarshal([]byte(r.body), v); err != nil {
			t.Fatalf("%v: %s", err, r.body)
		}
	}

	check("GET", "/healthz", "", 200)
	check("GET", "/v1/openapi.json", "", 200)
	check("GET", "/v1/runners", "", 404)  // this server runs no runner pools
	check("GET", "/v1/capacity", "", 404) // nor autoscalers
	check("POST", "/v1/prune", `{"dryRun":true}`, 200)
	check("POST", "/v1/prune", "", 200)
	check("POST", "/v1/prune", `{"dryRun":1}`, 400)

	def := jobDoc("queue: reports\nschedule:\n  expressions: [{cron: '0 3 * * *'}]\nretryStrategy: {attempts: 2}\n")
	check("PUT", "/v1/jobs/hello", def, 201)
	check("PUT", "/v1/jobs/hello", def, 200)
	check("PUT", "/v1/jobs/bad", "taskDefinition: 5\n", 400)
	check("GET", "/v1/jobs", "", 200)
	check("GET", "/v1/jobs/hello", "", 200)
	check("GET", "/v1/jobs/hello?version=1", "", 200)
	check("GET", "/v1/jobs/nope", "", 404)
	check("GET", "/v1/jobs/hello/versions", "", 200)

	// A payload of each kind of JSON value.
	var ids []string
	for i, p := range []string{`{"date":"2026-03-01","ids":[1,2]}`, `"text"`, `42`, `[true,null]`} {
		r := check("POST", "/v1/jobs/hello/runs", fmt.Sprintf(`{"payload":%s,"idempotencyKey":"k%d"}`, p, i), 201)
		var run hashike.Run
		decode(r, &run)
		ids = append(ids, run.ID)
	}
	check("POST", "/v1/jobs/hello/runs", `{"payload":{"date":"2026-03-01","ids":[1,2]},"idempotencyKey":"k0"}`, 200)
	check("POST", "/v1/jobs/hello/runs", `{"payload":1,"idempotencyKey":"k0"}`, 409)
	check("POST", "/v1/jobs/hello/runs", `{"priority":"high"}`, 400)
	check("POST", "/v1/jobs/hello/runs", `{"payload":"`+strings.Repeat("x", 300<<10)+`"}`, 413)
	check("POST", "/v1/jobs/nope/runs", `{}`, 404)
	for _, id := range ids {
		a.waitRun(id, func(v api.RunView) bool { return v.State.Terminal() })
	}
	// A run measured while it ran (the fake backend measures nothing) shows its usage.
	sampled := time.Now()
	if _, err := a.store.UpdateRun(context.Background(), ids[0], hashike.RunUpdate{Usage: &hashike.ResourceUsage{
		Source: hashike.UsageSourceDocker, Samples: 3, PeakMemoryBytes: 64 << 20, CPUSeconds: 1.5,
		ThrottledSeconds: new(float64), FirstSampleAt: &sampled, LastSampleAt: &sampled}}); err != nil {
		t.Fatal(err)
	}
	var measured api.RunView
	decode(check("GET", "/v1/runs/"+ids[0], "", 200), &measured)
	if u := measured.Usage; u == nil || u.PeakMemoryBytes != 64<<20 || u.CPUSeconds != 1.5 || u.Source != "docker" {
		t.Errorf("the run view shows usage %+v, want what was recorded", u)
	}
	check("GET", "/v1/runs", "", 200)
	check("GET", "/v1/runs?job=hello&limit=2", "", 200)
	check("GET", "/v1/runs?limit=0", "", 400)
	for _, id := range ids {
		check("GET", "/v1/runs/"+id, "", 200)
	}
	check("GET", "/v1/runs/nope", "", 404)
	check("GET", "/v1/runs/"+ids[0]+"/logs", "", 200)
	check("GET", "/v1/runs/nope/logs", "", 404)
	check("GET", "/v1/runs/"+ids[0]+"/result", "", 404) // this server keeps no results
	check("GET", "/v1/logs/search?pattern=timed+out&family=web&state=failed&since=2026-12-06T00:00:00Z", "", 200)
	check("GET", "/v1/logs/search?family=web", "", 400)
	check("POST", "/v1/runs/"+ids[0]+"/cancel", `{"reason":"late"}`, 409)
	check("POST", "/v1/runs/"+ids[0]+"/rerun", `{"payload":{"again":true}}`, 201)
	check("POST", "/v1/runs/nope/rerun", ``, 404)

	check("PUT", "/v1/queues/reports", `{"maxConcurrency":2}`, 200)
	check("PUT", "/v1/queues/reports", `{"maxConcurrency":-1}`, 400)
	check("GET", "/v1/queues", "", 200)
	check("POST", "/v1/queues/reports/pause", "", 200)
	check("POST", "/v1/queues/reports/resume", "", 200)
	check("POST", "/v1/queues/reprots/pause", "", 404)
	check("POST", "/v1/jobs/hello/runs", `{"queue":"reprots"}`, 404)
	check("POST", "/v1/jobs/hello/runs", `1`, 400)
	check("GET", "/v1/runs?cursor=garbage", "", 400)

	check("GET", "/v1/schedules", "", 200)
	check("GET", "/v1/jobs/hello/schedule", "", 200)
	check("POST", "/v1/jobs/hello/schedule/suspend", "", 200)
	check("POST", "/v1/jobs/hello/schedule/resume", "", 200)
	check("POST", "/v1/jobs/hello/trigger", "", 201)
	check("POST", "/v1/jobs/nope/trigger", "", 404)

	r := check("POST", "/v1/tokens", `{"name":"ci","scope":"submit"}`, 201)
	var tok struct{ ID, Secret string }
	decode(r, &tok)
	// The same server behind authentication: refusals for the token.
	noAuth := a.h
	a.h = NewHandler(a.srv, Options{})
	check("GET", "/v1/jobs", "", 401)
	check("GET", "/v1/jobs", "", 401, "Authorization", "Bearer nope")
	check("GET", "/v1/tokens", "", 403, "Authorization", "Bearer "+tok.Secret)
	check("GET", "/v1/jobs", "", 200, "Authorization", "Bearer "+tok.Secret)
	a.h = noAuth
	check("POST", "/v1/tokens", `{"name":"ci","scope":"root"}`, 400)
	check("GET", "/v1/tokens", "", 200)
	check("DELETE", "/v1/tokens/"+tok.ID, "", 204)

	sig := github.SignWebhook([]byte(hookSecret), []byte(hookQueued))
	hook := func(id string) []string {
		return []string{"X-GitHub-Event", "workflow_job", "X-GitHub-Delivery", id, "X-Hub-Signature-256", sig}
	}
	check("POST", "/v1/github/webhook", hookQueued, 202, hook("d-1")...)
	check("POST", "/v1/github/webhook", hookQueued, 200, hook("d-1")...)
	check("POST", "/v1/github/webhook", hookQueued+" ", 401, hook("d-2")...)
	check("POST", "/v1/github/webhook", `{"action":"queued"}`, 400, "X-GitHub-Event", "workflow_job",
		"X-GitHub-Delivery", "d-3", "X-Hub-Signature-256", github.SignWebhook([]byte(hookSecret), []byte(`{"action":"queued"}`)))

	for _, rt := range routes {
		if key := rt.method + " " + rt.path; !checked[key] {
			t.Errorf("%s: no response checked", key)
		}
	}
}
