package console

import (
	"bytes"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/api"
)

var assetVersion = regexp.MustCompile(`\?v=[0-9a-f]{12}`)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/ with what the pages render now")

// testConsole is a console over a fake service, with a fixed clock and randomness.
type testConsole struct {
	t    *testing.T
	c    *Console
	fake *fakeService
}

func newTestConsole(t *testing.T, runs []api.RunView, opts Options) *testConsole {
	t.Helper()
	f := newFake(runs)
	opts.Now = func() time.Time { return now }
	opts.Random = zeroReader{}
	c, err := New(f, opts)
	if err != nil {
		t.Fatal(err)
	}
	return &testConsole{t: t, c: c, fake: f}
}

// do serves one request; cookie nil sends none.
func (tc *testConsole) do(method, target string, form url.Values, cookie *http.Cookie, hdr ...string) *httptest.ResponseRecorder {
	tc.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	r := httptest.NewRequest(method, target, body)
	if form != nil {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	if cookie != nil {
		r.AddCookie(cookie)
	}
	w := httptest.NewRecorder()
	tc.c.ServeHTTP(w, r)
	return w
}

// login logs in with secret and returns the session cookie.
func (tc *testConsole) login(secret string) *http.Cookie {
	tc.t.Helper()
	w := tc.do("POST", "/ui/login", url.Values{"token": {secret}}, nil, "Sec-Fetch-Site", "same-origin")
	if w.Code != http.StatusSeeOther {
		tc.t.Fatalf("login with %s: %d\n%s", secret, w.Code, w.Body)
	}
	for _, c := range w.Result().Cookies() {
		if c.Name == cookieName {
			return c
		}
	}
	tc.t.Fatalf("login set no session cookie")
	return nil
}

// csrf is the CSRF token the pages of a session carry.
func (tc *testConsole) csrf(ck *http.Cookie) string {
	tc.t.Helper()
	v, err := tc.c.sessions.open(&http.Request{Header: http.Header{"Cookie": {ck.String()}}}, now)
	if err != nil {
		tc.t.Fatal(err)
	}
	return v.CSRF
}

// golden compares got with testdata/NAME.html (rewritten with -update).
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	// Asset URLs carry a digest of the file: a change to the CSS is not a change to a page.
	got = assetVersion.ReplaceAll(got, []byte("?v=VERSION"))
	p := filepath.Join("testdata", name+".html")
	if *update {
		if err := os.WriteFile(p, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run go test ./console -update to write it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from %s (go test ./console -update rewrites it); got:\n%s", name, p, got)
	}
}

// TestPagesGolden renders each page in each of its states and compares it with its golden
// file: what a person sees, by scope.
func TestPagesGolden(t *testing.T) {
	for _, tt := range []struct {
		name, secret, path string
		runs               []api.RunView
		status             int
	}{
		{"login", "", "/ui/login", nil, 200},
		{"runs-empty", "admin-secret", "/ui/runs", nil, 200},
		{"runs", "admin-secret", "/ui/runs", fixtureRuns(), 200},
		{"runs-readonly", "read-secret", "/ui/runs", fixtureRuns(), 200},
		{"runs-filtered-none", "admin-secret", "/ui/runs?state=lost&job=etl", fixtureRuns(), 200},
		{"runs-page2", "admin-secret", "/ui/runs?before=run-running", fixtureRuns(), 200},
		{"runs-text", "admin-secret", "/ui/runs?q=exited+3", fixtureRuns(), 200},
		{"run-running", "submit-secret", "/ui/runs/run-running", fixtureRuns(), 200},
		{"run-failed", "submit-secret", "/ui/runs/run-failed", fixtureRuns(), 200},
		{"run-failed-readonly", "read-secret", "/ui/runs/run-failed", fixtureRuns(), 200},
		{"run-queued", "admin-secret", "/ui/runs/run-queued", fixtureRuns(), 200},
		{"run-notfound", "admin-secret", "/ui/runs/nope", fixtureRuns(), 404},
		{"enqueue", "admin-secret", "/ui/enqueue?job=report", nil, 200},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tc := newTestConsole(t, tt.runs, Options{})
			var ck *http.Cookie
			if tt.secret != "" {
				ck = tc.login(tt.secret)
			}
			w := tc.do("GET", tt.path, nil, ck)
			if w.Code != tt.status {
				t.Fatalf("GET %s: %d, want %d\n%s", tt.path, w.Code, tt.status, w.Body)
			}
			if strings.Contains(w.Body.String(), tt.secret+"\"") && tt.secret != "" {
				t.Errorf("the page shows the token's secret")
			}
			golden(t, tt.name, w.Body.Bytes())
		})
	}
}

