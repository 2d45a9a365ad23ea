package console

import (
	"bytes"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hashike/hashike"
	"github.com/hashike/hashike/api"
)

// withRun returns the fixture runs with the run of that ID changed by fn.
func withRun(id string, fn func(v *api.RunView)) []api.RunView {
	runs := fixtureRuns()
	for i := range runs {
		if runs[i].ID == id {
			fn(&runs[i])
		}
	}
	return runs
}

func resultObject(id, refused string) []hashike.RunObject {
	o := hashike.RunObject{RunID: id, Name: hashike.RunObjectResult, Key: "results/" + id, Size: 42, CreatedAt: t0}
	if refused != "" {
		o.Key, o.Size, o.Error = "", 12<<20, refused
	}
	return []hashike.RunObject{{RunID: id, Name: hashike.RunObjectPayload, Key: "payloads/" + id, Size: 20, CreatedAt: t0}, o}
}

const tooLarge = "the result of 12582912 bytes is over the limit of 10485760 bytes (maxResultBytes): not kept"

// TestRunUsageAndResultGolden: the run page's Usage and Result parts in their states (the
// run-failed and run-queued golden files show a run with neither).
func TestRunUsageAndResultGolden(t *testing.T) {
	throttled := 1.25
	for _, tt := range []struct {
		name    string
		runs    []api.RunView
		path    string
		results map[string]fakeResult
	}{
		{"run-usage-json-result", withRun("run-failed", func(v *api.RunView) {
			v.Usage = &hashike.ResourceUsage{Source: hashike.UsageSourceContainerInsights, Samples: 1,
				PeakMemoryBytes: 310 * hashike.MiB, CPUSeconds: 22, FirstSampleAt: at(3 * time.Minute), LastSampleAt: at(3 * time.Minute)}
			v.Objects = resultObject(v.ID, "")
		}), "/ui/runs/run-failed", map[string]fakeResult{"run-failed": {"application/json", []byte(`{"rows":1200,"note":"<b>&amp;</b>"}`)}}},
		{"run-usage-throttled-text-result", withRun("run-ok", func(v *api.RunView) {
			v.Resources = hashike.Resources{CPU: 2048, MemoryMiB: 512}
			v.Usage = &hashike.ResourceUsage{Source: hashike.UsageSourceDocker, Samples: 12,
				PeakMemoryBytes: 48*hashike.MiB + hashike.MiB/2, CPUSeconds: 0.4, ThrottledSeconds: &throttled}
			v.Objects = resultObject(v.ID, "")
		}), "/ui/runs/run-ok", map[string]fakeResult{"run-ok": {"text/plain", []byte("done: 3 files\n{not json")}}},
		{"run-result-too-large", withRun("run-failed", func(v *api.RunView) {
			v.Objects = resultObject(v.ID, tooLarge)
		}), "/ui/runs/run-failed", nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tc := newTestConsole(t, tt.runs, Options{})
			tc.fake.results = tt.results
			w := tc.do("GET", tt.path, nil, tc.login("read-secret"))
			if w.Code != http.StatusOK {
				t.Fatalf("GET %s: %d\n%s", tt.path, w.Code, w.Body)
			}
			if strings.Contains(w.Body.String(), "results/") {
				t.Errorf("the page shows the result's object key")
			}
			golden(t, tt.name, w.Body.Bytes())
		})
	}
}

func TestRunResultInline(t *testing.T) {
	for _, tt := range []struct {
		name       string
		body       []byte
		resultErr  error
		want, not  []string
		wantCalled bool
	}{
		{name: "over the inline limit", body: []byte(strings.Repeat("a", resultInlineLimit-1) + "é" + "TAIL"),
			want: []string{"The first 64 KiB are shown", "64.0 KiB"}, not: []string{"TAIL", "\uFFFD", "Not text"}},
		{name: "JSON over the limit is shown as text", body: []byte(`{"a":"` + strings.Repeat("x", resultInlineLimit) + `"}`),
			want: []string{`{&#34;a&#34;:&#34;xxx`, "The first 64 KiB are shown"}},
		{name: "binary", body: []byte{0x1f, 0x8b, 0, 0xff, 'x'},
			want: []string{"Not text: download it", "5 bytes"}, not: []string{"<pre class=\"payload\">\x1f"}},
		{name: "store down", resultErr: errors.New("get results/run-ok: dial tcp 10.1.2.3:9000: connection refused"),
			want: []string{"the result cannot be read now"}, not: []string{"10.1.2.3", `href="/ui/runs/run-ok/result"`}},
		{name: "gone from the store", resultErr: hashike.Errorf(hashike.ENotFound, "run run-ok: its result is no longer in the object store"),
			want: []string{"its result is no longer in the object store"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tc := newTestConsole(t, withRun("run-ok", func(v *api.RunView) { v.Objects = resultObject(v.ID, "") }), Options{})
			tc.fake.results = map[string]fakeResult{"run-ok": {"", tt.body}}
			tc.fake.resultErr = tt.resultErr
			w := tc.do("GET", "/ui/runs/run-ok", nil, tc.login("read-secret"))
			if w.Code != http.StatusOK {
				t.Fatalf("run page: %d\n%s", w.Code, w.Body)
			}
			page := w.Body.String()
			for _, s := range tt.want {
				if !strings.Contains(page, s) {
					t.Errorf("the page does not show %q", s)
				}
			}
			for _, s := range tt.not {
				if strings.Contains(page, s) {
					t.Errorf("the page shows %q", s)
				}
			}
		})
	}
}

