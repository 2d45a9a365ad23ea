package main_test

// The web console in a real headless Chromium, against a real `hashike server` on the real
// Docker Engine: what a person does in the browser, end to end. Chromium is Debian's
// `chromium` (.ci/run installs it); without it the test fails, never skips.

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/docker/dockertest"
	"github.com/hashike/hashike/httpapi"
)

var consoleScreenshots = flag.String("console-screenshots", "", "write screenshots of the console's pages into this directory (make screenshots)")

// consoleJobs are the jobs the browser test runs.
var consoleJobs = map[string]string{
	// greet prints its payload, a line, waits, and another: the page shows the first line
	// while the run still runs.
	"greet": `["env", "HASHIKE_PAYLOAD", "print", "1", "before the pause", "sleep", "3s", "print", "2", "after the pause"]`,
	"slow":  `["print", "1", "working", "sleep", "120s"]`,
	"fails": `["env", "HASHIKE_PAYLOAD", "stderr", "1", "something broke", "exit", "3"]`,
	// answer writes its payload back as its result.
	"answer": `["copy", "/hashike/payload.json", "/hashike/result"]`,
	// firehose writes 10,000 lines a second for 5 seconds (in bursts of 1,000 every 100 ms).
	"firehose": firehoseCmd(),
}

func firehoseCmd() string {
	var steps []string
	for range 50 {
		steps = append(steps, `"print", "1000", "firehose line with some text to make it about eighty bytes long"`, `"sleep", "100ms"`)
	}
	return "[" + strings.Join(steps, ", ") + "]"
}

// browser is one headless Chromium tab.
type browser struct {
	t   *testing.T
	ctx context.Context
}

func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("no Chromium: install Debian's chromium (apt-get install -y chromium; .ci/run does)")
	return ""
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath(t)), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.WindowSize(1280, 900), chromedp.Flag("disable-dev-shm-usage", true))
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelC := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelC(); cancelA() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	return &browser{t: t, ctx: ctx}
}

// run runs actions with a deadline, failing the test with what the page says.
func (b *browser) run(what string, limit time.Duration, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, limit)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		url, _ := chromedp.Run(b.ctx, chromedp.Location())
		text, _ := chromedp.Run(b.ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText.slice(0, 3000) : ""`))
		b.t.Fatalf("%s: %v\nat %s:\n%s", what, err, url, text)
	}
}

// value runs one action that returns a value, with a deadline.
func value[T any](b *browser, what string, a chromedp.Action[T]) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
	return v
}

func (b *browser) eval(js string, out any) {
	b.t.Helper()
	raw := value(b, "evaluate "+js, chromedp.Evaluate[json.RawMessage](js, chromedp.EvalAwaitPromise))
	if err := json.Unmarshal(raw, out); err != nil {
		b.t.Fatalf("evaluate %s: %v (%s)", js, err, raw)
	}
}

func (b *browser) location() string {
	b.t.Helper()
	return value(b, "location", chromedp.Location())
}

// waitJS waits until the JavaScript expression is true.
func (b *browser) waitJS(what, js string, limit time.Duration) {
	b.t.Helper()
	deadline := time.Now().Add(limit)
	for {
		var ok bool
		b.eval("(() => { try { return !!("+js+") } catch (e) { return false } })()", &ok)
		if ok {
			return
		}
		if time.Now().After(deadline) {
			var text string
			b.eval(`document.body.innerText.slice(0, 3000)`, &text)
			b.t.Fatalf("%s: not after %s (%s)\n%s", what, limit, js, text)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// screenshot saves the page as NAME.png when -console-screenshots is set.
func (b *browser) screenshot(name string) {
	b.t.Helper()
	if *consoleScreenshots == "" {
		return
	}
	png := value(b, "screenshot "+name, chromedp.FullScreenshot(100))
	if err := os.WriteFile(filepath.Join(*consoleScreenshots, name+".png"), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

func (b *browser) login(base, token string) {
	b.t.Helper()
	b.run("log in", 30*time.Second,
		chromedp.Navigate(base+"/ui/runs"),
		chromedp.WaitVisible(chromedp.CSS(`#token`)),
		chromedp.SendKeys(chromedp.CSS(`#token`), token),
		chromedp.Submit(chromedp.CSS(`#token`)),
		chromedp.WaitVisible(chromedp.CSS(`#runs-body`)))
}

