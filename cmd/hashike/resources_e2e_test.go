package main_test

import (
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/hashike/hashike"
)

// TestResourceUsageInDescribe: a local run of a container that holds 64 MiB and uses a second
// of CPU records what it used, and describe prints it against what the run reserved.
func TestResourceUsageInDescribe(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.extra = append(e.extra, "HASHIKE_USAGE_INTERVAL=200ms")
	_, errs, code := e.run("run", e.job("usage.yaml", `taskDefinition:
  family: usage
  cpu: "1024"
  memory: "256"
  containerDefinitions:
    - name: app
      image: IMAGE
      stopTimeout: 2
      command: [alloc, "64", burn, 1s, sleep, 1s]
`))
	if code != 0 {
		t.Fatalf("run: exit %d: %s", code, errs)
	}
	run := e.onlyRun()
	u := run.Usage
	if u == nil || u.Source != hashike.UsageSourceDocker || u.Samples < 2 || u.PeakMemoryBytes < 64*hashike.MiB ||
		u.PeakMemoryBytes > 200*hashike.MiB || u.CPUSeconds < 1 || u.ThrottledSeconds == nil {
		t.Fatalf("recorded usage %+v; want docker samples, a peak of 64 MiB or more and a CPU second or more", u)
	}
	text, _, _ := e.run("describe", run.ID)
	m := regexp.MustCompile(`Memory:\s+peak ([0-9.]+) MiB of 256 MiB reserved \(\d+%\)`).FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("describe lacks the memory hint:\n%s", text)
	}
	if peak, _ := strconv.ParseFloat(m[1], 64); peak < 64 {
		t.Errorf("describe shows a peak of %s MiB, want >= 64:\n%s", m[1], text)
	}
	c := regexp.MustCompile(`CPU:\s+used ([0-9.]+) vCPU of 1 on average \(([0-9.]+) CPU seconds in `).FindStringSubmatch(text)
	if c == nil {
		t.Fatalf("describe lacks the CPU hint:\n%s", text)
	}
	if secs, _ := strconv.ParseFloat(c[2], 64); secs <= 0 {
		t.Errorf("describe shows %s CPU seconds, want > 0:\n%s", c[2], text)
	}
	if !strings.Contains(text, " from docker; CPU throttled") {
		t.Errorf("describe lacks how it was measured:\n%s", text)
	}
}

// TestServerTaskGaugesAndUsage: while a run of the server runs, /metrics shows its container's
// memory and CPU labelled by run and job; once it ended the series are gone, and the run's
// summary is in the API's run view and in describe through the server.
func TestServerTaskGaugesAndUsage(t *testing.T) {
	t.Parallel()
	s := newServerWith(t, []string{"HASHIKE_USAGE_INTERVAL=200ms"})
	file := s.job("hog.yaml", `taskDefinition:
  family: hog
  memory: "256"
  containerDefinitions:
    - name: app
      image: IMAGE
      stopTimeout: 1
      command: [alloc, "64", burn, 500ms, print, "1", ready, sleep, 60s]
`)
	s.ok("jobs", "register", "hog", file)
	id := strings.TrimSpace(s.ok("enqueue", "hog"))

	metrics := func() string {
		resp, err := http.Get(s.direct + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	memory := regexp.MustCompile(`(?m)^hashike_task_memory_bytes\{container="app",job="hog",run="` + id + `"\} (\S+)$`)
	cpu := regexp.MustCompile(`(?m)^hashike_task_cpu_seconds_total\{container="app",job="hog",run="` + id + `"\} (\S+)$`)
	var last strings.Builder // the last /metrics read, for the failure message
	s.waitFor(func() bool {
		text := metrics()
		last.Reset()
		last.WriteString(text)
		m, c := memory.FindStringSubmatch(text), cpu.FindStringSubmatch(text)
		if m == nil || c == nil {
			return false
		}
		mem, _ := strconv.ParseFloat(m[1], 64)
		secs, _ := strconv.ParseFloat(c[1], 64)
		return mem >= 64*hashike.MiB && secs >= 0.5
	}, "the run's gauges to show 64 MiB and half a CPU second (last /metrics:\n%s)", &last)

	s.ok("cancel", id)
	v := s.settled(id)
	if u := v.Usage; u == nil || u.PeakMemoryBytes < 64*hashike.MiB || u.CPUSeconds < 0.5 || u.Source != hashike.UsageSourceDocker {
		t.Fatalf("the run view's usage is %+v; want a peak of 64 MiB or more and half a CPU second or more", v.Usage)
	}
	if text := metrics(); strings.Contains(text, `run="`+id+`"`) {
		t.Errorf("/metrics still shows the ended run:\n%s", text)
	}
	out := s.ok("describe", id)
	if !regexp.MustCompile(`Memory:\s+peak [0-9.]+ MiB of 256 MiB reserved`).MatchString(out) || !strings.Contains(out, "CPU:") {
		t.Errorf("describe through the server lacks the usage:\n%s", out)
	}
}
