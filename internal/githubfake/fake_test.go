package githubfake_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashike/hashike/internal/githubfake"
)

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// api calls the fake's REST API with a PAT and decodes the JSON answer into out.
func api(t *testing.T, f *githubfake.Fake, method, path string, body, out any) *http.Response {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, f.URL()+path, rd)
	req.Header.Set("Authorization", "Bearer pat")
	resp, err := f.HTTPClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil {
		_ = json.NewDecoder(resp.Body).Decode(out)
	}
	return resp
}

type jitResp struct {
	Runner struct {
		ID int64 `json:"id"`
	} `json:"runner"`
	Encoded string `json:"encoded_jit_config"`
}

// online creates and registers a runner at scope path (e.g. "/orgs/acme").
func online(t *testing.T, f *githubfake.Fake, scope, name string, labels ...string) (int64, string) {
	t.Helper()
	var j jitResp
	resp := api(t, f, "POST", scope+"/actions/runners/generate-jitconfig",
		map[string]any{"name": name, "labels": labels, "runner_group_id": 1}, &j)
	if resp.StatusCode != 201 {
		t.Fatalf("generate-jitconfig: %d", resp.StatusCode)
	}
	if _, err := f.Register(j.Encoded); err != nil {
		t.Fatal(err)
	}
	return j.Runner.ID, j.Encoded
}

func TestJobGoesToAnyIdleRunnerWithSupersetLabels(t *testing.T) {
	// The runner created for a job is not bound to it: over many seeds, a job with labels
	// [self-hosted small] lands on both idle runners whose labels contain them, never on the
	// large one.
	took := map[string]int{}
	for seed := range uint64(40) {
		f := githubfake.New(githubfake.Options{PATs: []string{"pat"}, Seed: seed})
		online(t, f, "/orgs/acme", "mine", "self-hosted", "small")
		online(t, f, "/orgs/acme", "other", "self-hosted", "small", "linux", "x64")
		online(t, f, "/orgs/acme", "large", "self-hosted", "large")
		j := f.QueueJob(githubfake.JobSpec{Repo: "acme/app", Labels: []string{"Self-Hosted", "small"}})
		got, _ := f.Job(j.ID)
		took[got.RunnerName]++
		f.Close()
	}
	if took["mine"] == 0 || took["other"] == 0 || took["large"] != 0 {
		t.Fatalf("assignments %v: want both matching runners used, never the large one", took)
	}
}

func TestJobWaitsForMatchingRunnerInScope(t *testing.T) {
	f := githubfake.New(githubfake.Options{PATs: []string{"pat"}})
	defer f.Close()
	j := f.QueueJob(githubfake.JobSpec{Repo: "acme/app", Labels: []string{"arm64"}})
	online(t, f, "/repos/acme/other", "wrong-repo", "arm64")
	online(t, f, "/orgs/elsewhere", "wrong-org", "arm64")
	online(t, f, "/orgs/acme", "wrong-labels", "amd64")
	if got, _ := f.Job(j.ID); got.Status != "queued" {
		t.Fatalf("job %s on %s: no runner should match", got.Status, got.RunnerName)
	}
	online(t, f, "/enterprises/big", "ent", "arm64", "self-hosted")
	if got, _ := f.Job(j.ID); got.Status != "in_progress" || got.RunnerName != "ent" {
		t.Fatalf("job = %+v, want it on the enterprise runner", got)
	}
}

func TestJobQueuedFor24HoursFails(t *testing.T) {
	clk := &clock{now: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)}
	f := githubfake.New(githubfake.Options{PATs: []string{"pat"}, Now: clk.Now})
	defer f.Close()
	j := f.QueueJob(githubfake.JobSpec{Repo: "acme/app", Labels: []string{"gpu"}})
	clk.Add(githubfake.QueueLimit - time.Second)
	if got, _ := f.Job(j.ID); got.Status != "queued" {
		t.Fatalf("before 24 h: %s", got.Status)
	}
	clk.Add(time.Second)
	var out struct {
		Status     string `json:"status"`
		Conclusion string `json:"conclusion"`
	}
	api(t, f, "GET", fmt.Sprintf("/repos/acme/app/actions/jobs/%d", j.ID), nil, &out)
	if out.Status != "completed" || out.Conclusion != "failure" {
		t.Fatalf("after 24 h: %+v, want completed/failure", out)
	}
}

