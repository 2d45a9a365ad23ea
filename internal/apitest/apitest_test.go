package apitest

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

const doc = `{
  "openapi": "3.0.3",
  "info": {"title": "t", "version": "1"},
  "paths": {
    "/v1/things/{id}": {
      "put": {
        "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
        "requestBody": {"required": true, "content": {"application/json": {"schema": {
          "type": "object", "properties": {"n": {"type": "integer"}}, "additionalProperties": false}}}},
        "responses": {
          "200": {"description": "ok", "content": {"application/json": {"schema": {
            "type": "object", "required": ["id"], "properties": {"id": {"type": "string"}}}}}},
          "400": {"description": "bad", "content": {"application/json": {"schema": {"type": "object"}}}}
        }
      }
    }
  }
}`

// recorder is a testing.TB that keeps what is reported instead of failing.
type recorder struct {
	testing.TB
	mu   sync.Mutex
	errs []string
}

func (r *recorder) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}
func (r *recorder) Helper() {}

// TestValidatorReportsDrift: a response that does not match the document, a status it does
// not list, an accepted request it forbids and an unknown route are each reported; a
// conforming exchange and a refused bad request are not.
func TestValidatorReportsDrift(t *testing.T) {
	d, err := Load([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name         string
		method, path string
		body         string
		status       int
		answer       string
		says         string // "" : nothing reported
	}{
		{"conforming", "PUT", "/v1/things/a", `{"n":1}`, 200, `{"id":"a"}`, ""},
		{"refused bad request", "PUT", "/v1/things/a", `{"n":"x"}`, 400, `{}`, ""},
		{"response drift", "PUT", "/v1/things/a", `{"n":1}`, 200, `{"id":7}`, "does not match"},
		{"undocumented status", "PUT", "/v1/things/a", `{"n":1}`, 409, `{}`, "does not match"},
		{"accepted what is forbidden", "PUT", "/v1/things/a", `{"m":1}`, 200, `{"id":"a"}`, "accepted a request"},
		{"route not in the document", "GET", "/v1/other", ``, 200, `{}`, "not in openapi.json"},
		{"refused unknown route", "GET", "/v1/other", ``, 404, `{}`, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{TB: t}
			h := d.For(rec).Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.Copy(io.Discard, r.Body)
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(tc.status)
				io.WriteString(w, tc.answer)
			}))
			srv := httptest.NewServer(h)
			defer srv.Close()
			req, _ := http.NewRequest(tc.method, srv.URL+tc.path, strings.NewReader(tc.body))
			req.Header.Set("Content-Type", "application/json")
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			got := strings.Join(rec.errs, "\n")
			if tc.says == "" && got != "" || tc.says != "" && !strings.Contains(got, tc.says) {
				t.Errorf("reported %q; want %q", got, tc.says)
			}
		})
	}
}
