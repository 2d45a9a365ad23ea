package main

import (
	"strings"
	"testing"
)

// TestSimRunners: hashike sim --runners prints one row per warm-pool mode; a burst of 60
// jobs an hour with no warm pool waits for the runners' start, and the same seed prints the
// same table.
func TestSimRunners(t *testing.T) {
	trace := writeTrace(t)
	code, out, errs := simCLI(t, "--workload", trace, "--runners")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var rows []string
	for l := range strings.SplitSeq(out, "\n") {
		if strings.HasPrefix(l, "| none ") || strings.HasPrefix(l, "| schedule ") || strings.HasPrefix(l, "| slo ") {
			rows = append(rows, l)
		}
	}
	if len(rows) != 3 || !strings.Contains(out, "wait p95") || !strings.Contains(out, "idle runner-h") {
		t.Fatalf("output:\n%s", out)
	}
	if strings.HasPrefix(rows[0], "| none | 0s ") {
		t.Errorf("no warm pool yet no wait: %s", rows[0])
	}
	if _, again, _ := simCLI(t, "--workload", trace, "--runners"); again != out {
		t.Errorf("not deterministic:\n%s\n%s", out, again)
	}
}