func TestGhostRunnersStayListedOffline(t *testing.T) {
	clk := &clock{now: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)}
	f := githubfake.New(githubfake.Options{PATs: []string{"pat"}, Now: clk.Now})
	defer f.Close()
	var never jitResp
	api(t, f, "POST", "/orgs/acme/actions/runners/generate-jitconfig", map[string]any{"name": "never", "labels": []string{"x"}, "runner_group_id": 1}, &never)
	_, crashed := online(t, f, "/orgs/acme", "crashed", "x")
	if err := f.Exit(crashed); err != nil {
		t.Fatal(err)
	}
	clk.Add(23 * time.Hour)
	var list struct {
		Total   int `json:"total_count"`
		Runners []struct {
			Name   string `json:"name"`
			Status string `json:"status"`
		} `json:"runners"`
	}
	api(t, f, "GET", "/orgs/acme/actions/runners", nil, &list)
	if list.Total != 2 || list.Runners[0].Status != "offline" || list.Runners[1].Status != "offline" {
		t.Fatalf("runners = %+v, want both listed offline", list)
	}
	// A runner that never registered never goes online and never takes a job.
	f.QueueJob(githubfake.JobSpec{Repo: "acme/app", Labels: []string{"x"}})
	if r, _ := f.Runner(never.Runner.ID); r.Online || r.Busy {
		t.Fatalf("unregistered runner %+v", r)
	}
	clk.Add(time.Hour) // GitHub drops offline ephemeral runners after a day
	if rs := f.Runners(); len(rs) != 0 {
		t.Fatalf("runners after a day: %+v", rs)
	}
}

func TestDeleteRunner(t *testing.T) {
	f := githubfake.New(githubfake.Options{PATs: []string{"pat"}})
	defer f.Close()
	busy, _ := online(t, f, "/orgs/acme", "busy", "x")
	f.QueueJob(githubfake.JobSpec{Repo: "acme/app", Labels: []string{"x"}})
	if s := api(t, f, "DELETE", fmt.Sprintf("/orgs/acme/actions/runners/%d", busy), nil, nil).StatusCode; s != 422 {
		t.Fatalf("delete busy: %d, want 422", s)
	}
	if s := api(t, f, "DELETE", "/orgs/acme/actions/runners/424242", nil, nil).StatusCode; s != 404 {
		t.Fatalf("delete unknown: %d, want 404", s)
	}
	if s := api(t, f, "DELETE", fmt.Sprintf("/orgs/other/actions/runners/%d", busy), nil, nil).StatusCode; s != 404 {
		t.Fatalf("delete in another org: %d, want 404", s)
	}
}

func TestPaginationLinks(t *testing.T) {
	f := githubfake.New(githubfake.Options{PATs: []string{"pat"}})
	defer f.Close()
	for i := range 5 {
		online(t, f, "/repos/acme/app", fmt.Sprint("r", i), "x")
	}
	resp := api(t, f, "GET", "/repos/acme/app/actions/runners?per_page=2&page=2", nil, nil)
	link := resp.Header.Get("Link")
	for _, want := range []string{`page=3&per_page=2>; rel="next"`, `page=3&per_page=2>; rel="last"`, `page=1&per_page=2>; rel="first"`, `page=1&per_page=2>; rel="prev"`} {
		if !strings.Contains(link, want) {
			t.Fatalf("Link %q lacks %q", link, want)
		}
	}
	if resp.Header.Get("X-RateLimit-Remaining") == "" || resp.Header.Get("X-RateLimit-Reset") == "" {
		t.Fatal("no rate limit headers")
	}
}

