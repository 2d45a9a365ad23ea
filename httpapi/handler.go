package httpapi

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/api"
)

//go:embed openapi.json
var openAPI []byte

// OpenAPIDocument returns the OpenAPI document the server serves at /v1/openapi.json.
func OpenAPIDocument() []byte { return append([]byte(nil), openAPI...) }

// Options configure the handler.
type Options struct {
	// NoAuth serves every request as an admin without a token: a local development server
	// only.
	NoAuth bool
	// Logger gets one record per request (and the text of internal errors, which clients do
	// not see), each with the request's ID (request_id, see HeaderRequestID); nil logs
	// nothing.
	Logger *slog.Logger
	// Mount serves other handlers on the API's listener, by path prefix ("/ui/": the web
	// console). A prefix must not overlap the API's routes.
	Mount map[string]http.Handler
}

// route is one route of the API. routes is the only list of them: the mux is built from it
// and a test compares it with openapi.json.
type route struct {
	method string
	path   string
	// scope is what the route needs of a token; "" serves it without one.
	scope hashike.Scope
	// query lists the query parameters the route accepts; any other is refused.
	query []string
	serve func(h *handler, w http.ResponseWriter, r *http.Request, q url.Values) error
}

var routes = []route{
	{"GET", "/healthz", "", nil, (*handler).health},
	{"GET", "/v1/openapi.json", "", nil, (*handler).openAPI},

	{"GET", "/v1/jobs", hashike.ScopeRead, nil, (*handler).listJobs},
	{"PUT", "/v1/jobs/{name}", hashike.ScopeAdmin, nil, (*handler).putJob},
	{"GET", "/v1/jobs/{name}", hashike.ScopeRead, []string{"version"}, (*handler).getJob},
	{"GET", "/v1/jobs/{name}/versions", hashike.ScopeRead, nil, (*handler).listJobVersions},
	{"POST", "/v1/jobs/{name}/runs", hashike.ScopeSubmit, nil, (*handler).enqueue},

	{"GET", "/v1/runs", hashike.ScopeRead, runQueryParams, (*handler).listRuns},
	{"GET", "/v1/runs/{id}", hashike.ScopeRead, nil, (*handler).getRun},
	{"POST", "/v1/runs/{id}/cancel", hashike.ScopeSubmit, nil, (*handler).cancel},
	{"POST", "/v1/runs/{id}/rerun", hashike.ScopeSubmit, nil, (*handler).rerun},
	{"GET", "/v1/runs/{id}/logs", hashike.ScopeRead, []string{"follow"}, (*handler).logs},
	{"GET", "/v1/runs/{id}/result", hashike.ScopeRead, nil, (*handler).result},
	{"GET", "/v1/logs/search", hashike.ScopeRead, logSearchParams, (*handler).searchLogs},

	{"GET", "/v1/queues", hashike.ScopeRead, nil, (*handler).listQueues},
	{"PUT", "/v1/queues/{name}", hashike.ScopeAdmin, nil, (*handler).putQueue},
	{"POST", "/v1/queues/{name}/pause", hashike.ScopeAdmin, nil, (*handler).pauseQueue},
	{"POST", "/v1/queues/{name}/resume", hashike.ScopeAdmin, nil, (*handler).resumeQueue},

	{"GET", "/v1/schedules", hashike.ScopeRead, nil, (*handler).listSchedules},
	{"GET", "/v1/jobs/{name}/schedule", hashike.ScopeRead, nil, (*handler).getSchedule},
	{"POST", "/v1/jobs/{name}/schedule/suspend", hashike.ScopeAdmin, nil, (*handler).suspend},
	{"POST", "/v1/jobs/{name}/schedule/resume", hashike.ScopeAdmin, nil, (*handler).resume},
	{"POST", "/v1/jobs/{name}/trigger", hashike.ScopeSubmit, nil, (*handler).trigger},

	{"GET", "/v1/tokens", hashike.ScopeAdmin, nil, (*handler).listTokens},
	{"POST", "/v1/tokens", hashike.ScopeAdmin, nil, (*handler).createToken},
	{"DELETE", "/v1/tokens/{id}", hashike.ScopeAdmin, nil, (*handler).revokeToken},

	{"GET", "/v1/runners", hashike.ScopeRead, nil, (*handler).runners},
	{"GET", "/v1/capacity", hashike.ScopeRead, nil, (*handler).capacity},

	{"POST", "/v1/prune", hashike.ScopeAdmin, nil, (*handler).prune},

	// GitHub cannot send a bearer token: the delivery's signature authenticates it.
	{"POST", "/v1/github/webhook", "", nil, (*handler).githubWebhook},
}