// TestRunsFragment: the live refresh of the runs list (htmx) gets the rows only.
func TestRunsFragment(t *testing.T) {
	tc := newTestConsole(t, fixtureRuns(), Options{})
	ck := tc.login("read-secret")
	w := tc.do("GET", "/ui/runs?fragment=rows&state=running", nil, ck, "HX-Request", "true")
	body := w.Body.String()
	if w.Code != 200 || !strings.HasPrefix(strings.TrimSpace(body), `<tbody id="runs-body"`) || strings.Contains(body, "<html") {
		t.Fatalf("fragment: %d\n%s", w.Code, body)
	}
	if !strings.Contains(body, "run-running") || strings.Contains(body, "run-failed") {
		t.Errorf("fragment ignores the filter:\n%s", body)
	}
	if !strings.Contains(body, `hx-get="/ui/runs?fragment=rows&amp;state=running"`) {
		t.Errorf("the fragment does not keep refreshing with its filter:\n%s", body)
	}
}

func TestLoginAndSession(t *testing.T) {
	tc := newTestConsole(t, fixtureRuns(), Options{})

	// No session: a page redirects to the login, keeping where the person was going.
	w := tc.do("GET", "/ui/runs/run-failed", nil, nil)
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/ui/login?next=%2Fui%2Fruns%2Frun-failed" {
		t.Fatalf("no session: %d %s", w.Code, w.Header().Get("Location"))
	}
	// A wrong token: the form again, with a reason, and no cookie.
	w = tc.do("POST", "/ui/login", url.Values{"token": {"nope"}}, nil, "Sec-Fetch-Site", "same-origin")
	if w.Code != http.StatusUnauthorized || !strings.Contains(w.Body.String(), "unknown or revoked") || len(w.Result().Cookies()) != 0 {
		t.Fatalf("bad token: %d %v\n%s", w.Code, w.Result().Cookies(), w.Body)
	}
	// A login posted from another site is refused.
	w = tc.do("POST", "/ui/login", url.Values{"token": {"admin-secret"}}, nil, "Sec-Fetch-Site", "cross-site")
	if w.Code != http.StatusForbidden || len(w.Result().Cookies()) != 0 {
		t.Fatalf("cross-site login: %d", w.Code)
	}
	// A good one: an HttpOnly, SameSite cookie that does not hold the secret in clear, and a
	// redirect to next (only within the console).
	w = tc.do("POST", "/ui/login", url.Values{"token": {"admin-secret"}, "next": {"/ui/runs/run-ok"}}, nil, "Sec-Fetch-Site", "same-origin")
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/ui/runs/run-ok" {
		t.Fatalf("login: %d %s", w.Code, w.Header().Get("Location"))
	}
	ck := w.Result().Cookies()[0]
	if !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode || ck.Path != "/ui/" || strings.Contains(ck.Value, "admin-secret") {
		t.Errorf("cookie %+v", ck)
	}
	for _, next := range []string{"https://evil.example/", "//evil.example/ui/", "/v1/tokens", "/ui/\\evil"} {
		w = tc.do("POST", "/ui/login", url.Values{"token": {"admin-secret"}, "next": {next}}, nil, "Sec-Fetch-Site", "same-origin")
		if loc := w.Header().Get("Location"); loc != "/ui/runs" {
			t.Errorf("next %q redirects to %q", next, loc)
		}
	}
	// A forged or tampered cookie is no session.
	bad := *ck
	bad.Value = ck.Value[:len(ck.Value)-2] + "AA"
	if w = tc.do("GET", "/ui/runs", nil, &bad); w.Code != http.StatusSeeOther {
		t.Errorf("tampered cookie: %d", w.Code)
	}
	// A revoked token ends its sessions at once.
	delete(tc.fake.tokens, "admin-secret")
	if w = tc.do("GET", "/ui/runs", nil, ck); w.Code != http.StatusSeeOther {
		t.Errorf("revoked token: %d", w.Code)
	}
	// An expired session is no session.
	tc2 := newTestConsole(t, nil, Options{SessionTTL: time.Minute})
	ck2 := tc2.login("read-secret")
	tc2.c.opts.Now = func() time.Time { return now.Add(2 * time.Minute) }
	if w = tc2.do("GET", "/ui/runs", nil, ck2); w.Code != http.StatusSeeOther {
		t.Errorf("expired session: %d", w.Code)
	}
}