func TestAuth(t *testing.T) {
	f := githubfake.New(githubfake.Options{PATs: []string{"good"}})
	defer f.Close()
	if s := api(t, f, "GET", "/orgs/acme/actions/runners", nil, nil).StatusCode; s != 401 {
		t.Fatalf("bad token: %d, want 401", s)
	}
	if s := api(t, f, "POST", "/app/installations/1/access_tokens", nil, nil).StatusCode; s != 401 {
		t.Fatalf("token without a JWT: %d, want 401", s)
	}
}

// hookReceiver records deliveries and checks their signature.
type hookReceiver struct {
	mu     sync.Mutex
	got    []string // "delivery-id action job-id"
	badSig int
}

func (h *hookReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	mac := hmac.New(sha256.New, []byte("s3cret"))
	mac.Write(body)
	var ev struct {
		Action string `json:"action"`
		Job    struct {
			ID     int64    `json:"id"`
			Labels []string `json:"labels"`
			Runner *string  `json:"runner_name"`
		} `json:"workflow_job"`
	}
	_ = json.Unmarshal(body, &ev)
	h.mu.Lock()
	defer h.mu.Unlock()
	if r.Header.Get("X-Hub-Signature-256") != "sha256="+hex.EncodeToString(mac.Sum(nil)) || r.Header.Get("X-GitHub-Event") != "workflow_job" {
		h.badSig++
	}
	h.got = append(h.got, fmt.Sprintf("%s %s %d", r.Header.Get("X-GitHub-Delivery"), ev.Action, ev.Job.ID))
}

func (h *hookReceiver) list() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.got...)
}

func TestWebhookDeliveries(t *testing.T) {
	h := &hookReceiver{}
	recv := httptest.NewServer(h)
	defer recv.Close()
	f := githubfake.New(githubfake.Options{PATs: []string{"pat"}, Webhook: githubfake.WebhookOptions{URL: recv.URL, Secret: "s3cret", InstallationID: 7}})
	defer f.Close()
	ctx := context.Background()

	// queued, in_progress, completed in order, signed.
	_, jit := online(t, f, "/orgs/acme", "r1", "x")
	j1 := f.QueueJob(githubfake.JobSpec{Repo: "acme/app", Labels: []string{"x"}})
	if err := f.Complete(jit, "success"); err != nil {
		t.Fatal(err)
	}
	if err := f.Settle(ctx); err != nil {
		t.Fatal(err)
	}
	got := h.list()
	if len(got) != 3 || !strings.HasSuffix(got[0], fmt.Sprint(" queued ", j1.ID)) || !strings.Contains(got[1], " in_progress ") || !strings.Contains(got[2], " completed ") {
		t.Fatalf("deliveries %v", got)
	}

	// Lose queued events, duplicate in_progress ones, hold completed ones back.
	f.SetDeliveryPolicy(func(d githubfake.Delivery) githubfake.Fate {
		switch d.Action {
		case "queued":
			return githubfake.Lose
		case "in_progress":
			return githubfake.Duplicate
		}
		return githubfake.Hold
	})
	_, jit2 := online(t, f, "/orgs/acme", "r2", "x")
	j2 := f.QueueJob(githubfake.JobSpec{Repo: "acme/app", Labels: []string{"x"}})
	_ = f.Complete(jit2, "failure")
	j3 := f.QueueJob(githubfake.JobSpec{Repo: "acme/app", Labels: []string{"x"}})
	_, _ = online(t, f, "/orgs/acme", "r3", "x") // takes j3
	f.ReleaseHeld()
	if err := f.Settle(ctx); err != nil {
		t.Fatal(err)
	}
	got = h.list()[3:]
	want := []string{fmt.Sprint(" in_progress ", j2.ID), fmt.Sprint(" in_progress ", j2.ID), fmt.Sprint(" in_progress ", j3.ID), fmt.Sprint(" in_progress ", j3.ID), fmt.Sprint(" completed ", j2.ID)}
	if len(got) != len(want) {
		t.Fatalf("deliveries %v, want %v", got, want)
	}
	for i := range want {
		if !strings.HasSuffix(got[i], want[i]) {
			t.Fatalf("delivery %d = %q, want …%q (all: %v)", i, got[i], want[i], got)
		}
	}
	if id := func(s string) string { return strings.Fields(s)[0] }; id(got[0]) != id(got[1]) {
		t.Fatal("a duplicate has another delivery id")
	}
	if lost := f.LostDeliveries(); len(lost) != 2 {
		t.Fatalf("lost %d, want the 2 queued events", len(lost))
	}
	if h.badSig != 0 {
		t.Fatalf("%d deliveries badly signed", h.badSig)
	}
}