type handler struct {
	svc    api.Service
	noAuth bool
	log    *slog.Logger
	mux    *http.ServeMux
}

// NewHandler returns the API's handler over svc.
func NewHandler(svc api.Service, opts Options) http.Handler {
	h := &handler{svc: svc, noAuth: opts.NoAuth, log: opts.Logger, mux: http.NewServeMux()}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	h.log = slog.New(LogRequestIDs(h.log.Handler()))
	for _, rt := range routes {
		h.mux.Handle(rt.method+" "+rt.path, h.wrap(rt))
	}
	for prefix, mh := range opts.Mount {
		h.mux.Handle(prefix, mh)
	}
	return h
}

// NewServer returns an http.Server for the API on addr, with timeouts that a slow or idle
// client cannot hold a connection open past (a log stream lifts the write timeout for
// itself), and http.Server's own errors logged to opts.Logger.
func NewServer(addr string, svc api.Service, opts Options) *http.Server {
	s := &http.Server{
		Addr:              addr,
		Handler:           NewHandler(svc, opts),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       time.Minute,
		WriteTimeout:      time.Minute,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
	}
	if opts.Logger != nil {
		s.ErrorLog = slog.NewLogLogger(opts.Logger.Handler(), slog.LevelWarn)
	}
	return s
}

// requestLog is what a request's record says beyond the request line, filled in as it goes.
type requestLog struct {
	token string
	err   error
}

type requestLogKey struct{}

// noteError records err for the request's log record.
func noteError(ctx context.Context, err error) {
	if rl, ok := ctx.Value(requestLogKey{}).(*requestLog); ok {
		rl.err = err
	}
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rl := &requestLog{}
	id := requestID(r)
	w.Header().Set(HeaderRequestID, id)
	ctx := context.WithValue(r.Context(), requestLogKey{}, rl)
	r = r.WithContext(context.WithValue(ctx, requestIDKey{}, id))
	sw := &statusWriter{ResponseWriter: w}
	w = sw

	if _, pattern := h.mux.Handler(r); pattern == "" {
		// No route: the mux answers 404, 405 or a redirect to the cleaned path, and the
		// first two get the API's error body instead of its text.
		w = &muxErrorWriter{ResponseWriter: w}
	}
	h.mux.ServeHTTP(w, r)

	attrs := []slog.Attr{
		slog.String("method", r.Method),
		slog.String("path", r.URL.Path),
		slog.Int("status", sw.status()),
		slog.Int64("bytes", sw.bytes),
		slog.Duration("duration", time.Since(start)),
		slog.String("remote", r.RemoteAddr),
	}
	if rl.token != "" {
		attrs = append(attrs, slog.String("token", rl.token))
	}
	level := slog.LevelInfo
	if r.URL.Path == "/healthz" {
		level = slog.LevelDebug // a load balancer's probes would drown the rest
	}
	if rl.err != nil {
		attrs = append(attrs, slog.String("error", rl.err.Error()))
		if statusOf(rl.err) >= 500 && r.Context().Err() == nil { // not a client that hung up
			level = slog.LevelError
		}
	}
	h.log.LogAttrs(r.Context(), level, "request", attrs...)
}

