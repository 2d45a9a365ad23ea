package httpapi

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/github"
	"github.com/hashike/hashike/job"
	"github.com/hashike/hashike/server"
	"github.com/hashike/hashike/sqlite"
)

const hookSecret = "the webhook's secret"

var hookQueued = `{"action":"queued","workflow_job":{"id":42,"run_id":7,"labels":["self-hosted","linux","x64","medium"],` +
	`"runner_id":null,"runner_name":null,"created_at":"2026-03-02T09:00:00Z","steps":[]},` +
	`"repository":{"full_name":"octo-org/example"},"organization":{"login":"octo-org"},"installation":{"id":4}}`

// hookAPI is the handler, with authentication on, over a real server on SQLite whose GitHub
// webhook has hookSecret (none when secret is empty).
type hookAPI struct {
	t     testing.TB
	h     http.Handler
	srv   *server.Server
	store *sqlite.Store
}

func newHookAPI(t testing.TB, secret string) *hookAPI {
	t.Helper()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "server.db"))
	if err != nil {
		t.Fatal(err)
	}
	self := hashike.Owner{Host: "test", PID: 1, Start: "1"}
	cfg := server.Config{
		Store: st, Clock: hashike.SystemClock{}, Random: rand.Reader, Self: self, NoLeader: true,
		Backend:         func(string) (hashike.Backend, error) { return nil, errors.New("no backend") },
		Alive:           func(o hashike.Owner) bool { return o == self },
		ParseDefinition: func(string, []byte) (*job.Definition, error) { return nil, errors.New("no jobs") },
	}
	if secret != "" {
		cfg.GitHubWebhook = github.NewWebhook([]byte(secret))
	}
	srv, err := server.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return &hookAPI{t: t, h: NewHandler(srv, Options{}), srv: srv, store: st}
}

// deliver posts body as GitHub would: signed with secret (unsigned when secret is empty).
func (a *hookAPI) deliver(t *testing.T, id, event, body, secret string) response {
	t.Helper()
	header := []string{"X-GitHub-Event", event, "Content-Type", "application/json",
		"User-Agent", "GitHub-Hookshot/044aadd"}
	if id != "" {
		header = append(header, "X-GitHub-Delivery", id)
	}
	if secret != "" {
		header = append(header, "X-Hub-Signature-256", github.SignWebhook([]byte(secret), []byte(body)))
	}
	return serve(t, a.h, "POST", "/v1/github/webhook", "", body, header...)
}