func TestLogout(t *testing.T) {
	tc := newTestConsole(t, nil, Options{})
	ck := tc.login("read-secret")
	if w := tc.do("POST", "/ui/logout", url.Values{}, ck); w.Code != http.StatusForbidden {
		t.Errorf("logout without the CSRF token: %d", w.Code)
	}
	w := tc.do("POST", "/ui/logout", url.Values{"csrf": {tc.csrf(ck)}}, ck)
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/ui/login" {
		t.Fatalf("logout: %d %s", w.Code, w.Header().Get("Location"))
	}
	if c := w.Result().Cookies(); len(c) != 1 || c[0].MaxAge >= 0 {
		t.Errorf("logout leaves the cookie: %+v", c)
	}
}

// TestActionsNeedScopeAndCSRF: every POST needs the session's CSRF token, and an action the
// scope does not allow is refused even when the form is forged.
func TestActionsNeedScopeAndCSRF(t *testing.T) {
	tc := newTestConsole(t, fixtureRuns(), Options{})
	reader, submitter := tc.login("read-secret"), tc.login("submit-secret")
	for _, tt := range []struct {
		name   string
		ck     *http.Cookie
		path   string
		form   url.Values
		status int
	}{
		{"reader cancels", reader, "/ui/runs/run-running/cancel", url.Values{"csrf": {tc.csrf(reader)}}, 403},
		{"reader reruns", reader, "/ui/runs/run-failed/rerun", url.Values{"csrf": {tc.csrf(reader)}}, 403},
		{"reader enqueues", reader, "/ui/enqueue", url.Values{"csrf": {tc.csrf(reader)}, "job": {"etl"}}, 403},
		{"no csrf", submitter, "/ui/runs/run-running/cancel", url.Values{}, 403},
		{"wrong csrf", submitter, "/ui/runs/run-running/cancel", url.Values{"csrf": {"00"}}, 403},
		{"another session's csrf", submitter, "/ui/runs/run-running/cancel", url.Values{"csrf": {"not-" + tc.csrf(submitter)}}, 403},
		{"no session", nil, "/ui/runs/run-running/cancel", url.Values{}, 401},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w := tc.do("POST", tt.path, tt.form, tt.ck)
			if w.Code != tt.status {
				t.Errorf("%d, want %d\n%s", w.Code, tt.status, w.Body)
			}
		})
	}
	if len(tc.fake.calls) != 0 {
		t.Errorf("refused actions reached the service: %v", tc.fake.calls)
	}
	// The submitter's own forms work: cancel, rerun with a payload, enqueue.
	csrf := tc.csrf(submitter)
	w := tc.do("POST", "/ui/runs/run-running/cancel", url.Values{"csrf": {csrf}}, submitter)
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/ui/runs/run-running" {
		t.Errorf("cancel: %d %s", w.Code, w.Header().Get("Location"))
	}
	w = tc.do("POST", "/ui/runs/run-failed/rerun", url.Values{"payload": {`{"day": "2026-11-30"}`}}, submitter, "X-CSRF-Token", csrf)
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/ui/runs/run-new" {
		t.Errorf("rerun: %d %s", w.Code, w.Header().Get("Location"))
	}
	w = tc.do("POST", "/ui/enqueue", url.Values{"csrf": {csrf}, "job": {"etl"}, "payload": {"[1,2]"}}, submitter)
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/ui/runs/run-new" {
		t.Errorf("enqueue: %d %s", w.Code, w.Header().Get("Location"))
	}
	want := []string{"Cancel run-running canceled in the console by dev (submit)", `Rerun run-failed {"day": "2026-11-30"}`, "Enqueue etl [1,2]"}
	if strings.Join(tc.fake.calls, "\n") != strings.Join(want, "\n") {
		t.Errorf("calls:\n%s\nwant:\n%s", strings.Join(tc.fake.calls, "\n"), strings.Join(want, "\n"))
	}
	// A payload that is not JSON is refused naming the field, before the service.
	w = tc.do("POST", "/ui/runs/run-failed/rerun", url.Values{"csrf": {csrf}, "payload": {"{day:"}}, submitter)
	if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), "payload: not JSON") {
		t.Errorf("bad payload: %d\n%s", w.Code, w.Body)
	}
	w = tc.do("POST", "/ui/runs/run-failed/rerun", url.Values{"csrf": {csrf}, "payload": {`"` + strings.Repeat("x", 2000) + `"`}}, submitter)
	if w.Code != http.StatusRequestEntityTooLarge {
		t.Errorf("payload over the limit: %d", w.Code)
	}
	if len(tc.fake.calls) != 3 {
		t.Errorf("bad payloads reached the service: %v", tc.fake.calls[3:])
	}
}

