// Package apitest checks HTTP exchanges with hashike's API against its OpenAPI document
// (httpapi/openapi.json), with kin-openapi's validator: a Handler wraps the API's handler in
// handler tests, and a Proxy sits between a client (the CLI) and a server binary in
// end-to-end tests, so that every request and response those tests make is checked, not
// only the routes a schema test lists.
//
// What is checked, as a client generated from the document would see it:
//   - every response: its status is documented for the route, and a JSON body (application/json
//     or problem+json) matches the schema the document gives for that status;
//   - every request the server accepted (2xx): it is valid by the document (path, query,
//     headers, body). A request the document forbids may be sent on purpose by a test of bad
//     input; the server must then refuse it (4xx), and that is all that is required.
//
// A route the document does not have is an error unless the server refused it (404, 405). A
// body sent without a Content-Type is checked as what the server reads it as (JSON; YAML for a
// body that is not JSON where the route takes YAML). Bodies of streams (application/x-ndjson)
// pass through unread. It is for tests only.
package apitest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
)

// maxBody bounds what a check reads of a request or response body.
const maxBody = 8 << 20

// Document is a loaded OpenAPI document; load it once and check many tests with it.
type Document struct {
	router routers.Router
}

// Load parses and validates an OpenAPI document (httpapi.OpenAPIDocument(); this package
// does not import httpapi, so httpapi's own tests can use it).
func Load(data []byte) (*Document, error) {
	doc, err := openapi3.NewLoader().LoadFromData(data)
	if err != nil {
		return nil, fmt.Errorf("load the OpenAPI document: %w", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("not a valid OpenAPI document: %w", err)
	}
	doc.Servers = nil // match any host: the test servers listen on random ports
	router, err := legacy.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("route the OpenAPI document: %w", err)
	}
	return &Document{router: router}, nil
}

// loaded caches Load's answer per document, so that many tests share one.
var loaded sync.Map // string(document) -> *Document

// ProxyFor is Load(document) (once per document) and a Validator's Proxy in front of the
// server at target: the URL to give the client.
func ProxyFor(t testing.TB, document []byte, target string) string {
	t.Helper()
	d, ok := loaded.Load(string(document))
	if !ok {
		doc, err := Load(document)
		if err != nil {
			t.Fatalf("apitest: %v", err)
		}
		d, _ = loaded.LoadOrStore(string(document), doc)
	}
	return d.(*Document).For(t).Proxy(target)
}

// For returns a Validator that reports to t.
func (d *Document) For(t testing.TB) *Validator { return &Validator{t: t, router: d.router} }

// Validator checks exchanges against the document. Its methods are safe for concurrent use.
type Validator struct {
	t      testing.TB
	router routers.Router

	mu      sync.Mutex
	checked int
}

// Checked is how many exchanges were checked (a test can assert its checks ran).
func (v *Validator) Checked() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.checked
}

// Handler returns h with every exchange checked.
func (v *Validator) Handler(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var reqBody []byte
		if r.Body != nil {
			reqBody, _ = io.ReadAll(io.LimitReader(r.Body, maxBody))
			r.Body.Close()
			r.Body = io.NopCloser(bytes.NewReader(reqBody))
		}
		rec := &tee{ResponseWriter: w, status: http.StatusOK}
		h.ServeHTTP(rec, r)
		v.check(r, reqBody, rec)
	})
}

// Proxy starts a checking reverse proxy in front of the server at target (a base URL) and
// returns its URL; it stops with the test.
func (v *Validator) Proxy(target string) string {
	u, err := url.Parse(target)
	if err != nil {
		v.t.Fatalf("apitest: proxy target %q: %v", target, err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.FlushInterval = -1 // streams (logs --follow) go through as they come
	rp.ErrorHandler = func(w http.ResponseWriter, r *http.Request, err error) {
		// The server did not answer (killed, shutting down): the 502 is the proxy's, not
		// the API's, and is not checked against the document.
		if t, ok := w.(*tee); ok {
			t.unanswered = true
		}
		w.WriteHeader(http.StatusBadGateway)
	}
	srv := httptest.NewServer(v.Handler(rp))
	v.t.Cleanup(srv.Close)
	return srv.URL
}

// tee passes a response through and keeps what a check needs of it.
type tee struct {
	http.ResponseWriter
	status int
	wrote  bool
	body   bytes.Buffer
	// unanswered: the proxied server gave no answer (Proxy's ErrorHandler).
	unanswered bool
}

func (t *tee) WriteHeader(code int) {
	if !t.wrote {
		t.status, t.wrote = code, true
	}
	t.ResponseWriter.WriteHeader(code)
}

func (t *tee) Write(p []byte) (int, error) {
	t.wrote = true
	if t.body.Len() < maxBody {
		t.body.Write(p[:min(len(p), maxBody-t.body.Len())])
	}
	return t.ResponseWriter.Write(p)
}

func (t *tee) Flush() {
	if f, ok := t.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (t *tee) Unwrap() http.ResponseWriter { return t.ResponseWriter }

func jsonType(ct string) bool {
	mt, _, _ := strings.Cut(ct, ";")
	mt = strings.TrimSpace(mt)
	return mt == "application/json" || strings.HasSuffix(mt, "+json")
}

func (v *Validator) check(r *http.Request, reqBody []byte, res *tee) {
	if res.unanswered || strings.HasPrefix(r.URL.Path, "/ui/") {
		return // no answer to check, or the web console's HTML (not the JSON API)
	}
	v.mu.Lock()
	v.checked++
	v.mu.Unlock()
	what := fmt.Sprintf("%s %s -> %d", r.Method, r.URL.RequestURI(), res.status)
	// The router matches on the URL as a client sent it.
	req := r.Clone(context.Background())
	req.Body = io.NopCloser(bytes.NewReader(reqBody))
	if req.URL.Host == "" {
		req.URL.Host = r.Host
	}
	if req.URL.Scheme == "" {
		req.URL.Scheme = "http"
	}
	route, params, err := v.router.FindRoute(req)
	if err != nil {
		if res.status == http.StatusNotFound || res.status == http.StatusMethodNotAllowed {
			return // refused: a path or method the API does not have
		}
		v.t.Errorf("apitest: %s: the route is not in openapi.json: %v", what, err)
		return
	}
	if req.Header.Get("Content-Type") == "" && len(reqBody) > 0 {
		// The server reads a body without a Content-Type as JSON, or as YAML where it takes
		// YAML (a job file): check it as what the server read it as.
		ct := "application/json"
		if b := bytes.TrimSpace(reqBody); len(b) > 0 && b[0] != '{' && b[0] != '[' && b[0] != '"' {
			ct = "application/yaml"
		}
		req.Header.Set("Content-Type", ct)
	}
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, MultiError: true}}
	if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil && res.status < 400 {
		v.t.Errorf("apitest: %s: the server accepted a request openapi.json forbids:\n%v\nbody: %s", what, err, clip(reqBody))
	}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: res.status, Header: res.Header(),
		Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true}}
	ct := res.Header().Get("Content-Type")
	if jsonType(ct) {
		out.SetBodyBytes(res.body.Bytes())
	} else {
		out.Options.ExcludeResponseBody = true
		out.SetBodyBytes(nil)
	}
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		v.t.Errorf("apitest: %s: the response does not match openapi.json:\n%v\nbody: %s", what, err, clip(res.body.Bytes()))
	}
}

func clip(b []byte) string {
	if len(b) > 2000 {
		return string(b[:2000]) + "..."
	}
	return string(b)
}