// wrap serves a route: authorization, the query's names, then the route's own handler; an
// error it returns becomes the error response.
func (h *handler) wrap(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := h.authorize(r, rt.scope)
		var q url.Values
		if err == nil {
			q, err = parseQuery(r.URL.RawQuery, rt.query)
		}
		if err == nil {
			err = rt.serve(h, w, r, q)
		}
		if err != nil {
			h.writeError(w, r, err)
		}
	})
}

// authorize checks the request's bearer token against need.
func (h *handler) authorize(r *http.Request, need hashike.Scope) error {
	if need == "" {
		return nil
	}
	if h.noAuth {
		setToken(r.Context(), "noauth")
		return nil
	}
	auth := r.Header.Get("Authorization")
	if auth == "" {
		return &AuthError{Status: http.StatusUnauthorized, Message: "an Authorization: Bearer <token> header is required"}
	}
	scheme, secret, ok := strings.Cut(auth, " ")
	secret = strings.TrimSpace(secret)
	if !ok || !strings.EqualFold(scheme, "Bearer") || secret == "" {
		return &AuthError{Status: http.StatusUnauthorized, Message: "the Authorization header must be \"Bearer <token>\""}
	}
	tok, err := h.svc.Authenticate(r.Context(), secret)
	if hashike.ErrorCodeOf(err) == hashike.ENotFound {
		return &AuthError{Status: http.StatusUnauthorized, Message: "unknown or revoked token"}
	}
	if err != nil {
		return err
	}
	setToken(r.Context(), tok.ID)
	if !tok.Scope.Allows(need) {
		return &AuthError{Status: http.StatusForbidden,
			Message: "token " + tok.ID + " has scope " + string(tok.Scope) + "; this needs " + string(need)}
	}
	return nil
}

func setToken(ctx context.Context, id string) {
	if rl, ok := ctx.Value(requestLogKey{}).(*requestLog); ok {
		rl.token = id
	}
}

func (h *handler) writeError(w http.ResponseWriter, r *http.Request, err error) {
	noteError(r.Context(), err)
	status := statusOf(err)
	switch status {
	case http.StatusUnauthorized:
		w.Header().Set("WWW-Authenticate", `Bearer realm="hashike"`)
	case http.StatusForbidden:
		w.Header().Set("WWW-Authenticate", `Bearer realm="hashike", error="insufficient_scope"`)
	}
	if err := reply(w, status, errorBody{Error: toWire(err)}); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
	}
}

// reply writes v as the response. It encodes first, so that a value that cannot be encoded
// is an error its handler returns (a clean 500), not half a body.
func reply(w http.ResponseWriter, status int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode response: %w", err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(b, '\n')) // an error here is the client's gone; nothing to tell it
	return nil
}

// statusWriter remembers the status and counts the bytes for the request's log record.
// ResponseController reaches the Flusher beneath it through Unwrap.
type statusWriter struct {
	http.ResponseWriter
	code  int
	bytes int64
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusWriter) status() int {
	if w.code == 0 {
		return http.StatusOK
	}
	return w.code
}

// muxErrorWriter replaces the text body of the mux's 404 and 405 with the API's error body.
type muxErrorWriter struct {
	http.ResponseWriter
	swallow bool
}

func (w *muxErrorWriter) WriteHeader(code int) {
	var we wireError
	switch code {
	case http.StatusNotFound:
		we = wireError{Code: string(hashike.ENotFound), Message: "no such route"}
	case http.StatusMethodNotAllowed:
		we = wireError{Code: codeMethodNotAllowed, Message: "method not allowed; allowed: " + w.Header().Get("Allow")}
	default:
		w.ResponseWriter.WriteHeader(code)
		return
	}
	w.swallow = true
	b, _ := json.Marshal(errorBody{Error: we})
	w.Header().Set("Content-Type", "application/json")
	w.ResponseWriter.WriteHeader(code)
	w.ResponseWriter.Write(append(b, '\n'))
}

func (w *muxErrorWriter) Write(b []byte) (int, error) {
	if w.swallow {
		return len(b), nil
	}
	return w.ResponseWriter.Write(b)
}
