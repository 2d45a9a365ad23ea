package server

import (
	"context"
	"crypto/rand"
	"fmt"
	"path/filepath"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/api"
	"github.com/hashike/hashike/github"
	"github.com/hashike/hashike/internal/fakebackend"
	"github.com/hashike/hashike/job"
	"github.com/hashike/hashike/runners"
	"github.com/hashike/hashike/runners/runnerstest"
	"github.com/hashike/hashike/sqlite"
)

// newRunnerBenchServer is a started server on SQLite with the test webhook, one runner pool
// (medium, up to 1,000 runners) over runnerstest.World as GitHub, and the fake backend,
// whose task starts are sent on the returned channel (tasks keep running).
func newRunnerBenchServer(b *testing.B) (*Server, <-chan string) {
	b.Helper()
	st, err := sqlite.Open(filepath.Join(b.TempDir(), "server.db"))
	if err != nil {
		b.Fatal(err)
	}
	started := make(chan string, 2000)
	hold := make(chan struct{})
	backend := fakebackend.New("local", func(req hashike.StartRequest) fakebackend.Behavior {
		started <- req.RunID
		return fakebackend.Behavior{Hold: hold}
	})
	plan, err := runners.Compile([]runners.Pool{{Name: "medium", Labels: mediumLabels, Job: "runner-medium", Max: 1000, Arch: runtime.GOARCH,
		Scope: runners.Scope{Level: runners.ScopeOrg, Name: "octo-org"}}}, runtime.GOARCH)
	if err != nil {
		b.Fatal(err)
	}
	s, err := New(Config{
		Store: st, Clock: hashike.SystemClock{}, Random: rand.Reader, Self: self, NoLeader: true,
		Backend: func(string) (hashike.Backend, error) { return backend, nil },
		Alive:   func(o hashike.Owner) bool { return o == self },
		ParseDefinition: func(string, []byte) (*job.Definition, error) {
			return nil, fmt.Errorf("none")
		},
		GitHubWebhook: github.NewWebhook([]byte(testWebhookSecret)),
		Runners: &RunnerPools{Plan: plan, GitHub: runnerstest.New(time.Now), MinGap: time.Millisecond, Interval: time.Hour,
			RescanInterval: time.Hour, Parallel: 16},
	})
	if err != nil {
		b.Fatal(err)
	}
	if _, _, err := s.Register(context.Background(), "runner-medium", definition(nil), "bench"); err != nil {
		b.Fatal(err)
	}
	s.Start(context.Background())
	b.Cleanup(func() {
		close(hold)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = s.Shutdown(ctx)
		st.Close()
	})
	return s, started
}

func queuedDelivery(id string, job int) api.GitHubDelivery {
	body := fmt.Appendf(nil, `{"action":"queued","workflow_job":{"id":%d,"labels":["self-hosted","linux","x64","medium"],"created_at":%q}}`,
		job, time.Now().UTC().Format(time.RFC3339))
	return signed(id, "workflow_job", body)
}

// BenchmarkWebhookToRunnerRequested times issue 14's control-plane target: a workflow_job
// "queued" received -> its runner's container requested from the backend (verify, store,
// wake the leader's controller, one pass: list runners and runs, read the intake, decide,
// generate the JIT config on the in-memory GitHub, create and supervise the run, start its
// task), one job at a time, on SQLite. Target: p99 <= 100 ms (p99-ms).
func BenchmarkWebhookToRunnerRequested(b *testing.B) {
	s, started := newRunnerBenchServer(b)
	ctx := context.Background()
	var lat []time.Duration
	i := 0
	for b.Loop() {
		i++
		t0 := time.Now()
		if _, err := s.ReceiveGitHubWebhook(ctx, queuedDelivery(fmt.Sprintf("w-%d", i), i)); err != nil {
			b.Fatal(err)
		}
		<-started
		lat = append(lat, time.Since(t0))
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2])/float64(time.Millisecond), "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100])/float64(time.Millisecond), "p99-ms")
}

// BenchmarkBurst500ToRunnersRequested: 500 queued jobs received -> all 500 runner containers
// requested (target: within 10 s), on SQLite, the fake backend and the in-memory GitHub.
func BenchmarkBurst500ToRunnersRequested(b *testing.B) {
	ctx := context.Background()
	var total time.Duration
	for n := range b.N {
		s, started := newRunnerBenchServer(b)
		t0 := time.Now()
		for j := range 500 {
			if _, err := s.ReceiveGitHubWebhook(ctx, queuedDelivery(fmt.Sprintf("b%d-%d", n, j), j+1)); err != nil {
				b.Fatal(err)
			}
		}
		for range 500 {
			<-started
		}
		total += time.Since(t0)
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "burst-ms")
}
