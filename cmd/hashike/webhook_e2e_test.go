package main_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashike/hashike/api"
	"github.com/hashike/hashike/docker/dockertest"
	"github.com/hashike/hashike/notify"
	"github.com/hashike/hashike/server"
)

// TestServerSignedWebhook: a job's webhook names a secret, set the two documented ways (the
// variable HASHIKE_SECRET_<name>, or the key <name> of the secrets file); the server signs its
// failure notification with the value, and a receiver verifies it with notify.Verify.
func TestServerSignedWebhook(t *testing.T) {
	dockertest.Require(t)
	for _, tc := range []struct {
		name string
		env  func(dir, secret string) []string
	}{
		{"env", func(_, secret string) []string { return []string{"HASHIKE_SECRET_HOOK_KEY=" + secret} }},
		{"secrets file", func(dir, secret string) []string {
			file := filepath.Join(dir, "secrets.json")
			b, _ := json.Marshal(map[string]string{"HOOK_KEY": secret})
			if err := os.WriteFile(file, b, 0o600); err != nil {
				t.Fatal(err)
			}
			return []string{"HASHIKE_SECRETS_FILE=" + file}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			secret := "s3cret-" + strings.ReplaceAll(tc.name, " ", "-")
			type received struct {
				err   error
				event server.Event
			}
			var mu sync.Mutex
			var got []received
			arrived := make(chan struct{}, 1)
			hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				body, _ := io.ReadAll(r.Body)
				rec := received{err: notify.Verify(secret, r.Header, body, time.Now(), 0)}
				if rec.err == nil {
					rec.err = json.Unmarshal(body, &rec.event)
				}
				mu.Lock()
				got = append(got, rec)
				mu.Unlock()
				select {
				case arrived <- struct{}{}:
				default:
				}
				if rec.err != nil {
					http.Error(w, rec.err.Error(), http.StatusUnauthorized)
				}
			}))
			defer hook.Close()

			dir, jobs := newJobsDir(t)
			writeJob(t, jobs, "failing", `retryStrategy:
  attempts: 1
notifications:
  - {type: webhook, url: "`+hook.URL+`/hashike", secret: HOOK_KEY, events: [failure]}
taskDefinition:
  memory: "32"
  networkMode: none
  containerDefinitions:
    - name: app
      image: IMAGE
      command: [exit, "3"]
`)
			srv := startServer(t, tc.env(dir, secret), "--db", filepath.Join(dir, "server.db"), "--jobs", jobs)
			run, _, err := srv.c.Enqueue(t.Context(), "failing", api.EnqueueRequest{})
			if err != nil {
				t.Fatal(err)
			}
			// Wait for the delivery, or for the server to give it up (which it logs).
			deadline := time.Now().Add(2 * time.Minute)
		wait:
			for {
				select {
				case <-arrived:
					break wait
				case <-time.After(100 * time.Millisecond):
				}
				b, _ := os.ReadFile(srv.log)
				if strings.Contains(string(b), "giving up a delivery") || time.Now().After(deadline) {
					t.Fatalf("no notification reached the receiver; server log:\n%s", tail(string(b), 4000))
				}
			}
			mu.Lock()
			defer mu.Unlock()
			if got[0].err != nil {
				t.Fatalf("the first delivery does not verify: %v", got[0].err)
			}
			if ev := got[0].event; ev.Event != "failure" || ev.RunID != run.ID || ev.Job != "failing" {
				t.Errorf("event = %+v, want the failure of run %s", ev, run.ID)
			}
		})
	}
}
