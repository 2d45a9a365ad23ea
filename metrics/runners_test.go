package metrics_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashike/hashike/metrics"
	"github.com/hashike/hashike/runners"
)

func scrape(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %d %s", resp.StatusCode, body)
	}
	return string(body)
}

func wantLines(t *testing.T, body string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(body, "\n"+w+"\n") {
			t.Errorf("scrape lacks the line %q", w)
		}
	}
	if t.Failed() {
		t.Logf("scrape:\n%s", body)
	}
}

// The runner pools' metrics as Prometheus scrapes them: every pool at 0 from the start, the
// last decision's counts, the waits and starts in their buckets, lost webhooks counted, and
// GitHub's rate limit budget once it is known.
func TestRunnersMetricsScraped(t *testing.T) {
	org := runners.Scope{Level: runners.ScopeOrg, Name: "acme"}
	plan, err := runners.Compile([]runners.Pool{
		{Name: "small", Labels: []string{"self-hosted", "small"}, Job: "runner-small", Max: 4, Scope: org},
		{Name: "large", Labels: []string{"self-hosted", "large"}, Job: "runner-large", Max: 2, Scope: org},
	}, runners.ArchAMD64)
	if err != nil {
		t.Fatal(err)
	}
	reg := metrics.NewRegistry()
	var remaining atomic.Int64
	remaining.Store(-1)
	m := metrics.NewRunners(reg, plan, func() (int, bool) { n := remaining.Load(); return int(n), n >= 0 })
	h := metrics.Handler(reg)

	body := scrape(t, h)
	wantLines(t, body, `hashike_runners_desired_runners{pool="small"} 0`, `hashike_runners_desired_runners{pool="large"} 0`,
		`hashike_runners_lost_webhooks_total{pool="large"} 0`)
	if strings.Contains(body, "hashike_runners_github_rate_limit_remaining") {
		t.Error("the rate limit is reported before GitHub said it")
	}

	m.Decided(runners.Decision{Pools: []runners.PoolStatus{{Pool: "small", Queued: 3, Idle: 1, Starting: 2, Busy: 4, Desired: 4}}})
	m.JobAssigned("small", 800*time.Millisecond)
	m.JobAssigned("small", 20*time.Second)
	m.RunnerStarted("large", 3*time.Second)
	m.LostWebhook("small")
	remaining.Store(4321)
	wantLines(t, scrape(t, h),
		`hashike_runners_queued_jobs{pool="small"} 3`, `hashike_runners_idle_runners{pool="small"} 1`,
		`hashike_runners_starting_runners{pool="small"} 2`, `hashike_runners_busy_runners{pool="small"} 4`,
		`hashike_runners_desired_runners{pool="small"} 4`, `hashike_runners_desired_runners{pool="large"} 0`,
		`hashike_runners_queued_to_assigned_seconds_bucket{pool="small",le="1"} 1`,
		`hashike_runners_queued_to_assigned_seconds_bucket{pool="small",le="30"} 2`,
		`hashike_runners_queued_to_assigned_seconds_count{pool="small"} 2`,
		`hashike_runners_start_seconds_bucket{pool="large",le="2.5"} 0`,
		`hashike_runners_start_seconds_bucket{pool="large",le="5"} 1`,
		`hashike_runners_lost_webhooks_total{pool="small"} 1`,
		`hashike_runners_github_rate_limit_remaining 4321`)

	// The term ends: a replica that does not lead counts nothing.
	m.Decided(plan.Idle())
	wantLines(t, scrape(t, h), `hashike_runners_busy_runners{pool="small"} 0`, `hashike_runners_queued_jobs{pool="small"} 0`)
}
