package main_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var csrfField = regexp.MustCompile(`name="csrf" value="([0-9a-f]+)"`)

// TestConsolePagesOnARealServer reads the jobs, queues, schedules, capacity and runners pages
// and the dashboard from a real server (SQLite) as a person logged in with a token, pauses a
// queue and suspends a schedule from them, and checks that the API sees the change; a
// read-only person sees no buttons and a forged POST of theirs changes nothing.
func TestConsolePagesOnARealServer(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "server.db")
	admin, read := scopeToken(t, db, "admin"), scopeToken(t, db, "read")
	p := startServerAuth(t, true, nil, "--db", db)

	api := func(method, path, body string, out any) int {
		t.Helper()
		req, _ := http.NewRequest(method, p.url+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+admin)
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		if out != nil {
			json.NewDecoder(res.Body).Decode(out)
		}
		return res.StatusCode
	}
	// Two versions of a job scheduled in Tokyo, in a queue of its own, paused: a run waits
	// there (and never starts a container).
	def := func(image string) string {
		return `{"queue":"etl","taskDefinition":{"containerDefinitions":[{"name":"app","image":"` + image + `","memory":64,` +
			`"environment":[{"name":"API_TOKEN","value":"tok-very-secret"}]}]},` +
			`"schedule":{"expressions":[{"cron":"30 2 * * *","timeZone":"Asia/Tokyo"}]}}`
	}
	for _, image := range []string{"etl:1", "etl:2"} {
		if code := api("PUT", "/v1/jobs/nightly", def(image), nil); code != http.StatusCreated {
			t.Fatalf("register %s: %d", image, code)
		}
	}
	if code := api("POST", "/v1/queues/etl/pause", "", nil); code != http.StatusOK {
		t.Fatalf("pause: %d", code)
	}
	if code := api("POST", "/v1/jobs/nightly/runs", `{}`, nil); code != http.StatusCreated {
		t.Fatalf("enqueue: %d", code)
	}

	browser := func(secret string) *http.Client {
		jar, _ := cookiejar.New(nil)
		c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		res, err := c.PostForm(p.url+"/ui/login", url.Values{"token": {secret}})
		if err != nil || res.StatusCode != http.StatusSeeOther {
			t.Fatalf("login: %v %v", res, err)
		}
		res.Body.Close()
		return c
	}
	get := func(c *http.Client, path string) string {
		t.Helper()
		res, err := c.Get(p.url + path)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		if res.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d\n%s", path, res.StatusCode, b)
		}
		if strings.Contains(string(b), "tok-very-secret") || strings.Contains(string(b), admin) || strings.Contains(string(b), read) {
			t.Errorf("GET %s shows a secret", path)
		}
		return string(b)
	}
	post := func(c *http.Client, path, csrf string, form url.Values) int {
		t.Helper()
		form.Set("csrf", csrf)
		res, err := c.PostForm(p.url+path, form)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	csrfOf := func(page string) string {
		m := csrfField.FindStringSubmatch(page)
		if m == nil {
			t.Fatalf("no CSRF field in\n%s", page)
		}
		return m[1]
	}
	has := func(path, page string, want ...string) {
		t.Helper()
		for _, w := range want {
			if !strings.Contains(page, w) {
				t.Errorf("%s lacks %q:\n%s", path, w, page)
			}
		}
	}

	ops := browser(admin)
	has("/ui/", get(ops, "/ui/"), "Queue backlog", `<a href="/ui/queues#queue-etl">etl</a>`)
	has("/ui/jobs", get(ops, "/ui/jobs"), `<a href="/ui/jobs/nightly">nightly</a>`, "<td>v2</td>")
	has("/ui/jobs/nightly", get(ops, "/ui/jobs/nightly"), "Job nightly", `&#34;image&#34;: &#34;etl:2&#34;`, `&#34;value&#34;: &#34;••••••&#34;`, `id="enqueue"`, "JST")
	diff := get(ops, "/ui/jobs/nightly/diff?from=1&to=2")
	for _, re := range []string{`<tr class="del">.*aria-label="del">-</td><td><code> +&#34;image&#34;: &#34;etl:1&#34;,</code>`,
		`<tr class="add">.*aria-label="add">&#43;</td><td><code> +&#34;image&#34;: &#34;etl:2&#34;,</code>`} {
		if !regexp.MustCompile(re).MatchString(diff) {
			t.Errorf("the diff lacks %s:\n%s", re, diff)
		}
	}
	queues := get(ops, "/ui/queues")
	has("/ui/queues", queues, `<tr id="queue-etl">`, `id="resume-etl"`, `id="pause-default"`, " ago)</span>") // the run waiting
	has("/ui/schedules", get(ops, "/ui/schedules"), `id="suspend-nightly"`, "02:30 JST", "Asia/Tokyo")
	has("/ui/capacity", get(ops, "/ui/capacity"), `id="not-configured"`)
	cli := exec.Command(hashikeBin, "capacity")
	cli.Env = append(cli.Environ(), "HASHIKE_SERVER="+p.url, "HASHIKE_TOKEN="+read)
	if out, err := cli.CombinedOutput(); err == nil || !strings.Contains(string(out), "runs no cluster autoscaler") {
		t.Errorf("hashike capacity without autoscalers: %v\n%s", err, out)
	}
	has("/ui/runners", get(ops, "/ui/runners"), `id="not-configured"`)

	// A read-only person sees no buttons, and their forged POSTs change nothing.
	viewer := browser(read)
	vq := get(viewer, "/ui/queues")
	vs := get(viewer, "/ui/schedules")
	for _, b := range []string{`id="resume-etl"`, `id="pause-default"`, `id="suspend-nightly"`, `id="trigger-nightly"`, `name="maxConcurrency"`} {
		if strings.Contains(vq+vs, b) {
			t.Errorf("the read-only person sees %s", b)
		}
	}
	if code := post(viewer, "/ui/queues/default", csrfOf(vq), url.Values{"action": {"pause"}}); code != http.StatusForbidden {
		t.Errorf("forged pause: %d", code)
	}
	if code := post(viewer, "/ui/schedules/nightly/suspend", csrfOf(vs), url.Values{}); code != http.StatusForbidden {
		t.Errorf("forged suspend: %d", code)
	}
	if code := post(ops, "/ui/queues/default", "0000", url.Values{"action": {"pause"}}); code != http.StatusForbidden {
		t.Errorf("pause without the session's CSRF token: %d", code)
	}
	var qs struct {
		Queues []struct {
			Name           string
			Paused         bool
			MaxConcurrency int
		}
	}
	api("GET", "/v1/queues", "", &qs)
	for _, q := range qs.Queues {
		if q.Name == "default" && q.Paused {
			t.Fatalf("a refused POST paused the queue")
		}
	}

	// The operator pauses a queue, caps another and suspends the schedule from the pages.
	csrf := csrfOf(queues)
	if code := post(ops, "/ui/queues/default", csrf, url.Values{"action": {"pause"}}); code != http.StatusSeeOther {
		t.Fatalf("pause: %d", code)
	}
	if code := post(ops, "/ui/queues/etl", csrf, url.Values{"action": {"concurrency"}, "maxConcurrency": {"3"}}); code != http.StatusSeeOther {
		t.Fatalf("concurrency: %d", code)
	}
	if code := post(ops, "/ui/schedules/nightly/suspend", csrf, url.Values{}); code != http.StatusSeeOther {
		t.Fatalf("suspend: %d", code)
	}
	api("GET", "/v1/queues", "", &qs)
	for _, q := range qs.Queues {
		if q.Name == "default" && !q.Paused || q.Name == "etl" && (!q.Paused || q.MaxConcurrency != 3) {
			t.Errorf("queue %s after the console's actions: %+v", q.Name, q)
		}
	}
	var sched struct{ Schedule struct{ Suspended bool } }
	api("GET", "/v1/jobs/nightly/schedule", "", &sched)
	if !sched.Schedule.Suspended {
		t.Errorf("the schedule is not suspended")
	}
	has("/ui/schedules", get(ops, "/ui/schedules"), `id="resume-nightly"`, "Would fire next, once resumed")
	has("/ui/queues", get(ops, "/ui/queues"), `id="resume-default"`, `id="resume-etl"`, "<td>3</td>")
}