// TestRunWithoutResultReadsNone: a run that recorded no result costs no read of one.
func TestRunWithoutResultReadsNone(t *testing.T) {
	tc := newTestConsole(t, fixtureRuns(), Options{})
	w := tc.do("GET", "/ui/runs/run-ok", nil, tc.login("read-secret"))
	if w.Code != 200 || !strings.Contains(w.Body.String(), "No result.") || !strings.Contains(w.Body.String(), "Not measured.") {
		t.Fatalf("run page: %d\n%s", w.Code, w.Body)
	}
	for _, c := range tc.fake.calls {
		if strings.HasPrefix(c, "RunResult") {
			t.Errorf("the page read a result the run does not have: %v", tc.fake.calls)
		}
	}
}

func TestResultDownload(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789abcdef"), resultInlineLimit/8) // twice the inline limit
	runs := withRun("run-ok", func(v *api.RunView) { v.Objects = resultObject(v.ID, "") })
	for _, tt := range []struct {
		name, run, ctype   string
		body               []byte
		wantType, wantFile string
		wantStatus         int
		wantBodyContains   string
		resultErr          error
	}{
		{name: "JSON", run: "run-ok", ctype: "application/json", body: []byte(`{"ok":true}`),
			wantType: "application/json", wantFile: "run-ok-result.json", wantStatus: 200},
		{name: "all of a large text", run: "run-ok", ctype: "text/plain; charset=utf-8", body: big,
			wantType: "text/plain; charset=utf-8", wantFile: "run-ok-result.txt", wantStatus: 200},
		{name: "HTML is served as bytes", run: "run-ok", ctype: "text/html", body: []byte(`<script>alert(1)</script>`),
			wantType: "application/octet-stream", wantFile: "run-ok-result.bin", wantStatus: 200},
		{name: "refused for size", run: "run-ok", resultErr: hashike.Errorf(hashike.ETooLarge, "run run-ok: %s", tooLarge),
			wantStatus: http.StatusRequestEntityTooLarge, wantBodyContains: "over the limit of 10485760 bytes"},
		{name: "none", run: "run-failed", wantStatus: http.StatusNotFound, wantBodyContains: "run run-failed has no result"},
		{name: "no such run", run: "nope", wantStatus: http.StatusNotFound},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tc := newTestConsole(t, runs, Options{})
			tc.fake.results = map[string]fakeResult{"run-ok": {tt.ctype, tt.body}}
			tc.fake.resultErr = tt.resultErr
			w := tc.do("GET", "/ui/runs/"+tt.run+"/result", nil, tc.login("read-secret"))
			if w.Code != tt.wantStatus {
				t.Fatalf("download: %d, want %d\n%s", w.Code, tt.wantStatus, w.Body)
			}
			if !strings.Contains(w.Body.String(), tt.wantBodyContains) {
				t.Errorf("download body does not say %q:\n%s", tt.wantBodyContains, w.Body)
			}
			if tt.wantStatus != 200 {
				return
			}
			h := w.Header()
			if !bytes.Equal(w.Body.Bytes(), tt.body) {
				t.Errorf("download: %d bytes, want the result's %d", w.Body.Len(), len(tt.body))
			}
			if h.Get("Content-Type") != tt.wantType || h.Get("X-Content-Type-Options") != "nosniff" ||
				h.Get("Content-Disposition") != `attachment; filename=`+tt.wantFile {
				t.Errorf("download headers: %v", h)
			}
		})
	}
	tc := newTestConsole(t, runs, Options{})
	if w := tc.do("GET", "/ui/runs/run-ok/result", nil, nil); w.Code != http.StatusSeeOther {
		t.Errorf("download without a session: %d, want a redirect to the login page", w.Code)
	}
}