func TestSecondaryRateLimit(t *testing.T) {
	clk := &clock{now: time.Date(2026, 12, 1, 0, 0, 30, 0, time.UTC)}
	f := githubfake.New(githubfake.Options{PATs: []string{"pat"}, Now: clk.Now})
	defer f.Close()
	n := 0
	for {
		resp := api(t, f, "POST", "/orgs/acme/actions/runners/generate-jitconfig", map[string]any{"name": fmt.Sprint("r", n), "labels": []string{"x"}, "runner_group_id": 1}, nil)
		if resp.StatusCode != 201 {
			if resp.StatusCode != 403 || resp.Header.Get("Retry-After") != "60" {
				t.Fatalf("refusal %d Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
			}
			break
		}
		n++
	}
	if n != 180 {
		t.Fatalf("%d JIT configs before the secondary limit, want 180 (900 points a minute, 5 each)", n)
	}
	// The bucket is per route: listing still works.
	if s := api(t, f, "GET", "/orgs/acme/actions/runners", nil, nil).StatusCode; s != 200 {
		t.Fatalf("list while JIT is limited: %d", s)
	}
	clk.Add(time.Minute)
	if s := api(t, f, "POST", "/orgs/acme/actions/runners/generate-jitconfig", map[string]any{"name": "again", "labels": []string{"x"}, "runner_group_id": 1}, nil).StatusCode; s != 201 {
		t.Fatalf("after the window: %d", s)
	}
}

func FuzzDecodeJITConfig(f *testing.F) {
	f.Add("eyJ1cmwiOiJodHRwOi8veCIsInJ1bm5lcl9pZCI6MSwibmFtZSI6InIiLCJzZWNyZXQiOiJzIn0=")
	f.Add("")
	f.Add("e30=")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := githubfake.DecodeJITConfig(s)
		if err == nil && c.Secret == "" {
			t.Fatal("accepted a config without a secret")
		}
	})
}

func TestRunnerConnectionLostGoesOffline(t *testing.T) {
	f := githubfake.New(githubfake.Options{PATs: []string{"pat"}})
	defer f.Close()
	id, jit := online(t, f, "/orgs/acme", "r1", "x")
	ctx, cancel := context.WithCancel(context.Background())
	body, _ := json.Marshal(map[string]string{"jit_config": jit})
	req, _ := http.NewRequestWithContext(ctx, "POST", f.ServerURL()+"/_fake/runner/acquire", bytes.NewReader(body))
	go func() {
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	wctx, wcancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer wcancel()
	if _, err := f.WaitRunner(wctx, id, func(r githubfake.Runner, _ bool) bool { return r.Polling }); err != nil {
		t.Fatal(err)
	}
	cancel() // the runner process dies while it waits for a job
	r, err := f.WaitRunner(wctx, id, func(r githubfake.Runner, ok bool) bool { return ok && !r.Online })
	if err != nil {
		t.Fatalf("runner %+v still online: %v", r, err)
	}
	// Offline, it is given no job and stays listed: a ghost.
	j := f.QueueJob(githubfake.JobSpec{Repo: "acme/app", Labels: []string{"x"}})
	if got, _ := f.Job(j.ID); got.Status != "queued" {
		t.Fatalf("an offline runner took job %+v", got)
	}
}