func TestNoAuth(t *testing.T) {
	tc := newTestConsole(t, fixtureRuns(), Options{NoAuth: true})
	w := tc.do("GET", "/ui/runs/run-running", nil, nil)
	if w.Code != 200 || !strings.Contains(w.Body.String(), `id="cancel"`) {
		t.Fatalf("no-auth run page: %d", w.Code)
	}
	cks := w.Result().Cookies()
	if len(cks) != 1 {
		t.Fatalf("no-auth: no session cookie for the CSRF token")
	}
	if w := tc.do("POST", "/ui/runs/run-running/cancel", url.Values{}, cks[0]); w.Code != http.StatusForbidden {
		t.Errorf("no-auth still needs the CSRF token: %d", w.Code)
	}
	if w := tc.do("POST", "/ui/runs/run-running/cancel", url.Values{"csrf": {tc.csrf(cks[0])}}, cks[0]); w.Code != http.StatusSeeOther {
		t.Errorf("no-auth cancel: %d", w.Code)
	}
}

func TestBadFilters(t *testing.T) {
	tc := newTestConsole(t, fixtureRuns(), Options{})
	ck := tc.login("read-secret")
	w := tc.do("GET", "/ui/runs?state=done&since=1y&job="+strings.Repeat("j", 300), nil, ck)
	body := w.Body.String()
	if w.Code != http.StatusBadRequest {
		t.Fatalf("bad filters: %d", w.Code)
	}
	for _, want := range []string{`job: longer than 200`, `since: unknown time range`, `state: unknown state`} {
		if !strings.Contains(body, want) {
			t.Errorf("the error page does not say %q:\n%s", want, body)
		}
	}
}

func TestLogStreamAndText(t *testing.T) {
	tc := newTestConsole(t, fixtureRuns(), Options{})
	ck := tc.login("read-secret")
	w := tc.do("GET", "/ui/runs/run-failed/logs/stream", nil, ck)
	want := "retry: 2000\n\n" +
		"id: 2\ndata: [{\"c\":\"app\",\"s\":\"stdout\",\"t\":\"2026-11-30T09:02:06Z\",\"d\":\"loading day 2026-11-29\\n\"}," +
		"{\"c\":\"app\",\"s\":\"stderr\",\"t\":\"2026-11-30T09:02:07Z\",\"d\":\"error: \\u003ctable\\u003e missing \\u0026 gone\\n\"}]\n\n" +
		"event: end\ndata: {\"state\":\"failed\"}\n\n"
	if w.Code != 200 || w.Header().Get("Content-Type") != "text/event-stream" || w.Body.String() != want {
		t.Errorf("stream: %d %s\n%q\nwant\n%q", w.Code, w.Header().Get("Content-Type"), w.Body, want)
	}
	// A reconnecting browser gets only what it missed.
	w = tc.do("GET", "/ui/runs/run-failed/logs/stream", nil, ck, "Last-Event-ID", "1")
	if strings.Contains(w.Body.String(), "loading day") || !strings.Contains(w.Body.String(), "id: 2\ndata: [{\"c\":\"app\",\"s\":\"stderr\"") {
		t.Errorf("resumed stream:\n%s", w.Body)
	}
	w = tc.do("GET", "/ui/runs/run-failed/logs.txt?download=1", nil, ck)
	if w.Body.String() != "loading day 2026-11-29\nerror: <table> missing & gone\n" ||
		w.Header().Get("Content-Disposition") != `attachment; filename="run-failed.log"` || w.Header().Get("Content-Type") != "text/plain; charset=utf-8" {
		t.Errorf("logs.txt: %v\n%q", w.Header(), w.Body)
	}
	if w = tc.do("GET", "/ui/runs/nope/logs/stream", nil, ck); w.Code != 404 {
		t.Errorf("stream of no run: %d", w.Code)
	}
}

func TestAssets(t *testing.T) {
	n, err := AssetBytes()
	if err != nil {
		t.Fatal(err)
	}
	const limit = 200 << 10
	if n > limit {
		t.Errorf("embedded assets are %d bytes, over the %d-byte budget", n, limit)
	}
	t.Logf("embedded assets: %d bytes", n)
	tc := newTestConsole(t, nil, Options{})
	a := tc.c.assets["htmx.min.js"]
	w := tc.do("GET", "/ui/assets/htmx.min.js?v="+a.version, nil, nil)
	if w.Code != 200 || w.Header().Get("Content-Type") != "text/javascript; charset=utf-8" ||
		!strings.Contains(w.Header().Get("Cache-Control"), "immutable") || !bytes.Equal(w.Body.Bytes(), a.body) {
		t.Errorf("asset: %d %v", w.Code, w.Header())
	}
	if !bytes.Contains(a.body, []byte(`version:"2.0.`)) {
		t.Errorf("the vendored htmx is not a 2.0.x release")
	}
	if w := tc.do("GET", "/ui/assets/nope.js", nil, nil); w.Code != 404 {
		t.Errorf("missing asset: %d", w.Code)
	}
}

