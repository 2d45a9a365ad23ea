package main_test

import (
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/moby/moby/client"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/api"
	"github.com/hashike/hashike/docker"
	"github.com/hashike/hashike/docker/dockertest"
	"github.com/hashike/hashike/httpapi"
	"github.com/hashike/hashike/internal/pgtest"
	"github.com/hashike/hashike/server"
)

// TestServerPostgresOutage stops PostgreSQL (a fast shutdown, as an operator's restart or a
// failover does) while a run of a queue with one slot runs, and starts it again a few seconds
// later. The run's task ends during the outage, so the server cannot record its end then. Once
// the database is back, the run must end succeeded, in its one container, and the run queued
// behind it must get the slot and run: the server recovers without a restart.
func TestServerPostgresOutage(t *testing.T) {
	dc := dockertest.Require(t)
	dsn := pgtest.DSN(t)
	_, jobs := newJobsDir(t)
	writeJob(t, jobs, "work", `queue: one
taskDefinition:
  memory: "32"
  networkMode: none
  containerDefinitions:
    - name: app
      image: IMAGE
      stopTimeout: 2
      command: [print, "1", started, sleep, 2s, print, "1", done]
`)
	st := watchStarts(t, dc)
	srv := startServer(t, nil, "--db", dsn, "--jobs", jobs)
	ctx := t.Context()
	if _, err := srv.c.PutQueue(ctx, hashike.QueueConfig{Name: "one", MaxConcurrency: 1}); err != nil {
		t.Fatal(err)
	}
	var roots []string
	for range 2 {
		run, _, err := srv.c.Enqueue(ctx, "work", api.EnqueueRequest{})
		if err != nil {
			t.Fatal(err)
		}
		roots = append(roots, run.ID)
	}
	waitOutput(t, srv.c, roots[0], "started", time.Now().Add(time.Minute))

	outage := time.Now()
	pgtest.Stop(t)
	// The task ends while the database is down...
	deadline := time.Now().Add(time.Minute)
	for {
		res, err := dc.ContainerList(ctx, client.ContainerListOptions{All: true,
			Filters: make(client.Filters).Add("label", docker.LabelRunID+"="+roots[0])})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Items) == 1 && res.Items[0].State == "exited" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the first run's container did not exit: %+v", res.Items)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// ...and the server fails to record it.
	for {
		b, _ := os.ReadFile(srv.log)
		if strings.Contains(string(b), "supervising a run") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the server logged no failed supervision during the outage")
		}
		time.Sleep(100 * time.Millisecond)
	}
	// An outage of some seconds, as a restart or a failover makes.
	time.Sleep(time.Until(outage.Add(6 * time.Second)))
	pgtest.Start(t)
	t.Logf("PostgreSQL was down for %s", time.Since(outage).Round(100*time.Millisecond))

	// The API answers again once the database does.
	for {
		if _, err := srv.c.ListRuns(ctx, hashike.RunFilter{}); err == nil {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("the API does not answer after the outage: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	byRoot := waitSettled(t, func() *httpapi.Client { return srv.c }, roots, 90*time.Second)
	for i, id := range roots {
		tries := byRoot[id]
		if len(tries) != 1 || tries[0].State != hashike.StateSucceeded {
			t.Errorf("run %d (%s): %d tries, the last %s (%+v), want one that succeeded", i, id, len(tries), tries[len(tries)-1].State, tries[len(tries)-1].Exit)
		}
		if n := st.of(id); n != 1 {
			t.Errorf("run %d (%s): %d container starts, want 1", i, id, n)
		}
		if out := output(t, srv.c, id); strings.Count(out, "started") != 1 || strings.Count(out, "done") != 1 {
			t.Errorf("run %d (%s): output %q, want started and done once each", i, id, out)
		}
	}
}

// TestServerPostgresOutageHealthAndErrors: while PostgreSQL is down, /healthz answers 503
// naming the database, and an API request, with a token the server knows or with one it does
// not, gets a 503 whose body shows nothing of how to reach the database (its user, name, host
// or port). Once it is back, /healthz answers 200.
func TestServerPostgresOutageHealthAndErrors(t *testing.T) {
	dsn := pgtest.DSN(t)
	cfg, err := pgconn.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(hashikeBin, "token", "create", "--db", dsn, "--name", "ops", "--scope", "read").Output()
	if err != nil {
		t.Fatalf("token create: %v", err)
	}
	token := strings.TrimSpace(string(out))
	srv := startServerAuth(t, true, nil, "--db", dsn)
	get := func(path, token string) (int, string) {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), "GET", srv.url+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, strings.TrimSpace(string(b))
	}
	if code, body := get("/healthz", ""); code != http.StatusOK {
		t.Fatalf("healthz before the outage: %d %s", code, body)
	}
	if code, body := get("/v1/runs", token); code != http.StatusOK {
		t.Fatalf("GET /v1/runs before the outage: %d %s", code, body)
	}

	pgtest.Stop(t)
	if code, body := get("/healthz", ""); code != http.StatusServiceUnavailable || body != `{"status":"unavailable","checks":{"database":"down"}}` {
		t.Errorf("healthz during the outage: %d %s, want 503 naming the database", code, body)
	}
	secrets := []string{cfg.User, cfg.Database, cfg.Host, strconv.Itoa(int(cfg.Port)), "port=", "user="}
	for _, tok := range []string{token, server.TokenPrefix + "0000000000000000000000000000000000000000"} {
		code, body := get("/v1/runs", tok)
		if code != http.StatusServiceUnavailable || !strings.Contains(body, `"code":"unavailable"`) {
			t.Errorf("GET /v1/runs during the outage: %d %s, want 503", code, body)
		}
		for _, s := range secrets {
			if strings.Contains(body, s) {
				t.Errorf("the body of a 503 shows %q: %s", s, body)
			}
		}
	}
	pgtest.Start(t)
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, body := get("/healthz", "")
		if code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("healthz after the outage: %d %s", code, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if code, body := get("/v1/runs", token); code != http.StatusOK {
		t.Errorf("GET /v1/runs after the outage: %d %s", code, body)
	}
}