func (a *hookAPI) stored(t *testing.T) []hashike.WebhookDelivery {
	t.Helper()
	ds, err := a.store.ClaimWebhookDeliveries(context.Background(), time.Now().Add(time.Hour), 1000, time.Nanosecond)
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

func wantReply(t *testing.T, what string, r response, status int, outcome string) {
	t.Helper()
	if r.status != status || !strings.Contains(r.body, `"outcome":"`+outcome+`"`) {
		t.Fatalf("%s: %d %s; want %d with outcome %s", what, r.status, r.body, status, outcome)
	}
}

func TestGitHubWebhookQueuedThenRedelivered(t *testing.T) {
	a := newHookAPI(t, hookSecret)
	// No Authorization header: the signature is what authenticates GitHub.
	wantReply(t, "delivery", a.deliver(t, "72d3162e-cc78-11e3-81ab-4c9367dc0958", "workflow_job", hookQueued, hookSecret),
		http.StatusAccepted, "queued")
	select {
	case <-a.srv.GitHubWakeups():
	default:
		t.Fatal("the runner controller was not woken")
	}
	wantReply(t, "redelivery", a.deliver(t, "72d3162e-cc78-11e3-81ab-4c9367dc0958", "workflow_job", hookQueued, hookSecret),
		http.StatusOK, "duplicate")
	ds := a.stored(t)
	if len(ds) != 1 || string(ds[0].Body) != hookQueued {
		t.Fatalf("stored %d deliveries, want the one, byte for byte", len(ds))
	}
}

func TestGitHubWebhookBadSignature(t *testing.T) {
	a := newHookAPI(t, hookSecret)
	good := github.SignWebhook([]byte(hookSecret), []byte(hookQueued))
	for name, r := range map[string]response{
		"other secret": a.deliver(t, "d-1", "workflow_job", hookQueued, "a guess"),
		"unsigned":     a.deliver(t, "d-2", "workflow_job", hookQueued, ""),
		"tampered body": serve(t, a.h, "POST", "/v1/github/webhook", "", strings.Replace(hookQueued, "medium", "xlarge", 1),
			"X-GitHub-Event", "workflow_job", "X-GitHub-Delivery", "d-3", "X-Hub-Signature-256", good),
	} {
		if r.status != http.StatusUnauthorized || !strings.Contains(r.body, `"code":"unauthorized"`) {
			t.Errorf("%s: %d %s, want 401 unauthorized", name, r.status, r.body)
		}
		if h := r.header.Get("WWW-Authenticate"); h != "" {
			t.Errorf("%s: WWW-Authenticate %q: no bearer token would help GitHub", name, h)
		}
		for _, leak := range []string{hookSecret, good[7:], "match", "missing\"", "hmac"} {
			if strings.Contains(r.body, leak) {
				t.Errorf("%s: the answer %q reveals %q", name, r.body, leak)
			}
		}
	}
	if ds := a.stored(t); len(ds) != 0 {
		t.Errorf("%d refused deliveries were stored", len(ds))
	}
}

func TestGitHubWebhookPingAndOtherEvents(t *testing.T) {
	a := newHookAPI(t, hookSecret)
	wantReply(t, "ping", a.deliver(t, "d-1", "ping", `{"zen":"Non-blocking is better than blocking.","hook_id":5}`, hookSecret),
		http.StatusOK, "pong")
	wantReply(t, "push", a.deliver(t, "d-2", "push", `{"ref":"refs/heads/main"}`, hookSecret), http.StatusAccepted, "ignored")
	if ds := a.stored(t); len(ds) != 0 {
		t.Errorf("%d deliveries stored, want none", len(ds))
	}
}

func TestGitHubWebhookRefusals(t *testing.T) {
	a := newHookAPI(t, hookSecret)
	big := `{"action":"queued","workflow_job":{"id":1},"pad":"` + strings.Repeat("x", 1<<20) + `"}`
	if r := a.deliver(t, "d-1", "workflow_job", big, hookSecret); r.status != http.StatusRequestEntityTooLarge {
		t.Errorf("a 1 MiB body: %d %s, want 413", r.status, r.body)
	}
	if r := a.deliver(t, "d-2", "workflow_job", `{"action":"queued"}`, hookSecret); r.status != http.StatusBadRequest {
		t.Errorf("a workflow_job without a job: %d %s, want 400", r.status, r.body)
	}
	if r := a.deliver(t, "", "workflow_job", hookQueued, hookSecret); r.status != http.StatusBadRequest {
		t.Errorf("no X-GitHub-Delivery: %d %s, want 400", r.status, r.body)
	}
	if r := serve(t, a.h, "GET", "/v1/github/webhook", "", ""); r.status != http.StatusMethodNotAllowed {
		t.Errorf("GET: %d, want 405", r.status)
	}
	if ds := a.stored(t); len(ds) != 0 {
		t.Errorf("%d refused deliveries were stored", len(ds))
	}
	none := newHookAPI(t, "")
	if r := none.deliver(t, "d-1", "workflow_job", hookQueued, hookSecret); r.status != http.StatusNotFound {
		t.Errorf("a server without a webhook secret: %d %s, want 404", r.status, r.body)
	}
}

// BenchmarkGitHubWebhook times a delivery through the whole handler (body read, signature,
// parse, durable SQLite write, wake-up, answer), in process. Issue 14's target: a webhook
// answered well within a second, and p99 <= 100 ms of control-plane time from webhook to
// "work queued"; the p99 is reported as p99-ms.
func BenchmarkGitHubWebhook(b *testing.B) {
	a := newHookAPI(b, hookSecret)
	body := []byte(hookQueued)
	sig := github.SignWebhook([]byte(hookSecret), body)
	var lat []time.Duration
	i := 0
	for b.Loop() {
		req := httptest.NewRequest("POST", "/v1/github/webhook", bytes.NewReader(body))
		req.Header.Set("X-GitHub-Event", "workflow_job")
		req.Header.Set("X-GitHub-Delivery", fmt.Sprintf("bench-%d", i))
		req.Header.Set("X-Hub-Signature-256", sig)
		i++
		rec := httptest.NewRecorder()
		start := time.Now()
		a.h.ServeHTTP(rec, req)
		lat = append(lat, time.Since(start))
		if rec.Code != http.StatusAccepted {
			b.Fatalf("%d %s", rec.Code, rec.Body)
		}
		<-a.srv.GitHubWakeups()
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)*99/100])/float64(time.Millisecond), "p99-ms")
}

// TestGitHubWebhookBurst: GitHub sends a burst, some deliveries several times at once (its
// duplicates, an operator's redelivery). Every request is answered 2xx, each delivery ID is
// stored once, and exactly one of a delivery's concurrent copies is answered 202.
func TestGitHubWebhookBurst(t *testing.T) {
	a := newHookAPI(t, hookSecret)
	const ids, copies = 100, 3
	type answer struct {
		id     int
		status int
	}
	answers := make(chan answer, ids*copies)
	var wg sync.WaitGroup
	for i := range ids {
		for range copies {
			wg.Go(func() {
				body := strings.Replace(hookQueued, `"id":42`, fmt.Sprintf(`"id":%d`, 1000+i), 1)
				req := httptest.NewRequest("POST", "/v1/github/webhook", strings.NewReader(body))
				req.Header.Set("X-GitHub-Event", "workflow_job")
				req.Header.Set("X-GitHub-Delivery", fmt.Sprintf("burst-%d", i))
				req.Header.Set("X-Hub-Signature-256", github.SignWebhook([]byte(hookSecret), []byte(body)))
				rec := httptest.NewRecorder()
				a.h.ServeHTTP(rec, req)
				answers <- answer{i, rec.Code}
			})
		}
	}
	wg.Wait()
	close(answers)
	accepted := map[int]int{}
	for ans := range answers {
		switch ans.status {
		case http.StatusAccepted:
			accepted[ans.id]++
		case http.StatusOK:
		default:
			t.Errorf("burst-%d answered %d", ans.id, ans.status)
		}
	}
	for i := range ids {
		if accepted[i] != 1 {
			t.Errorf("burst-%d: %d copies answered 202, want 1", i, accepted[i])
		}
	}
	if ds := a.stored(t); len(ds) != ids {
		t.Errorf("%d deliveries stored, want %d", len(ds), ids)
	}
}