func TestECSTaskLink(t *testing.T) {
	for _, tt := range []struct{ id, cluster, want string }{
		{"arn:aws:ecs:eu-west-1:123456789012:task/prod/0f1e", "", "https://eu-west-1.console.aws.amazon.com/ecs/v2/clusters/prod/tasks/0f1e/configuration?region=eu-west-1"},
		{"arn:aws:ecs:us-east-1:123456789012:task/0f1e", "arn:aws:ecs:us-east-1:123456789012:cluster/old", "https://us-east-1.console.aws.amazon.com/ecs/v2/clusters/old/tasks/0f1e/configuration?region=us-east-1"},
		{"arn:aws-cn:ecs:cn-north-1:123456789012:task/c/1", "", "https://cn-north-1.console.amazonaws.cn/ecs/v2/clusters/c/tasks/1/configuration?region=cn-north-1"},
		{"01m94tz7m2xwr4cp6rwjmpzc89", "", ""},
		{"arn:aws:s3:::bucket/task/x", "", ""},
		{"arn:aws:ecs:us-east-1:1:task/0f1e", "", ""},
	} {
		if got := ecsTaskLink(&hashike.TaskRef{ID: tt.id, Cluster: tt.cluster}); got != tt.want {
			t.Errorf("%s: %q, want %q", tt.id, got, tt.want)
		}
	}
}

// TestReadOnlySeesNoActions: the buttons follow the scope (the golden files show the rest).
func TestReadOnlySeesNoActions(t *testing.T) {
	tc := newTestConsole(t, fixtureRuns(), Options{})
	for _, tt := range []struct {
		secret string
		path   string
		want   bool
	}{
		{"read-secret", "/ui/runs/run-running", false},
		{"submit-secret", "/ui/runs/run-running", true},
		{"read-secret", "/ui/runs/run-failed", false},
		{"submit-secret", "/ui/runs/run-failed", true},
		{"read-secret", "/ui/runs", false},
		{"submit-secret", "/ui/runs", true},
	} {
		body := tc.do("GET", tt.path, nil, tc.login(tt.secret)).Body.String()
		for _, action := range []string{`id="cancel"`, `id="rerun"`, `href="/ui/enqueue"`} {
			has := strings.Contains(body, action)
			if has && !tt.want {
				t.Errorf("%s sees %s on %s", tt.secret, action, tt.path)
			}
		}
		if tt.want != (strings.Contains(body, `id="cancel"`) || strings.Contains(body, `id="rerun"`) || strings.Contains(body, `href="/ui/enqueue"`)) {
			t.Errorf("%s on %s: actions shown %v, want %v", tt.secret, tt.path, !tt.want, tt.want)
		}
	}
}

// TestDatabaseDownIsNotALogout: a session whose token cannot be checked gets an error page
// (503), not the login form; the page does not say how the database is reached.
func TestDatabaseDownIsNotALogout(t *testing.T) {
	tc := newTestConsole(t, fixtureRuns(), Options{})
	ck := tc.login("read-secret")
	tc.fake.authErr = &hashike.Error{Code: hashike.EUnavailable, Message: "dial tcp 10.0.0.7:5432: connection refused"}
	w := tc.do("GET", "/ui/runs", nil, ck)
	if w.Code != http.StatusServiceUnavailable || strings.Contains(w.Body.String(), "10.0.0.7") {
		t.Errorf("database down: %d\n%s", w.Code, w.Body)
	}
}

func TestFormTooLarge(t *testing.T) {
	tc := newTestConsole(t, fixtureRuns(), Options{})
	ck := tc.login("submit-secret")
	w := tc.do("POST", "/ui/runs/run-failed/rerun", url.Values{"csrf": {tc.csrf(ck)}, "payload": {strings.Repeat("x", 100<<10)}}, ck)
	if w.Code != http.StatusRequestEntityTooLarge || len(tc.fake.calls) != 0 {
		t.Errorf("a form over the limit: %d, calls %v", w.Code, tc.fake.calls)
	}
}
