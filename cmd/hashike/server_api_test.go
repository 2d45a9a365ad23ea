package main_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// scopeToken creates a token of that scope (named after it) in the server database db and
// returns its secret.
func scopeToken(t *testing.T, db, scope string) string {
	t.Helper()
	out, err := exec.Command(hashikeBin, "token", "create", "--db", db, "--name", scope, "--scope", scope).Output()
	if err != nil {
		t.Fatalf("token create: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// TestServerAPIBadInput sends bad requests to a real server with real tokens: every one gets
// its documented status and an error body naming what is wrong, and nothing is recorded.
func TestServerAPIBadInput(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "server.db")
	admin, read := scopeToken(t, db, "admin"), scopeToken(t, db, "read")
	p := startServerAuth(t, true, nil, "--db", db)
	do := func(method, path, tok, body string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(method, p.url+path, strings.NewReader(body))
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		var m map[string]any
		json.Unmarshal(b, &m)
		return res.StatusCode, m
	}
	// A job to enqueue to (registered through the API, as JSON).
	job := `{"taskDefinition":{"containerDefinitions":[{"name":"app","image":"img","memory":64}]},"maxPayloadBytes":64}`
	if code, body := do("PUT", "/v1/jobs/ok", admin, job); code != http.StatusCreated {
		t.Fatalf("register: %d %v", code, body)
	}
	cases := []struct {
		name, method, path, token, body string
		status                          int
		says                            []string
	}{
		{"invalid cron", "PUT", "/v1/jobs/cronjob", admin,
			`{"taskDefinition":{"containerDefinitions":[{"name":"app","image":"img","memory":64}]},"schedule":{"expressions":[{"cron":"0 25 * * *"}]}}`,
			400, []string{"schedule.expressions[0].cron", "hour"}},
		{"unknown field in a definition", "PUT", "/v1/jobs/typo", admin,
			`{"taskDefinition":{"containerDefinitions":[{"name":"app","image":"img","memory":64}]},"retryStrategy":{"atempts":2}}`,
			400, []string{"atempts"}},
		{"unknown job", "POST", "/v1/jobs/nope/runs", admin, `{}`, 404, []string{"nope"}},
		{"payload too large", "POST", "/v1/jobs/ok/runs", admin, `{"payload":"` + strings.Repeat("x", 100) + `"}`, 413, []string{"limit"}},
		{"unknown field in a body", "POST", "/v1/jobs/ok/runs", admin, `{"priorty":1}`, 400, []string{"priorty"}},
		{"wrong type", "POST", "/v1/jobs/ok/runs", admin, `{"priority":"high"}`, 400, []string{"priority"}},
		{"missing token", "POST", "/v1/jobs/ok/runs", "", `{}`, 401, nil},
		{"bad token", "POST", "/v1/jobs/ok/runs", "hsk_0000", `{}`, 401, nil},
		{"read token submitting", "POST", "/v1/jobs/ok/runs", read, `{}`, 403, nil},
		{"read token registering", "PUT", "/v1/jobs/x", read, job, 403, nil},
	}
	for _, c := range cases {
		code, body := do(c.method, c.path, c.token, c.body)
		if code != c.status {
			t.Errorf("%s: status %d, want %d (%v)", c.name, code, c.status, body)
			continue
		}
		text, _ := json.Marshal(body)
		if _, ok := body["error"]; !ok {
			t.Errorf("%s: no error body: %s", c.name, text)
		}
		for _, s := range c.says {
			if !bytes.Contains(text, []byte(s)) {
				t.Errorf("%s: the error does not say %q: %s", c.name, s, text)
			}
		}
	}
	code, body := do("GET", "/v1/runs", read, "")
	if runs, _ := body["runs"].([]any); code != 200 || len(runs) != 0 {
		t.Errorf("bad requests recorded runs: %d %v", code, body)
	}
	if code, body := do("GET", "/v1/jobs", read, ""); code != 200 || len(body["jobs"].([]any)) != 1 {
		t.Errorf("bad definitions were registered: %v", body)
	}
}