func (b *browser) logout() {
	b.t.Helper()
	b.run("log out", 30*time.Second, chromedp.Click(chromedp.CSS(`form.who button`)), chromedp.WaitVisible(chromedp.CSS(`#token`)))
}

// enqueue fills in the new-run form and returns the new run's ID from the page it lands on.
func (b *browser) enqueue(base, job, payload string) string {
	b.t.Helper()
	b.run("enqueue "+job, 30*time.Second,
		chromedp.Navigate(base+"/ui/enqueue?job="+job),
		chromedp.WaitVisible(chromedp.CSS(`#payload`)),
		do(`document.getElementById("payload").value = `+jsString(payload)+`, true`),
		chromedp.Click(chromedp.CSS(`#enqueue`)),
		chromedp.WaitVisible(chromedp.CSS(`#run-state`)))
	loc := b.location()
	id := loc[strings.LastIndex(loc, "/")+1:]
	if !strings.Contains(loc, "/ui/runs/") || id == "" {
		b.t.Fatalf("enqueue landed on %s", loc)
	}
	return id
}

// do is an action that runs a JavaScript expression for its effect (its value must be true).
func do(js string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		ok, err := chromedp.Evaluate[bool](js)(ctx, t)
		if err == nil && !ok {
			err = fmt.Errorf("%s: false", js)
		}
		return err
	})
}

