package main_test

import (
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashike/hashike/github"
)

// TestServerGitHubWebhook posts GitHub's deliveries to a real `hashike server` with
// authentication on: with HASHIKE_GITHUB_WEBHOOK_SECRET set, a signed workflow_job delivery is
// accepted without a token (202), its redelivery is a duplicate (200) and a forged one is
// refused (401); without the variable there is no endpoint (404).
func TestServerGitHubWebhook(t *testing.T) {
	const secret = "s3cret-of-the-webhook"
	body := `{"action":"queued","workflow_job":{"id":11,"run_id":3,"labels":["self-hosted","small"]},"repository":{"full_name":"o/r"}}`
	post := func(url, id, sig string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("POST", url+"/v1/github/webhook", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-GitHub-Event", "workflow_job")
		req.Header.Set("X-GitHub-Delivery", id)
		req.Header.Set("X-Hub-Signature-256", sig)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	good := github.SignWebhook([]byte(secret), []byte(body))
	p := startServerAuth(t, true, []string{"HASHIKE_GITHUB_WEBHOOK_SECRET=" + secret}, "--db", filepath.Join(t.TempDir(), "server.db"))
	for _, c := range []struct {
		name, id, sig string
		status        int
	}{
		{"signed", "d-1", good, http.StatusAccepted},
		{"redelivered", "d-1", good, http.StatusOK},
		{"forged", "d-2", github.SignWebhook([]byte("guess"), []byte(body)), http.StatusUnauthorized},
	} {
		code, text := post(p.url, c.id, c.sig)
		if code != c.status {
			t.Errorf("%s: %d %s, want %d", c.name, code, text, c.status)
		}
		if strings.Contains(text, secret) {
			t.Errorf("%s: the answer reveals the secret: %s", c.name, text)
		}
	}
	none := startServerAuth(t, true, []string{"HASHIKE_GITHUB_WEBHOOK_SECRET="}, "--db", filepath.Join(t.TempDir(), "server.db"))
	if code, text := post(none.url, "d-1", good); code != http.StatusNotFound {
		t.Errorf("without a secret: %d %s, want 404", code, text)
	}
}
