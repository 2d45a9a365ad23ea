package console

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/api"
	"github.com/hashike/hashike/cron"
)

// TestMorePagesGolden renders the jobs, queues and schedules pages in their states and
// compares each with its golden file (go test ./console -update rewrites them).
func TestMorePagesGolden(t *testing.T) {
	for _, tt := range []struct {
		name, secret, path string
		runs               []api.RunView
		status             int
		empty              bool // no jobs, queues or schedules
		mutate             func(*pagesFake)
	}{
		{"dashboard-empty", "read-secret", "/ui/", nil, 200, true, nil},
		{"dashboard", "submit-secret", "/ui/", fixtureRuns(), 200, false, nil},
		{"capacity-not-configured", "read-secret", "/ui/capacity", nil, 200, false, nil},
		{"capacity", "read-secret", "/ui/capacity", nil, 200, false, func(f *pagesFake) { f.capacity = fixtureCapacity() }},
		{"capacity-follower", "read-secret", "/ui/capacity", nil, 200, false, func(f *pagesFake) {
			f.capacity = &api.CapacityStatus{Clusters: []api.ClusterCapacity{{Name: "batch", Policy: "hashike"}}}
		}},
		{"runners-not-configured", "read-secret", "/ui/runners", nil, 200, false, nil},
		{"runners", "read-secret", "/ui/runners", nil, 200, false, func(f *pagesFake) { f.runners = fixtureRunners() }},
		{"runners-follower", "read-secret", "/ui/runners", nil, 200, false, func(f *pagesFake) { f.runners = &api.RunnersStatus{} }},
		{"jobs-empty", "admin-secret", "/ui/jobs", nil, 200, true, nil},
		{"jobs", "read-secret", "/ui/jobs", fixtureRuns(), 200, false, nil},
		{"job", "submit-secret", "/ui/jobs/etl", fixtureRuns(), 200, false, nil},
		{"job-readonly", "read-secret", "/ui/jobs/etl", fixtureRuns(), 200, false, nil},
		{"job-old-version", "admin-secret", "/ui/jobs/etl?version=1", fixtureRuns(), 200, false, nil},
		{"job-no-runs", "admin-secret", "/ui/jobs/report", nil, 200, false, nil},
		{"job-notfound", "admin-secret", "/ui/jobs/nope", nil, 404, false, nil},
		{"job-bad-version", "admin-secret", "/ui/jobs/etl?version=x", nil, 400, false, nil},
		{"jobdiff", "read-secret", "/ui/jobs/etl/diff?from=1&to=3", nil, 200, false, nil},
		{"jobdiff-same", "read-secret", "/ui/jobs/etl/diff?from=2&to=2", nil, 200, false, nil},
		{"queues-empty", "admin-secret", "/ui/queues", nil, 200, true, nil},
		{"queues", "admin-secret", "/ui/queues", fixtureRuns(), 200, false, nil},
		{"queues-readonly", "submit-secret", "/ui/queues", fixtureRuns(), 200, false, nil},
		{"schedules-empty", "admin-secret", "/ui/schedules", nil, 200, true, nil},
		{"schedules", "admin-secret", "/ui/schedules", fixtureRuns(), 200, false, nil},
		{"schedules-readonly", "read-secret", "/ui/schedules", fixtureRuns(), 200, false, nil},
		{"schedules-in-window", "admin-secret", "/ui/schedules", nil, 200, false, func(f *pagesFake) {
			// report resumed, in a window of 09:00-10:30 UTC every day, the fixture's now being 09:10.
			f.schedules = f.schedules[1:]
			f.schedules[0].Schedule.Suspended = false
			f.schedules[0].Schedule.SuspendWindows = []cron.Window{{Cron: "0 9 * * *", Duration: hashike.Duration(90 * time.Minute)}}
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tc, f := newPagesConsole(t, tt.runs, Options{})
			if tt.empty {
				f.queues, f.schedules, f.versions, f.jobs = nil, nil, nil, nil
			}
			if tt.mutate != nil {
				tt.mutate(f)
			}
			ck := tc.login(tt.secret)
			w := tc.do("GET", tt.path, nil, ck)
			if w.Code != tt.status {
				t.Fatalf("GET %s: %d, want %d\n%s", tt.path, w.Code, tt.status, w.Body)
			}
			body := w.Body.String()
			for _, secret := range []string{tt.secret, "hunter2", "slacksecret", "T0000"} {
				if strings.Contains(body, secret) {
					t.Errorf("the page shows a secret: %q", secret)
				}
			}
			golden(t, tt.name, w.Body.Bytes())
		})
	}
}

