package httpapi

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/hashike/hashike"
)

// TestOpenAPI keeps openapi.json and routes equal: the same paths and methods, the same
// query parameters, and the scope each needs (x-hashike-scope; none for a route without
// auth); and checks that the document is OpenAPI 3.1 whose every $ref resolves.
func TestOpenAPI(t *testing.T) {
	var doc map[string]any
	if err := json.Unmarshal(openAPI, &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	for _, k := range []string{"openapi", "info", "paths", "components"} {
		if doc[k] == nil {
			t.Errorf("no %q", k)
		}
	}
	if v, _ := doc["openapi"].(string); !strings.HasPrefix(v, "3.1.") {
		t.Errorf("openapi %q, want 3.1.x", v)
	}
	info, _ := doc["info"].(map[string]any)
	if info["title"] == nil || info["version"] == nil {
		t.Errorf("info lacks title or version: %v", info)
	}

	documented := map[string]map[string]any{} // "GET /v1/jobs" -> operation
	paths, _ := doc["paths"].(map[string]any)
	for path, item := range paths {
		for method, op := range item.(map[string]any) {
			if method == "parameters" {
				continue
			}
			documented[strings.ToUpper(method)+" "+path] = op.(map[string]any)
		}
	}
	served := map[string]bool{}
	for _, rt := range routes {
		key := rt.method + " " + rt.path
		served[key] = true
		op, ok := documented[key]
		if !ok {
			t.Errorf("%s is served but not in openapi.json", key)
			continue
		}
		scope, _ := op["x-hashike-scope"].(string)
		if hashike.Scope(scope) != rt.scope {
			t.Errorf("%s: x-hashike-scope %q, routes say %q", key, scope, rt.scope)
		}
		if sec, ok := op["security"].([]any); (rt.scope == "") != (ok && len(sec) == 0) {
			t.Errorf("%s: security %v for scope %q", key, op["security"], rt.scope)
		}
		var query []string
		params, _ := op["parameters"].([]any)
		for _, p := range params {
			p := resolve(t, doc, p)
			if p["in"] == "query" {
				query = append(query, p["name"].(string))
			}
		}
		if !sameSet(query, rt.query) {
			t.Errorf("%s: query parameters %v documented, %v served", key, query, rt.query)
		}
	}
	for key := range documented {
		if !served[key] {
			t.Errorf("%s is in openapi.json but not served", key)
		}
	}
	walkRefs(t, doc, doc)
}

// resolve follows a $ref.
func resolve(t *testing.T, doc map[string]any, v any) map[string]any {
	m, _ := v.(map[string]any)
	ref, ok := m["$ref"].(string)
	if !ok {
		return m
	}
	var cur any = doc
	for _, part := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
		c, _ := cur.(map[string]any)
		cur, ok = c[part]
		if !ok {
			t.Errorf("$ref %s does not resolve", ref)
			return nil
		}
	}
	return cur.(map[string]any)
}

func walkRefs(t *testing.T, doc map[string]any, v any) {
	switch v := v.(type) {
	case map[string]any:
		if _, ok := v["$ref"]; ok {
			resolve(t, doc, v)
		}
		for _, e := range v {
			walkRefs(t, doc, e)
		}
	case []any:
		for _, e := range v {
			walkRefs(t, doc, e)
		}
	}
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}
