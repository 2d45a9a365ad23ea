package metrics_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/hashike/hashike/metrics"
)

func TestMountServesMetricsAndPassesTheRestOn(t *testing.T) {
	reg := metrics.NewRegistry()
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusTeapot)
		io.WriteString(w, "api "+r.Method+" "+r.URL.Path)
	})
	srv := httptest.NewServer(metrics.Mount(api, reg))
	defer srv.Close()

	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %d %s", resp.StatusCode, body)
	}
	for _, want := range []string{"go_goroutines ", "process_start_time_seconds ", "promhttp_metric_handler_requests_total{"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("GET /metrics lacks %q:\n%s", want, body)
		}
	}

	for _, c := range []struct{ method, path string }{{"POST", "/metrics"}, {"GET", "/v1/runs"}, {"GET", "/metricsx"}} {
		req, _ := http.NewRequest(c.method, srv.URL+c.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusTeapot || string(body) != "api "+c.method+" "+c.path {
			t.Errorf("%s %s went to %d %q, want the API", c.method, c.path, resp.StatusCode, body)
		}
	}
}