// TestMorePagesActions: each action of these pages needs the CSRF token and the scope the
// JSON API's route needs; allowed, it does what it says and returns to a page.
func TestMorePagesActions(t *testing.T) {
	tc, f := newPagesConsole(t, fixtureRuns(), Options{})
	reader, submitter, admin := tc.login("read-secret"), tc.login("submit-secret"), tc.login("admin-secret")
	for _, tt := range []struct {
		name     string
		ck       *http.Cookie
		path     string
		form     url.Values
		status   int
		location string
	}{
		{"reader pauses a queue", reader, "/ui/queues/default", url.Values{"csrf": {tc.csrf(reader)}, "action": {"pause"}}, 403, ""},
		{"submitter pauses a queue", submitter, "/ui/queues/default", url.Values{"csrf": {tc.csrf(submitter)}, "action": {"pause"}}, 403, ""},
		{"admin pauses without csrf", admin, "/ui/queues/default", url.Values{"action": {"pause"}}, 403, ""},
		{"reader suspends a schedule", reader, "/ui/schedules/etl/suspend", url.Values{"csrf": {tc.csrf(reader)}}, 403, ""},
		{"submitter suspends a schedule", submitter, "/ui/schedules/etl/suspend", url.Values{"csrf": {tc.csrf(submitter)}}, 403, ""},
		{"reader triggers", reader, "/ui/schedules/etl/trigger", url.Values{"csrf": {tc.csrf(reader)}}, 403, ""},
		{"submitter triggers with a forged csrf", submitter, "/ui/schedules/etl/trigger", url.Values{"csrf": {"forged-" + tc.csrf(submitter)}}, 403, ""},
		{"no session", nil, "/ui/queues/default", url.Values{"action": {"pause"}}, 401, ""},

		{"admin pauses", admin, "/ui/queues/default", url.Values{"csrf": {tc.csrf(admin)}, "action": {"pause"}}, 303, "/ui/queues"},
		{"admin resumes", admin, "/ui/queues/fast", url.Values{"csrf": {tc.csrf(admin)}, "action": {"resume"}}, 303, "/ui/queues"},
		{"admin sets concurrency", admin, "/ui/queues/default", url.Values{"csrf": {tc.csrf(admin)}, "action": {"concurrency"}, "maxConcurrency": {" 12 "}}, 303, "/ui/queues"},
		{"admin suspends", admin, "/ui/schedules/etl/suspend", url.Values{"csrf": {tc.csrf(admin)}}, 303, "/ui/schedules"},
		{"admin resumes from the job page", admin, "/ui/schedules/report/resume", url.Values{"csrf": {tc.csrf(admin)}, "back": {"/ui/jobs/report"}}, 303, "/ui/jobs/report"},
		{"back elsewhere is ignored", admin, "/ui/schedules/report/resume", url.Values{"csrf": {tc.csrf(admin)}, "back": {"//evil.example/ui/x"}}, 303, "/ui/schedules"},
		{"submitter triggers", submitter, "/ui/schedules/etl/trigger", url.Values{"csrf": {tc.csrf(submitter)}}, 303, "/ui/runs/run-new"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w := tc.do("POST", tt.path, tt.form, tt.ck)
			if w.Code != tt.status || w.Header().Get("Location") != tt.location {
				t.Errorf("%d %q, want %d %q\n%s", w.Code, w.Header().Get("Location"), tt.status, tt.location, w.Body)
			}
		})
	}
	want := []string{
		"PutQueue default paused 4", "PutQueue fast active 0", "PutQueue default paused 12",
		"SetSuspended etl true", "SetSuspended report false", "SetSuspended report false", "Trigger etl",
	}
	if got := strings.Join(tc.fake.calls, "\n"); got != strings.Join(want, "\n") {
		t.Errorf("calls:\n%s\nwant:\n%s", got, strings.Join(want, "\n"))
	}
	// What the pages show afterwards: the queue paused with its new cap, the schedule suspended.
	body := tc.do("GET", "/ui/queues", nil, reader).Body.String()
	if !strings.Contains(body, `<tr id="queue-default">`) || !strings.Contains(body, "<td>12</td>") {
		t.Errorf("queues page after the changes:\n%s", body)
	}
	if f.queues[0].Paused != true || f.schedules[0].Schedule.Suspended != true {
		t.Errorf("queue %+v, schedule %+v", f.queues[0], f.schedules[0].Schedule)
	}
}

func TestMorePagesBadInput(t *testing.T) {
	tc, _ := newPagesConsole(t, fixtureRuns(), Options{})
	admin := tc.login("admin-secret")
	csrf := tc.csrf(admin)
	for _, tt := range []struct {
		name, method, path string
		form               url.Values
		status             int
		want               string
	}{
		{"concurrency not a number", "POST", "/ui/queues/default", url.Values{"csrf": {csrf}, "action": {"concurrency"}, "maxConcurrency": {"ten"}}, 400, `maxConcurrency: &#34;ten&#34; is not a whole number`},
		{"concurrency negative", "POST", "/ui/queues/default", url.Values{"csrf": {csrf}, "action": {"concurrency"}, "maxConcurrency": {"-1"}}, 400, "maxConcurrency"},
		{"concurrency empty", "POST", "/ui/queues/default", url.Values{"csrf": {csrf}, "action": {"concurrency"}}, 400, "maxConcurrency"},
		{"unknown action", "POST", "/ui/queues/default", url.Values{"csrf": {csrf}, "action": {"drop"}}, 400, `action: unknown action &#34;drop&#34;`},
		{"unknown queue", "POST", "/ui/queues/nope", url.Values{"csrf": {csrf}, "action": {"pause"}}, 404, `no queue &#34;nope&#34;`},
		{"diff without versions", "GET", "/ui/jobs/etl/diff", nil, 400, "from: choose two versions"},
		{"diff of a missing version", "GET", "/ui/jobs/etl/diff?from=1&to=9", nil, 404, "version 9"},
		{"diff bad version", "GET", "/ui/jobs/etl/diff?from=0&to=2", nil, 400, `from: &#34;0&#34; is not a version`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w := tc.do(tt.method, tt.path, tt.form, admin)
			if w.Code != tt.status || !strings.Contains(w.Body.String(), tt.want) {
				t.Errorf("%d, want %d with %q\n%s", w.Code, tt.status, tt.want, w.Body)
			}
		})
	}
	if len(tc.fake.calls) != 0 {
		t.Errorf("bad input reached the service: %v", tc.fake.calls)
	}
}

