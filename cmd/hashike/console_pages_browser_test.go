package main_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/hashike/hashike/docker/dockertest"
	"github.com/hashike/hashike/httpapi"
)

// TestConsolePagesInBrowser: in a real headless Chromium against a real server, an operator
// pauses a queue and suspends a schedule from the console's pages, and the API sees both;
// a schedule's fire times stay in its own zone whatever the viewer's; a read-only person
// sees no buttons on those pages and their forged POSTs are refused. No run starts.
func TestConsolePagesInBrowser(t *testing.T) {
	s := newServer(t)
	c, err := httpapi.NewClient(s.url, s.token, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Two versions of a job scheduled at 02:30 in Tokyo, in a queue of its own (paused:
	// the run enqueued there waits, so that the pages show a backlog).
	for _, image := range []string{dockertest.Image, dockertest.Image + "-v2"} {
		doc := fmt.Sprintf("queue: nightly\nschedule:\n  expressions: [{cron: '30 2 * * *', timeZone: Asia/Tokyo}]\n"+
			"  suspendWindows: [{cron: '0 0 1 1 *', duration: 24h, timeZone: Asia/Tokyo}]\n"+
			"taskDefinition:\n  family: etl\n  memory: \"64\"\n  networkMode: none\n  containerDefinitions:\n    - name: app\n      image: %s\n      command: [\"print\", \"1\", \"etl\"]\n", image)
		if _, _, err := c.RegisterJob(t.Context(), "etl", []byte(doc)); err != nil {
			t.Fatalf("register: %v", err)
		}
	}
	if _, err := c.PauseQueue(t.Context(), "nightly"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Trigger(t.Context(), "etl"); err != nil {
		t.Fatal(err)
	}

	b := newBrowser(t)
	// The viewer is in New York: local times follow the viewer, fire times the schedule.
	b.run("viewer's zone", 30*time.Second, chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, emulation.SetTimezoneOverride, emulation.SetTimezoneOverrideParams{TimezoneID: "America/New_York"})
		return err
	}))
	b.login(s.direct, s.token)

	t.Run("pause a queue", func(t *testing.T) {
		b.t = t
		b.run("queues", 30*time.Second, chromedp.Navigate(s.direct+"/ui/queues"), chromedp.WaitVisible(chromedp.CSS(`#pause-default`)))
		b.waitJS("the waiting run", `document.querySelector("#queue-nightly").textContent.includes("ago")`, 10*time.Second)
		b.screenshot("queues")
		b.run("pause", 30*time.Second, chromedp.Click(chromedp.CSS(`#pause-default`)), chromedp.WaitVisible(chromedp.CSS(`#resume-default`)))
		b.waitJS("the queue reads paused", `document.querySelector("#queue-default .state").textContent == "paused"`, 10*time.Second)
		qs, err := c.ListQueues(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		for _, q := range qs {
			if q.Name == "default" && !q.Paused {
				t.Errorf("the API says queue default is not paused: %+v", q)
			}
		}
		// The dashboard shows the backlog.
		b.run("dashboard", 30*time.Second, chromedp.Navigate(s.direct+"/ui/"), chromedp.WaitVisible(chromedp.CSS(`#dash`)))
		b.waitJS("the backlog", `document.querySelector('#dash a[href="/ui/queues#queue-nightly"]')`, 10*time.Second)
		b.screenshot("dashboard")
	})

	t.Run("suspend a schedule", func(t *testing.T) {
		b.t = t
		b.run("schedules", 30*time.Second, chromedp.Navigate(s.direct+"/ui/schedules"), chromedp.WaitVisible(chromedp.CSS(`#suspend-etl`)))
		var fires []string
		b.eval(`[...document.querySelectorAll("#schedule-etl ol.fires time")].map(e => e.textContent)`, &fires)
		if len(fires) != 5 || !strings.HasSuffix(fires[0], "02:30 JST") {
			t.Errorf("fire times, for a viewer in New York: %q (want five, at 02:30 JST)", fires)
		}
		b.screenshot("schedules")
		b.run("suspend", 30*time.Second, chromedp.Click(chromedp.CSS(`#suspend-etl`)), chromedp.WaitVisible(chromedp.CSS(`#resume-etl`)))
		b.waitJS("the schedule reads suspended", `document.querySelector("#schedule-etl .state").textContent == "suspended"`, 10*time.Second)
		sv, err := c.GetSchedule(t.Context(), "etl")
		if err != nil {
			t.Fatal(err)
		}
		if !sv.Schedule.Suspended || len(sv.Next) != 0 {
			t.Errorf("the API's schedule after Suspend: %+v", sv)
		}
		// Suspending records a version: the job page's diff shows it.
		b.run("diff", 30*time.Second, chromedp.Navigate(s.direct+"/ui/jobs/etl/diff?from=2&to=3"), chromedp.WaitVisible(chromedp.CSS(`table.diff`)))
		var added string
		b.eval(`[...document.querySelectorAll("table.diff tr.add code")].map(e => e.textContent).join("\n")`, &added)
		if !strings.Contains(added, `"suspended": true`) {
			t.Errorf("the diff of the suspension adds:\n%s", added)
		}
		b.screenshot("job-diff")
		b.run("job", 30*time.Second, chromedp.Navigate(s.direct+"/ui/jobs/etl"), chromedp.WaitVisible(chromedp.CSS(`#definition`)))
		b.screenshot("job")
	})

	t.Run("a read-only user sees no buttons on these pages and a forged POST is refused", func(t *testing.T) {
		b.t = t
		b.logout()
		b.login(s.direct, s.readToken)
		for _, page := range []string{"/ui/queues", "/ui/schedules", "/ui/jobs/etl"} {
			b.run(page, 30*time.Second, chromedp.Navigate(s.direct+page), chromedp.WaitVisible(chromedp.CSS(`main`)))
			var buttons int
			b.eval(`document.querySelectorAll("main form[method=post], #enqueue").length`, &buttons)
			if buttons != 0 {
				t.Errorf("a reader sees %d action forms on %s", buttons, page)
			}
		}
		var statuses []int
		b.eval(`(async () => {
			const csrf = document.querySelector('form.who input[name=csrf]').value;
			const post = (path, form) => fetch(path, {method: "POST", body: new URLSearchParams({csrf: csrf, ...form})}).then(r => r.status);
			return [await post("/ui/queues/default", {action: "resume"}), await post("/ui/schedules/etl/resume", {}), await post("/ui/schedules/etl/trigger", {})];
		})()`, &statuses)
		if fmt.Sprint(statuses) != "[403 403 403]" {
			t.Errorf("forged POSTs by a reader: %v, want 403 each", statuses)
		}
		qs, _ := c.ListQueues(t.Context())
		sv, _ := c.GetSchedule(t.Context(), "etl")
		for _, q := range qs {
			if q.Name == "default" && !q.Paused || !sv.Schedule.Suspended {
				t.Errorf("a forged POST changed something: queue %+v, schedule suspended %v", q, sv.Schedule.Suspended)
			}
		}
	})
}