// jsString quotes s for JavaScript.
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func TestConsoleInBrowser(t *testing.T) {
	s := newServer(t)
	c, err := httpapi.NewClient(s.url, s.token, nil)
	if err != nil {
		t.Fatal(err)
	}
	for name, cmd := range consoleJobs {
		doc := fmt.Sprintf("taskDefinition:\n  family: %s\n  memory: \"64\"\n  networkMode: none\n  containerDefinitions:\n    - name: app\n      image: %s\n      stopTimeout: 2\n      command: %s\n", name, dockertest.Image, cmd)
		if _, _, err := c.RegisterJob(t.Context(), name, []byte(doc)); err != nil {
			t.Fatalf("register %s: %v", name, err)
		}
	}
	b := newBrowser(t)
	b.login(s.direct, s.token)

	t.Run("a payload that is not JSON is refused before it is sent", func(t *testing.T) {
		b.t = t
		b.run("bad payload", 30*time.Second,
			chromedp.Navigate(s.direct+"/ui/enqueue?job=greet"),
			chromedp.WaitVisible(chromedp.CSS(`#payload`)),
			chromedp.SetValue(chromedp.CSS(`#payload`), `{"n": 1`),
			chromedp.Click(chromedp.CSS(`#enqueue`)),
			chromedp.WaitVisible(chromedp.CSS(`#payload-error`)))
		loc, msg := b.location(), value(b, "error text", chromedp.Text(chromedp.CSS(`#payload-error`)))
		if !strings.HasSuffix(loc, "/ui/enqueue?job=greet") || !strings.Contains(msg, "Not valid JSON") {
			t.Errorf("at %s, error %q", loc, msg)
		}
	})

	t.Run("enqueue from the form, watch the logs stream and the run turn green", func(t *testing.T) {
		b.t = t
		id := b.enqueue(s.direct, "greet", `{"n": 1}`)
		// The first line shows while the run still runs: the logs stream, not load at the end.
		b.waitJS("the first line while the run runs", `document.getElementById("logs").textContent.includes("before the pause 1") && !window.hashikeLogs.ended`, 60*time.Second)
		b.screenshot("run-running")
		b.waitJS("the run turns green", `document.getElementById("run-state").textContent.trim() == "succeeded" && document.querySelector("#run-state.st-ok")`, 60*time.Second)
		var logs string
		b.eval(`document.getElementById("logs").textContent`, &logs)
		for _, want := range []string{`HASHIKE_PAYLOAD={"n":1}`, "before the pause 1", "after the pause 2"} {
			if !strings.Contains(logs, want) {
				t.Errorf("logs lack %q:\n%s", want, logs)
			}
		}
		// Search within the page hides the lines that do not match.
		b.run("search", 10*time.Second, chromedp.SendKeys(chromedp.CSS(`#log-search`), "after"))
		b.waitJS("the search shows only the matching lines", `document.getElementById("logs").textContent == "after the pause 1\nafter the pause 2\n" && document.getElementById("log-count").textContent.includes("2 match")`, 10*time.Second)
		b.run("clear the search", 10*time.Second, do(`(document.getElementById("log-search").value = "", document.getElementById("log-search").dispatchEvent(new Event("input")), true)`))
		b.waitJS("every line again", `document.getElementById("logs").textContent.includes("before the pause 1")`, 10*time.Second)
		b.screenshot("run-succeeded")
		// The runs list shows it, and j/Enter opens it.
		b.run("runs list", 30*time.Second, chromedp.Navigate(s.direct+"/ui/runs"), chromedp.WaitVisible(chromedp.CSS(`#runs-body tr[data-id="`+id+`"]`)))
		b.screenshot("runs")
		b.run("keyboard", 30*time.Second, chromedp.KeyEvent("j"), chromedp.KeyEvent("\r"), chromedp.WaitVisible(chromedp.CSS(`#run-state`)))
		if loc := b.location(); !strings.HasSuffix(loc, "/ui/runs/"+id) {
			t.Errorf("j, Enter opened %s, want the newest run %s", loc, id)
		}
	})

	t.Run("cancel a running run", func(t *testing.T) {
		b.t = t
		b.enqueue(s.direct, "slow", "")
		b.waitJS("the run runs", `document.getElementById("run-state").textContent.trim() == "running"`, 60*time.Second)
		b.waitJS("its output", `document.getElementById("logs").textContent.includes("working 1")`, 30*time.Second)
		b.run("cancel", 30*time.Second, chromedp.Click(chromedp.CSS(`#cancel`)), chromedp.WaitVisible(chromedp.CSS(`#run-state`)))
		b.waitJS("the run is canceled", `document.getElementById("run-state").textContent.trim() == "canceled"`, 60*time.Second)
		var hasCancel bool
		b.eval(`!!document.getElementById("cancel")`, &hasCancel)
		if hasCancel {
			t.Errorf("a canceled run still offers Cancel")
		}
	})

	var failedID string
	t.Run("rerun a failed run with an edited payload", func(t *testing.T) {
		b.t = t
		failedID = b.enqueue(s.direct, "fails", `{"try": 1}`)
		b.waitJS("the run fails", `document.getElementById("run-state").textContent.trim() == "failed"`, 60*time.Second)
		b.waitJS("the rerun form", `document.getElementById("rerun-payload")`, 10*time.Second)
		b.screenshot("run-failed")
		b.run("rerun", 30*time.Second,
			chromedp.SetValue(chromedp.CSS(`#rerun-payload`), `{"try": 2}`),
			chromedp.Click(chromedp.CSS(`#rerun`)))
		b.waitJS("the rerun's page", `!location.pathname.endsWith("/`+failedID+`") && document.getElementById("run-state")`, 30*time.Second)
		b.waitJS("the rerun's output", `document.getElementById("logs").textContent.includes('HASHIKE_PAYLOAD={"try":2}')`, 60*time.Second)
		var payload string
		b.eval(`document.querySelector("pre.payload").textContent`, &payload)
		var v map[string]int
		if err := json.Unmarshal([]byte(payload), &v); err != nil || v["try"] != 2 {
			t.Errorf("the rerun's payload is %q", payload)
		}
	})

	t.Run("the result shows once the run ends, with its download", func(t *testing.T) {
		b.t = t
		id := b.enqueue(s.direct, "answer", `{"answer": 42}`)
		b.waitJS("the run succeeds", `document.getElementById("run-state").textContent.trim() == "succeeded"`, 60*time.Second)
		b.waitJS("the result, indented", `(document.querySelector("#run-result pre") || {}).textContent == '{\n  "answer": 42\n}'`, 30*time.Second)
		var href string
		b.eval(`document.querySelector('#run-result a[download]').getAttribute("href")`, &href)
		if href != "/ui/runs/"+id+"/result" {
			t.Errorf("the download links to %q", href)
		}
		b.screenshot("run-result")
	})

	t.Run("the run page keeps up with a job writing 10,000 lines a second", func(t *testing.T) {
		b.t = t
		b.enqueue(s.direct, "firehose", "")
		b.waitJS("the stream ends", `window.hashikeLogs && window.hashikeLogs.ended`, 120*time.Second)
		// maxBehindMs: how long entries the page had received waited to be drawn (the
		// browser falling behind); maxLagMs: from the job's writing to the drawing, through
		// the server's log pipeline (flush, store, poll) and the stream.
		var stats struct {
			Lines     int     `json:"lines"`
			BehindMs  float64 `json:"maxBehindMs"`
			LagMs     float64 `json:"maxLagMs"`
			RecvLagMs float64 `json:"maxRecvLagMs"`
		}
		b.eval(`window.hashikeLogs`, &stats)
		t.Logf("firehose: %d lines; the browser at most %.0f ms behind what it received; job to screen at most %.0f ms (%.0f ms to receipt)",
			stats.Lines, stats.BehindMs, stats.LagMs, stats.RecvLagMs)
		if stats.Lines != 50000 {
			t.Errorf("the page got %d lines, want 50000", stats.Lines)
		}
		if stats.BehindMs > 1000 {
			t.Errorf("the browser fell %.0f ms behind the stream (target: at most 1 s)", stats.BehindMs)
		}
		if stats.LagMs > 3000 {
			t.Errorf("the page showed lines %.0f ms after the job wrote them", stats.LagMs)
		}
	})

	t.Run("a read-only user sees no buttons and a forged POST is refused", func(t *testing.T) {
		b.t = t
		b.logout()
		b.login(s.direct, s.readToken)
		var newRun bool
		b.eval(`!!document.querySelector('a[href="/ui/enqueue"]')`, &newRun)
		if newRun {
			t.Errorf("a reader sees New run")
		}
		b.run("failed run", 30*time.Second, chromedp.Navigate(s.direct+"/ui/runs/"+failedID), chromedp.WaitVisible(chromedp.CSS(`#run-state`)))
		b.waitJS("the stream ends", `window.hashikeLogs && window.hashikeLogs.ended`, 30*time.Second)
		var buttons int
		b.eval(`document.querySelectorAll("#cancel, #rerun, #rerun-box").length`, &buttons)
		if buttons != 0 {
			t.Errorf("a reader sees %d action buttons", buttons)
		}
		// A POST forged with the session's own CSRF token: the scope refuses it.
		var status int
		b.eval(`(async () => {
			const csrf = document.querySelector('form.who input[name=csrf]').value;
			const r = await fetch("/ui/runs/`+failedID+`/rerun", {method: "POST", body: new URLSearchParams({csrf: csrf, payload: "{}"})});
			return r.status;
		})()`, &status)
		if status != 403 {
			t.Errorf("forged rerun by a reader: %d, want 403", status)
		}
		runs, err := c.ListRuns(t.Context(), hashike.RunFilter{Job: "fails"})
		if err != nil {
			t.Fatal(err)
		}
		if len(runs.Runs) != 2 {
			t.Errorf("the job 'fails' has %d runs after the forged rerun, want 2", len(runs.Runs))
		}
		b.screenshot("run-readonly")
	})

	t.Run("dark mode follows the OS, times show in the viewer's zone", func(t *testing.T) {
		b.t = t
		b.run("dark", 30*time.Second,
			chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
				if _, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
					Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "dark"}}}); err != nil {
					return err
				}
				_, err := chromedp.Call(ctx, emulation.SetTimezoneOverride, emulation.SetTimezoneOverrideParams{TimezoneID: "Asia/Tokyo"})
				return err
			}),
			chromedp.Navigate(s.direct+"/ui/runs"), chromedp.WaitVisible(chromedp.CSS(`#runs-body`)))
		var bg, text, title string
		b.eval(`getComputedStyle(document.documentElement).backgroundColor`, &bg)
		b.eval(`document.querySelector("#runs-body time").textContent`, &text)
		b.eval(`document.querySelector("#runs-body time").title`, &title)
		if bg != "rgb(13, 17, 23)" {
			t.Errorf("dark mode background %s", bg)
		}
		utc, err := time.Parse("2006-01-02 15:04:05 MST", title)
		if err != nil {
			t.Fatalf("title %q: %v", title, err)
		}
		if want := utc.In(time.FixedZone("JST", 9*3600)).Format("2006-01-02 15:04:05"); !strings.HasPrefix(text, want) {
			t.Errorf("a time reads %q in Tokyo (UTC %q), want %s...", text, title, want)
		}
		b.screenshot("runs-dark")
	})
}