func TestDefinitionTextMasksSecrets(t *testing.T) {
	text := definitionText(etlDefinition(3))
	for _, s := range []string{"hunter2", "slacksecret", "T0000", "/services/"} {
		if strings.Contains(text, s) {
			t.Errorf("definition shows %q:\n%s", s, text)
		}
	}
	for _, s := range []string{`"value": "db.internal"`, `"url": "https://hooks.slack.com/••••••"`} {
		if !strings.Contains(text, s) {
			t.Errorf("definition lacks %q:\n%s", s, text)
		}
	}
	if !regexp.MustCompile(`"name": "DB_PASSWORD",\n\s+"value": "••••••"`).MatchString(text) {
		t.Errorf("DB_PASSWORD is not masked:\n%s", text)
	}
	for in, want := range map[string]string{
		"https://example.com":              "https://example.com",
		"https://u:p@example.com/":         "https://example.com/••••••",
		"https://example.com/hook?token=x": "https://example.com/••••••",
		"not a url":                        "••••••",
	} {
		if got := maskURL(in); got != want {
			t.Errorf("maskURL(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestDashboardFragment: the dashboard's live refresh gets its body only, still refreshing.
func TestDashboardFragment(t *testing.T) {
	tc, _ := newPagesConsole(t, fixtureRuns(), Options{})
	w := tc.do("GET", "/ui/?fragment=dash", nil, tc.login("read-secret"), "HX-Request", "true")
	body := w.Body.String()
	if w.Code != 200 || !strings.HasPrefix(strings.TrimSpace(body), `<div id="dash" hx-get="/ui/?fragment=dash"`) || strings.Contains(body, "<html") {
		t.Fatalf("fragment: %d\n%s", w.Code, body)
	}
	// One failure in 24 hours (run-failed), the running run, the queued one's wait.
	for _, want := range []string{`<span class="n" id="failures-24h">1</span>`, `href="/ui/runs/run-failed"`, `href="/ui/runs/run-running"`, "<td>4m00s</td>"} {
		if !strings.Contains(body, want) {
			t.Errorf("the dashboard lacks %s:\n%s", want, body)
		}
	}
}

// TestMorePagesReadOnlySeesNoActions: on these pages a reader gets no form that acts; a
// submitter gets enqueue and trigger, not the admin's pause, cap and suspend.
func TestMorePagesReadOnlySeesNoActions(t *testing.T) {
	tc, _ := newPagesConsole(t, fixtureRuns(), Options{})
	forms := func(secret, path string) string {
		body := tc.do("GET", path, nil, tc.login(secret)).Body.String()
		main := body[strings.Index(body, "<main"):strings.Index(body, "</main>")]
		var actions []string
		for _, f := range regexp.MustCompile(`<form method="post" action="([^"]+)"`).FindAllStringSubmatch(main, -1) {
			actions = append(actions, f[1])
		}
		return strings.Join(actions, " ")
	}
	for _, tt := range []struct{ secret, path, want string }{
		{"read-secret", "/ui/", ""},
		{"read-secret", "/ui/jobs/etl", ""},
		{"read-secret", "/ui/queues", ""},
		{"read-secret", "/ui/schedules", ""},
		{"submit-secret", "/ui/jobs/etl", "/ui/enqueue /ui/schedules/etl/trigger"},
		{"submit-secret", "/ui/queues", ""},
		{"submit-secret", "/ui/schedules", "/ui/schedules/etl/trigger /ui/schedules/report/trigger"},
		{"admin-secret", "/ui/queues", "/ui/queues/default /ui/queues/default /ui/queues/fast /ui/queues/fast"},
		{"admin-secret", "/ui/schedules", "/ui/schedules/etl/suspend /ui/schedules/etl/trigger /ui/schedules/report/resume /ui/schedules/report/trigger"},
	} {
		if got := forms(tt.secret, tt.path); got != tt.want {
			t.Errorf("%s on %s: forms %q, want %q", tt.secret, tt.path, got, tt.want)
		}
	}
}
